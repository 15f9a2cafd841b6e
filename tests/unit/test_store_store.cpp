// lib/store/store: the store folder, its manifest, commits, compaction, and finding a store.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "store/catalog.hpp"
#include "store/store.hpp"
#include "support.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"

using audiosim::CatalogDelta;
using audiosim::ErrorKind;
using audiosim::FileRecord;
using audiosim::FileStatus;
using audiosim::StoreReader;
using audiosim::StoreWriter;
using audiosim::WriterOptions;
using audiosim::test::TempFolder;
using audiosim::test::write_bytes;

using audiosim::test::error_of;
using audiosim::test::contains;
using audiosim::test::CurrentFolder;
using audiosim::test::sorted_entries;

namespace {

FileRecord make_record(const std::string& path, uint64_t hash) {
    FileRecord record;
    record.file_id = hash + 100;
    record.path = path;
    record.size = hash * 3;
    record.mtime_ns = static_cast<int64_t>(hash) * 1000;
    record.hash = hash;
    record.audio.container = "WAV";
    record.audio.codec = "PCM_16";
    record.audio.sample_rate = 8000;
    record.audio.channels = 1;
    record.audio.frames = 8000;
    record.audio.duration = 1.0;
    return record;
}

WriterOptions options_for(const TempFolder& folder) {
    WriterOptions options;
    options.command_line = "audiosim test";
    options.library_root = folder.path();
    options.open = audiosim::StoreOpen::create;  // the tests make their stores
    return options;
}

// path -> hash of every record, for comparing catalogs.
std::vector<std::pair<std::string, uint64_t>> contents(const audiosim::Catalog& catalog) {
    std::vector<std::pair<std::string, uint64_t>> result;
    for (const FileRecord* record : catalog.records_sorted_by_path()) result.emplace_back(record->path, record->hash);
    return result;
}

nlohmann::json read_manifest_json(const std::string& store) {
    return nlohmann::json::parse(audiosim::read_text_file(store + "/manifest.json"));
}

void write_manifest_json(const std::string& store, const nlohmann::json& json) {
    write_bytes(store + "/manifest.json", json.dump(2));
}

// Sets or unsets an environment variable for one test and restores it afterwards.
class EnvironmentVariable {
public:
    EnvironmentVariable(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) saved_ = old;
        if (value) ::setenv(name, value, 1);
        else ::unsetenv(name);
    }
    ~EnvironmentVariable() {
        if (saved_) ::setenv(name_, saved_->c_str(), 1);
        else ::unsetenv(name_);
    }
    EnvironmentVariable(const EnvironmentVariable&) = delete;
    EnvironmentVariable& operator=(const EnvironmentVariable&) = delete;

private:
    const char* name_;
    std::optional<std::string> saved_;
};

}  // namespace

TEST_SUITE_BEGIN("store/store");

TEST_CASE("a writer creates a store that a reader opens after the first commit") {
    TempFolder folder;
    std::string store = folder.file("store");
    {
        StoreWriter writer(store, options_for(folder));
        CHECK(writer.manifest().generation == 0);
        CHECK(writer.manifest().library_root == folder.path());
        CHECK(writer.catalog().size() == 0);
        writer.commit({{make_record("a.wav", 1)}, {}});
        CHECK(writer.manifest().generation == 1);
    }
    CHECK(audiosim::path_exists(store + "/manifest.json"));
    CHECK(std::filesystem::is_directory(store + "/catalog"));
    StoreReader reader(store);
    CHECK(reader.path() == store);
    CHECK(reader.manifest().generation == 1);
    CHECK(reader.manifest().library_root == folder.path());
    CHECK(reader.manifest().command_line == "audiosim test");
    REQUIRE(reader.manifest().catalog.size() == 1);
    CHECK(reader.manifest().catalog[0].kind == "delta");
    CHECK(reader.manifest().catalog[0].rows == 1);
    CHECK(audiosim::path_exists(store + "/" + reader.manifest().catalog[0].file));
    auto catalog = reader.load_catalog();
    REQUIRE(catalog.find("a.wav") != nullptr);
    CHECK(catalog.find("a.wav")->hash == 1);
}

TEST_CASE("the manifest names its format and version") {
    TempFolder folder;
    std::string store = folder.file("store");
    StoreWriter writer(store, options_for(folder));
    writer.commit({{make_record("a.wav", 1)}, {}});
    nlohmann::json json = read_manifest_json(store);
    CHECK(json.at("format") == audiosim::store_format_name);
    CHECK(json.at("format_version") == audiosim::store_format_version);
    CHECK(json.at("generation") == 1);
}

TEST_CASE("N commits: the reader and a new writer see the same records as the writer") {
    TempFolder folder;
    std::string store = folder.file("store");
    std::vector<std::pair<std::string, uint64_t>> expected;
    {
        StoreWriter writer(store, options_for(folder));
        writer.commit({{make_record("a.wav", 1), make_record("b.wav", 2), make_record("c.wav", 3)}, {}});
        writer.commit({{make_record("b.wav", 20)}, {}});       // replaced
        writer.commit({{}, {"c.wav"}});                         // removed
        writer.commit({{make_record("d/e.wav", 4)}, {}});
        writer.commit({});                                      // nothing: no segment, still a generation
        CHECK(writer.manifest().generation == 5);
        CHECK(writer.manifest().catalog.size() == 4);
        expected = contents(writer.catalog());
    }
    CHECK(expected == std::vector<std::pair<std::string, uint64_t>>{{"a.wav", 1}, {"b.wav", 20}, {"d/e.wav", 4}});
    StoreReader reader(store);
    CHECK(reader.manifest().generation == 5);
    CHECK(contents(reader.load_catalog()) == expected);
    StoreWriter again(store, options_for(folder));
    CHECK(contents(again.catalog()) == expected);
}

TEST_CASE("file ids keep counting across writers") {
    TempFolder folder;
    std::string store = folder.file("store");
    uint64_t last = 0;
    {
        StoreWriter writer(store, options_for(folder));
        uint64_t first = writer.allocate_file_id();
        last = writer.allocate_file_id();
        CHECK(last > first);
        writer.commit({{make_record("a.wav", 1)}, {}});
    }
    StoreWriter writer(store, options_for(folder));
    CHECK(writer.allocate_file_id() > last);
}

TEST_CASE("finish_run records runs, the most recent first, at most max_runs_kept") {
    TempFolder folder;
    std::string store = folder.file("store");
    {
        StoreWriter writer(store, options_for(folder));
        writer.commit({{make_record("a.wav", 1)}, {}});
        writer.finish_run("ingest", {{"added", 1}});
        CHECK(writer.manifest().generation == 2);
    }
    StoreReader reader(store);
    REQUIRE(reader.manifest().runs.size() == 1);
    const auto& run = reader.manifest().runs[0];
    CHECK(run.command == "ingest");
    CHECK(run.command_line == "audiosim test");
    CHECK(run.generation == reader.manifest().generation);
    CHECK(run.summary.at("added") == 1);
    CHECK(run.finished.size() == 20);
    CHECK(reader.load_catalog().size() == 1);

    StoreWriter writer(store, options_for(folder));
    for (size_t i = 0; i < audiosim::max_runs_kept + 2; ++i) writer.finish_run("run" + std::to_string(i), {});
    CHECK(writer.manifest().runs.size() == audiosim::max_runs_kept);
    CHECK(writer.manifest().runs.front().command == "run" + std::to_string(audiosim::max_runs_kept + 1));
    CHECK(StoreReader(store).manifest().runs.size() == audiosim::max_runs_kept);
}

TEST_CASE("compaction after 8 deltas leaves one base segment and removes the old files") {
    TempFolder folder;
    std::string store = folder.file("store");
    StoreWriter writer(store, options_for(folder));
    for (uint64_t i = 0; i < 9; ++i) writer.commit({{make_record("f" + std::to_string(i) + ".wav", i + 1)}, {}});
    writer.commit({{}, {"f3.wav"}});
    auto before = contents(writer.catalog());
    REQUIRE(before.size() == 8);
    std::vector<std::string> old_files;
    for (const auto& segment : writer.manifest().catalog) old_files.push_back(segment.file);
    REQUIRE(old_files.size() == 10);

    writer.compact_if_needed();
    REQUIRE(writer.manifest().catalog.size() == 1);
    const auto& base = writer.manifest().catalog[0];
    CHECK(base.kind == "base");
    CHECK(base.rows == 8);
    CHECK(base.removed == 0);
    for (const auto& file : old_files) CHECK_FALSE(audiosim::path_exists(store + "/" + file));
    CHECK(sorted_entries(store + "/catalog") == std::vector<std::string>{audiosim::file_name(base.file)});
    CHECK(contents(writer.catalog()) == before);

    StoreReader reader(store);
    CHECK(reader.manifest().catalog.size() == 1);
    CHECK(contents(reader.load_catalog()) == before);
}

TEST_CASE("compaction waits while the deltas are few and small next to the base") {
    TempFolder folder;
    std::string store = folder.file("store");
    StoreWriter writer(store, options_for(folder));
    CatalogDelta big;
    for (uint64_t i = 0; i < 100; ++i) big.records.push_back(make_record("base/" + std::to_string(i) + ".wav", i + 1));
    writer.commit(std::move(big));
    writer.compact_if_needed();
    REQUIRE(writer.manifest().catalog.size() == 1);
    REQUIRE(writer.manifest().catalog[0].kind == "base");
    for (uint64_t i = 0; i < 7; ++i) {
        writer.commit({{make_record("new" + std::to_string(i) + ".wav", 1000 + i)}, {}});
        writer.compact_if_needed();
        CHECK(writer.manifest().catalog.size() == i + 2);  // 7 rows * 4 < 100: not yet
    }
    writer.commit({{make_record("new7.wav", 2000)}, {}});
    writer.compact_if_needed();  // the 8th delta
    REQUIRE(writer.manifest().catalog.size() == 1);
    CHECK(writer.manifest().catalog[0].rows == 108);
    CHECK(StoreReader(store).load_catalog().size() == 108);
}

TEST_CASE("compaction when the deltas outgrow a quarter of the base") {
    TempFolder folder;
    std::string store = folder.file("store");
    StoreWriter writer(store, options_for(folder));
    CatalogDelta base;
    for (uint64_t i = 0; i < 8; ++i) base.records.push_back(make_record(std::to_string(i) + ".wav", i + 1));
    writer.commit(std::move(base));
    writer.compact_if_needed();
    REQUIRE(writer.manifest().catalog.size() == 1);
    writer.commit({{make_record("x.wav", 100)}, {}});
    writer.compact_if_needed();  // 1 row * 4 < 8: not yet
    CHECK(writer.manifest().catalog.size() == 2);
    writer.commit({{make_record("y.wav", 101)}, {}});
    writer.compact_if_needed();  // 2 rows * 4 >= 8
    CHECK(writer.manifest().catalog.size() == 1);
}

TEST_CASE("a reader that read the manifest before a compaction still loads the catalog") {
    TempFolder folder;
    std::string store = folder.file("store");
    StoreWriter writer(store, options_for(folder));
    for (uint64_t i = 0; i < 3; ++i) writer.commit({{make_record("f" + std::to_string(i) + ".wav", i + 1)}, {}});
    StoreReader reader(store);
    REQUIRE(reader.manifest().catalog.size() == 3);
    writer.compact_if_needed();
    REQUIRE_FALSE(audiosim::path_exists(store + "/" + reader.manifest().catalog[0].file));
    auto catalog = reader.load_catalog();
    CHECK(contents(catalog) == contents(writer.catalog()));
    CHECK(reader.manifest().catalog.size() == 1);  // it read the new manifest
}

TEST_CASE("a writer opening a store removes temporaries and unreferenced segments") {
    TempFolder folder;
    std::string store = folder.file("store");
    {
        StoreWriter writer(store, options_for(folder));
        writer.commit({{make_record("a.wav", 1)}, {}});
    }
    auto before = sorted_entries(store + "/catalog");
    REQUIRE(before.size() == 1);
    write_bytes(store + "/catalog/xyz.h5.tmp.1.abc", "half a segment");
    write_bytes(store + "/catalog/00000099-delta.h5", "a segment never committed");
    write_bytes(store + "/manifest.json.tmp.1.abc", "{");
    write_bytes(store + "/notes.txt", "not ours to remove");
    {
        StoreWriter writer(store, options_for(folder));
        CHECK(sorted_entries(store + "/catalog") == before);
        CHECK_FALSE(audiosim::path_exists(store + "/manifest.json.tmp.1.abc"));
        CHECK(audiosim::path_exists(store + "/notes.txt"));
        CHECK(writer.catalog().size() == 1);
    }
    CHECK(StoreReader(store).load_catalog().size() == 1);
}

TEST_CASE("a second writer on the same store is Error(busy), also in the same process") {
    TempFolder folder;
    std::string store = folder.file("store");
    auto first = std::make_unique<StoreWriter>(store, options_for(folder));
    auto [kind, message] = error_of([&] { StoreWriter second(store, options_for(folder)); });
    CHECK(kind == ErrorKind::busy);
    CHECK(contains(message, "audiosim test"));  // the holder's command line
    first.reset();
    StoreWriter second(store, options_for(folder));
    CHECK(second.manifest().generation == 0);
}

TEST_CASE("a writer given another library root is Error(usage); the same root in another spelling is fine") {
    TempFolder folder;
    std::string store = folder.file("store");
    audiosim::make_directories(folder.file("lib"));
    WriterOptions options = options_for(folder);
    options.library_root = folder.file("lib");
    { StoreWriter(store, options).commit({}); }

    WriterOptions other = options;
    other.library_root = folder.file("elsewhere");
    auto [kind, message] = error_of([&] { StoreWriter writer(store, other); });
    CHECK(kind == ErrorKind::usage);
    CHECK(contains(message, folder.file("lib")));
    CHECK(contains(message, folder.file("elsewhere")));

    WriterOptions same = options;
    same.library_root = folder.file("lib/../lib/");
    CHECK(StoreWriter(store, same).manifest().library_root == folder.file("lib"));
    WriterOptions unspecified = options;
    unspecified.library_root = "";
    CHECK(StoreWriter(store, unspecified).manifest().library_root == folder.file("lib"));
}

TEST_CASE("a new store without a library root takes the current folder") {
    TempFolder folder;
    std::string cwd = std::filesystem::canonical(folder.path()).string();
    CurrentFolder here(cwd);
    WriterOptions options;
    options.open = audiosim::StoreOpen::create;
    StoreWriter writer("store", options);
    CHECK(writer.manifest().library_root == cwd);
}

TEST_CASE("a manifest of format version 2 is Error(format) naming the version") {
    TempFolder folder;
    std::string store = folder.file("store");
    { StoreWriter(store, options_for(folder)).commit({{make_record("a.wav", 1)}, {}}); }
    nlohmann::json json = read_manifest_json(store);
    json["format_version"] = 2;
    json["writer"] = "audiosim 9.9.9 (future)";
    write_manifest_json(store, json);
    auto [kind, message] = error_of([&] { StoreReader reader(store); });
    CHECK(kind == ErrorKind::format);
    CHECK(contains(message, "version 2"));
    CHECK(contains(message, "audiosim 9.9.9 (future)"));
    CHECK(contains(message, std::to_string(audiosim::store_format_version)));
    CHECK(error_of([&] { StoreWriter writer(store, options_for(folder)); }).first == ErrorKind::format);
}

TEST_CASE("malformed manifests are Error(format)") {
    TempFolder folder;
    std::string store = folder.file("store");
    { StoreWriter(store, options_for(folder)).commit({{make_record("a.wav", 1)}, {}}); }
    nlohmann::json good = read_manifest_json(store);
    SUBCASE("not JSON") { write_bytes(store + "/manifest.json", "{\"format\": "); }
    SUBCASE("another format") {
        nlohmann::json json = good;
        json["format"] = "something-else";
        write_manifest_json(store, json);
    }
    SUBCASE("a missing field") {
        nlohmann::json json = good;
        json.erase("next_file_id");
        write_manifest_json(store, json);
    }
    SUBCASE("a field of the wrong type") {
        nlohmann::json json = good;
        json["generation"] = "seven";
        write_manifest_json(store, json);
    }
    SUBCASE("a float far beyond an integer field's range (found by fuzzing: undefined behaviour before)") {
        nlohmann::json json = good;
        json["catalog"][0]["bytes"] = 1e300;
        write_manifest_json(store, json);
    }
    SUBCASE("a fractional integer field") {
        nlohmann::json json = good;
        json["generation"] = 1.5;
        write_manifest_json(store, json);
    }
    SUBCASE("a segment path leaving the store") {
        nlohmann::json json = good;
        json["catalog"][0]["file"] = "../../etc/passwd";
        write_manifest_json(store, json);
    }
    SUBCASE("an absolute segment path") {
        nlohmann::json json = good;
        json["catalog"][0]["file"] = "/etc/passwd";
        write_manifest_json(store, json);
    }
    auto [kind, message] = error_of([&] { StoreReader reader(store); });
    CHECK(kind == ErrorKind::format);
    CHECK(contains(message, "manifest.json"));
}

TEST_CASE("manifest_to_json and manifest_from_json round trip") {
    audiosim::Manifest manifest;
    manifest.generation = 12;
    manifest.writer = "w";
    manifest.command_line = "audiosim ingest 'a b'";
    manifest.created = "2026-01-01T00:00:00Z";
    manifest.updated = "2026-01-02T00:00:00Z";
    manifest.library_root = "/music";
    manifest.next_file_id = 99;
    manifest.catalog = {{"catalog/00000010-base.h5", "base", 5, 0, {0x0123456789abcdef, 77, true}},
                        {"catalog/00000012-delta.h5", "delta", 1, 2, {}}};
    manifest.runs = {{12, "ingest", "audiosim ingest", "2026-01-02T00:00:00Z", {{"added", 3}}}};
    audiosim::Manifest back = audiosim::manifest_from_json(audiosim::manifest_to_json(manifest), "test");
    CHECK(back.generation == 12);
    CHECK(back.writer == "w");
    CHECK(back.command_line == manifest.command_line);
    CHECK(back.created == manifest.created);
    CHECK(back.updated == manifest.updated);
    CHECK(back.library_root == "/music");
    CHECK(back.next_file_id == 99);
    REQUIRE(back.catalog.size() == 2);
    CHECK(back.catalog[1].file == "catalog/00000012-delta.h5");
    CHECK(back.catalog[1].kind == "delta");
    CHECK(back.catalog[1].rows == 1);
    CHECK(back.catalog[1].removed == 2);
    CHECK(back.catalog[0].checksum.recorded);
    CHECK(back.catalog[0].checksum.xxh3 == 0x0123456789abcdef);
    CHECK(back.catalog[0].checksum.bytes == 77);
    CHECK(!back.catalog[1].checksum.recorded);  // a store from before checksums
    REQUIRE(back.runs.size() == 1);
    CHECK(back.runs[0].summary.at("added") == 3);
}

TEST_CASE("a folder without a store is Error(input) for a reader") {
    TempFolder folder;
    auto [kind, message] = error_of([&] { StoreReader reader(folder.path()); });
    CHECK(kind == ErrorKind::input);
    CHECK(contains(message, folder.path()));
}

TEST_CASE("only a writer opened to create makes a store; others are Error(input) and leave no folder") {
    TempFolder folder;
    std::string store = folder.file("typo");
    WriterOptions options = options_for(folder);
    options.open = audiosim::StoreOpen::existing;
    auto [kind, message] = error_of([&] { StoreWriter writer(store, options); });
    CHECK(kind == ErrorKind::input);
    CHECK(contains(message, "no audiosim store"));
    CHECK(!audiosim::path_exists(store));
}

TEST_CASE("a store that lost its manifest is Error(format) for readers and writers, and keeps its files") {
    TempFolder folder;
    std::string store = folder.file("store");
    {
        StoreWriter writer(store, options_for(folder));
        writer.commit({{make_record("a.wav", 1)}, {}});
        writer.commit({{make_record("b.wav", 2)}, {}});
    }
    std::vector<std::string> files = sorted_entries(store + "/catalog");
    REQUIRE(files.size() == 2);
    std::filesystem::remove(store + "/manifest.json");
    for (auto open : {audiosim::StoreOpen::existing, audiosim::StoreOpen::create}) {
        WriterOptions options = options_for(folder);
        options.open = open;
        auto [kind, message] = error_of([&] { StoreWriter writer(store, options); });
        CHECK(kind == ErrorKind::format);
        CHECK(contains(message, "check --repair"));
    }
    auto [kind, message] = error_of([&] { StoreReader reader(store); });
    CHECK(kind == ErrorKind::format);
    CHECK(contains(message, "2 data files remain"));
    CHECK(sorted_entries(store + "/catalog") == files);
    CHECK(!audiosim::path_exists(store + "/manifest.json"));
}

TEST_CASE("segments carry checksums; a damaged or missing one is Error(format) naming it") {
    TempFolder folder;
    std::string store = folder.file("store");
    {
        StoreWriter writer(store, options_for(folder));
        writer.commit({{make_record("a.wav", 1)}, {}});
    }
    StoreReader reader(store);
    const audiosim::SegmentEntry& segment = reader.manifest().catalog.at(0);
    CHECK(segment.checksum.recorded);
    CHECK(segment.checksum.bytes == std::filesystem::file_size(store + "/" + segment.file));
    CHECK(segment.checksum.xxh3 == audiosim::checksum_of(store + "/" + segment.file).xxh3);
    std::string bytes = audiosim::read_text_file(store + "/" + segment.file);
    bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x01);
    write_bytes(store + "/" + segment.file, bytes);
    auto [kind, message] = error_of([&] { StoreReader(store).load_catalog(); });
    CHECK(kind == ErrorKind::format);
    CHECK(contains(message, segment.file));
    CHECK(contains(message, "damaged"));
    std::filesystem::remove(store + "/" + segment.file);
    auto [missing_kind, missing] = error_of([&] { StoreReader(store).load_catalog(); });
    CHECK(missing_kind == ErrorKind::format);
    CHECK(contains(missing, "missing"));
}

TEST_CASE("the verification cache keeps settled files only, and a changed file is hashed again and caught") {
    TempFolder folder;
    std::string store = folder.file("store");
    const std::string cache = store + "/" + audiosim::store_verified_name;
    StoreWriter writer(store, options_for(folder));
    writer.commit({{make_record("a.wav", 1)}, {}});
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));  // older than the ctime clock's coarsest tick
    writer.commit({{make_record("b.wav", 2)}, {}});
    StoreReader reader(store);
    const std::string settled = reader.manifest().catalog.at(0).file, fresh = reader.manifest().catalog.at(1).file;
    CHECK(reader.load_catalog().size() == 2);

    // Only the settled segment is written down: a write to the fresh one could still keep its ctime.
    REQUIRE(audiosim::path_exists(cache));
    auto json = nlohmann::json::parse(audiosim::read_text_file(cache));
    CHECK(json["format"] == "audiosim-verified");
    CHECK(json["format_version"] == 1);
    REQUIRE(json["files"].contains(settled));
    CHECK(!json["files"].contains(fresh));
    const auto& entry = json["files"][settled];
    CHECK(entry["xxh3"] == audiosim::hash_to_hex(reader.manifest().catalog.at(0).checksum.xxh3));
    CHECK(entry["size"] == std::filesystem::file_size(store + "/" + settled));
    CHECK(entry["inode"].get<uint64_t>() > 0);

    // The same size, other bytes: the write changed ctime, so the file is hashed again.
    std::string bytes = audiosim::read_text_file(store + "/" + settled);
    bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x01);
    write_bytes(store + "/" + settled, bytes);
    auto [kind, message] = error_of([&] { StoreReader(store).load_catalog(); });
    CHECK(kind == ErrorKind::format);
    CHECK(contains(message, settled));
    CHECK(contains(message, "damaged"));

    // Its bytes restored, it is hashed again and passes.
    bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x01);
    write_bytes(store + "/" + settled, bytes);
    CHECK(StoreReader(store).load_catalog().size() == 2);
}

TEST_CASE("references into a reader's manifest stay valid when it reloads") {
    TempFolder folder;
    std::string store = folder.file("store");
    StoreWriter writer(store, options_for(folder));
    writer.commit({{make_record("a.wav", 1)}, {}});
    StoreReader reader(store);
    const audiosim::Manifest& first = reader.manifest();
    const std::string& first_file = first.catalog.at(0).file;
    for (int i = 0; i < 8; ++i) writer.commit({{make_record(std::to_string(i) + ".wav", 10 + static_cast<uint64_t>(i))}, {}});
    writer.compact_if_needed();  // removes the segment `first` names: the reader must reload
    CHECK(reader.load_catalog().size() == 9);
    CHECK(reader.manifest().generation > first.generation);
    CHECK(first_file == first.catalog.at(0).file);  // the old one is still alive and whole
}

TEST_CASE("find_store: the option first, then AUDIOSIM_STORE, then .audiosim upwards") {
    TempFolder folder;
    std::string root = std::filesystem::canonical(folder.path()).string();
    { StoreWriter(root + "/.audiosim", options_for(folder)).commit({}); }
    audiosim::make_directories(root + "/a/b");
    CurrentFolder here(root + "/a/b");

    SUBCASE("the option, made absolute") {
        EnvironmentVariable env("AUDIOSIM_STORE", "/somewhere/else");
        CHECK(audiosim::find_store("/x/y/../z") == std::optional<std::string>("/x/z"));
        CHECK(audiosim::find_store("rel") == std::optional<std::string>(root + "/a/b/rel"));
    }
    SUBCASE("AUDIOSIM_STORE when no option") {
        EnvironmentVariable env("AUDIOSIM_STORE", "/somewhere/else/");
        CHECK(audiosim::find_store("") == std::optional<std::string>("/somewhere/else"));
    }
    SUBCASE("the nearest .audiosim with a manifest, from a subfolder") {
        EnvironmentVariable env("AUDIOSIM_STORE", nullptr);
        CHECK(audiosim::find_store("") == std::optional<std::string>(root + "/.audiosim"));
        // A nearer .audiosim without a manifest is not a store; a nearer one with a manifest wins.
        audiosim::make_directories(root + "/a/b/.audiosim");
        CHECK(audiosim::find_store("") == std::optional<std::string>(root + "/.audiosim"));
        { StoreWriter(root + "/a/.audiosim", options_for(folder)).commit({}); }
        CHECK(audiosim::find_store("") == std::optional<std::string>(root + "/a/.audiosim"));
    }
    SUBCASE("an empty AUDIOSIM_STORE counts as unset") {
        EnvironmentVariable env("AUDIOSIM_STORE", "");
        CHECK(audiosim::find_store("") == std::optional<std::string>(root + "/.audiosim"));
    }
}

TEST_SUITE_END();
