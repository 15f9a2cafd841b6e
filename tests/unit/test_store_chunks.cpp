// lib/store/chunks: chunk segments on disk, the merged chunk table, and chunk sets in a store
// (StoreWriter::commit_chunks, load_chunks, compaction).
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <hdf5.h>
#include <nlohmann/json.hpp>

#include "chunk/chunker.hpp"
#include "chunk/profile.hpp"
#include "store/catalog.hpp"
#include "store/chunks.hpp"
#include "store/h5.hpp"
#include "store/stamp.hpp"
#include "store/store.hpp"
#include "support.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using audiosim::Chunk;
using audiosim::ChunkDelta;
using audiosim::ChunkProfile;
using audiosim::ChunkTable;
using audiosim::ErrorKind;
using audiosim::StoreReader;
using audiosim::StoreWriter;
using audiosim::WriterOptions;
using audiosim::test::contains;
using audiosim::test::error_of;
using audiosim::test::TempFolder;
using audiosim::test::write_bytes;

using audiosim::test::has_number;
using audiosim::test::set_root_int_attribute;

namespace {

Chunk make_chunk(uint64_t file_id, int64_t index, uint64_t chunk_id = 0) {
    Chunk chunk;
    chunk.chunk_id = chunk_id;
    chunk.file_id = file_id;
    chunk.start_frame = index * 44100;
    chunk.frames = 88200;
    chunk.start = static_cast<double>(index);
    chunk.duration = 2.0;
    chunk.rms_db = -9.5f - static_cast<float>(index);
    chunk.peak_db = -6.25f;
    chunk.flags = static_cast<uint8_t>(index % 16);
    return chunk;
}

void check_same(const Chunk& a, const Chunk& b) {
    CHECK(a.chunk_id == b.chunk_id);
    CHECK(a.file_id == b.file_id);
    CHECK(a.start_frame == b.start_frame);
    CHECK(a.frames == b.frames);
    CHECK(a.start == b.start);
    CHECK(a.duration == b.duration);
    CHECK(a.rms_db == b.rms_db);
    CHECK(a.peak_db == b.peak_db);
    CHECK(a.flags == b.flags);
}

ChunkProfile named_profile(const std::string& name, double window = 2) {
    ChunkProfile profile = audiosim::preset_profile("sample");
    profile.name = name;
    profile.window_seconds = window;
    return profile;
}

WriterOptions options_for(const TempFolder& folder) {
    WriterOptions options;
    options.command_line = "audiosim chunk (test)";
    options.library_root = folder.path();
    options.open = audiosim::StoreOpen::create;  // the tests make their stores
    return options;
}

// file id -> (chunk id, start frame) of every chunk, for comparing tables.
std::vector<std::pair<uint64_t, std::vector<std::pair<uint64_t, int64_t>>>> contents(const ChunkTable& table) {
    std::vector<std::pair<uint64_t, std::vector<std::pair<uint64_t, int64_t>>>> result;
    for (const auto& [file_id, chunks] : table.by_file()) {
        std::vector<std::pair<uint64_t, int64_t>> ids;
        for (const Chunk& chunk : chunks) ids.emplace_back(chunk.chunk_id, chunk.start_frame);
        result.emplace_back(file_id, ids);
    }
    return result;
}

std::vector<uint64_t> chunk_ids(const ChunkTable& table) {
    std::vector<uint64_t> ids;
    for (const auto& entry : table.by_file())
        for (const Chunk& chunk : entry.second) ids.push_back(chunk.chunk_id);
    return ids;
}

std::set<std::string> files_under(const std::string& folder) {
    std::set<std::string> names;
    if (!std::filesystem::exists(folder)) return names;
    for (const auto& entry : std::filesystem::directory_iterator(folder)) names.insert(entry.path().filename().string());
    return names;
}

}  // namespace

TEST_SUITE_BEGIN("store/chunks");

TEST_CASE("a segment round trips every field of every chunk, and dropped file ids") {
    TempFolder folder;
    std::string path = folder.file("chunks.h5");
    ChunkDelta delta;
    for (int64_t i = 0; i < 5; ++i) delta.chunks.push_back(make_chunk(7, i, 100 + static_cast<uint64_t>(i)));
    delta.chunks.push_back(make_chunk(UINT64_MAX - 1, 0, UINT64_MAX));
    Chunk odd = make_chunk(9, 0, 1);
    odd.start_frame = int64_t{1} << 40;
    odd.frames = 0;
    odd.start = 1e7 / 3;
    odd.duration = 0;
    odd.rms_db = -200;
    odd.peak_db = 0.125f;
    odd.flags = audiosim::chunk_empty | audiosim::chunk_silent;
    delta.chunks.push_back(odd);
    delta.dropped_file_ids = {3, 1, UINT64_MAX};
    audiosim::write_chunk_segment(path, named_profile("mine"), delta, {"audiosim chunk x", 12, ""});

    ChunkDelta back = audiosim::read_chunk_segment(path);
    REQUIRE(back.chunks.size() == delta.chunks.size());
    for (size_t i = 0; i < delta.chunks.size(); ++i) {
        CAPTURE(i);
        check_same(back.chunks[i], delta.chunks[i]);
    }
    CHECK(back.dropped_file_ids == delta.dropped_file_ids);
}

TEST_CASE("empty segments round trip: only dropped ids, nothing") {
    TempFolder folder;
    SUBCASE("only dropped ids") {
        ChunkDelta delta;
        delta.dropped_file_ids = {42};
        audiosim::write_chunk_segment(folder.file("s.h5"), named_profile("p"), delta, {"c", 1, ""});
        ChunkDelta back = audiosim::read_chunk_segment(folder.file("s.h5"));
        CHECK(back.chunks.empty());
        CHECK(back.dropped_file_ids == delta.dropped_file_ids);
    }
    SUBCASE("nothing") {
        audiosim::write_chunk_segment(folder.file("s.h5"), named_profile("p"), {}, {"c", 1, ""});
        CHECK(audiosim::read_chunk_segment(folder.file("s.h5")).empty());
    }
}

TEST_CASE("a segment stamps format, version, writer, generation and its profile") {
    TempFolder folder;
    std::string path = folder.file("chunks.h5");
    ChunkProfile profile = named_profile("stamped", 3);
    profile.last = audiosim::LastWindow::align;
    audiosim::write_chunk_segment(path, profile, {{make_chunk(1, 0, 1)}, {}}, {"audiosim chunk --x", 42, ""});
    audiosim::h5::File file = audiosim::h5::File::open_read_only(path);
    CHECK(audiosim::h5::read_string_attribute(file, file.id(), "format") == audiosim::chunks_format_name);
    CHECK(audiosim::h5::read_int_attribute(file, file.id(), "format_version") == audiosim::chunks_format_version);
    CHECK(audiosim::h5::read_string_attribute(file, file.id(), "writer") == audiosim::writer_name());
    CHECK(audiosim::h5::read_string_attribute(file, file.id(), "command_line") == "audiosim chunk --x");
    CHECK(audiosim::h5::read_int_attribute(file, file.id(), "store_generation") == 42);
    std::string stored = audiosim::h5::read_string_attribute(file, file.id(), "profile");
    ChunkProfile back = ChunkProfile::from_json(nlohmann::json::parse(stored));
    CHECK(back.to_json() == profile.to_json());
}

TEST_CASE("a segment of a newer format version is Error(format) naming both versions") {
    TempFolder folder;
    std::string path = folder.file("future.h5");
    audiosim::write_chunk_segment(path, named_profile("p"), {{make_chunk(1, 0, 1)}, {}}, {"c", 1, ""});
    set_root_int_attribute(path, "format_version", 99);
    auto [kind, message] = error_of([&] { audiosim::read_chunk_segment(path); });
    CHECK(kind == ErrorKind::format);
    CHECK(contains(message, path));
    CHECK(has_number(message, "99"));
    CHECK(has_number(message, std::to_string(audiosim::chunks_format_version)));
}

TEST_CASE("a file that is not a chunk segment is Error(format)") {
    TempFolder folder;
    SUBCASE("a catalog segment") {
        std::string path = folder.file("catalog.h5");
        audiosim::write_catalog_segment(path, {}, {"c", 1, ""});
        auto [kind, message] = error_of([&] { audiosim::read_chunk_segment(path); });
        CHECK(kind == ErrorKind::format);
        CHECK(contains(message, path));
    }
    SUBCASE("not HDF5") {
        std::string path = folder.file("junk.h5");
        write_bytes(path, std::string(1000, 'j'));
        auto [kind, message] = error_of([&] { audiosim::read_chunk_segment(path); });
        CHECK(kind == ErrorKind::format);
        CHECK(contains(message, path));
    }
}

TEST_CASE("ChunkTable::apply: a re-chunked file's chunks replace all its earlier ones") {
    ChunkTable table;
    CHECK(table.chunk_count() == 0);
    CHECK_FALSE(table.has_file(1));
    CHECK(table.chunks_of(1) == nullptr);

    table.apply({{make_chunk(1, 0, 1), make_chunk(1, 1, 2), make_chunk(1, 2, 3), make_chunk(2, 0, 4)}, {}});
    CHECK(table.chunk_count() == 4);
    REQUIRE(table.chunks_of(1) != nullptr);
    CHECK(table.chunks_of(1)->size() == 3);
    CHECK(table.chunks_of(1)->at(2).chunk_id == 3);
    CHECK(table.has_file(2));

    // File 1 again, now one chunk: the three old ones go.
    table.apply({{make_chunk(1, 0, 5)}, {}});
    CHECK(table.chunk_count() == 2);
    REQUIRE(table.chunks_of(1) != nullptr);
    REQUIRE(table.chunks_of(1)->size() == 1);
    CHECK(table.chunks_of(1)->at(0).chunk_id == 5);
    CHECK(table.chunks_of(2)->size() == 1);

    // A file's chunks split across a delta's list stay together, in order.
    table.apply({{make_chunk(3, 0, 6), make_chunk(4, 0, 7), make_chunk(3, 1, 8)}, {}});
    REQUIRE(table.chunks_of(3) != nullptr);
    REQUIRE(table.chunks_of(3)->size() == 2);
    CHECK(table.chunks_of(3)->at(0).chunk_id == 6);
    CHECK(table.chunks_of(3)->at(1).chunk_id == 8);
    CHECK(table.chunk_count() == 5);
}

TEST_CASE("ChunkTable::apply: dropped file ids are removed") {
    ChunkTable table;
    table.apply({{make_chunk(1, 0, 1), make_chunk(1, 1, 2), make_chunk(2, 0, 3), make_chunk(3, 0, 4)}, {}});
    table.apply({{}, {1, 3, 99}});  // 99 was never there
    CHECK_FALSE(table.has_file(1));
    CHECK_FALSE(table.has_file(3));
    CHECK(table.chunks_of(1) == nullptr);
    CHECK(table.has_file(2));
    CHECK(table.chunk_count() == 1);
    CHECK(table.by_file().size() == 1);
    // A dropped file may come back with new chunks later.
    table.apply({{make_chunk(1, 0, 9)}, {}});
    CHECK(table.has_file(1));
    CHECK(table.chunk_count() == 2);
}

TEST_CASE("failed files: round trip, replace and are replaced by chunks, dropped with them, kept by compaction") {
    TempFolder folder;
    ChunkDelta delta;
    delta.chunks = {make_chunk(1, 0, 1)};
    delta.failed = {{2, "decoding failed: \xc3\xa9 one line"}, {3, "No such file or directory"}};
    audiosim::write_chunk_segment(folder.file("s.h5"), named_profile("p"), delta, {"c", 1, ""});
    ChunkDelta back = audiosim::read_chunk_segment(folder.file("s.h5"));
    REQUIRE(back.failed.size() == 2);
    CHECK(back.failed[0].file_id == 2);
    CHECK(back.failed[0].error == delta.failed[0].error);
    CHECK(back.failed[1].file_id == 3);

    ChunkTable table;
    table.apply(back);
    CHECK(table.failed() == audiosim::FailureMap{{2, delta.failed[0].error}, {3, delta.failed[1].error}});
    ChunkDelta later;
    later.chunks = {make_chunk(2, 0, 5)};  // file 2 chunked after all
    later.failed = {{1, "now broken"}};     // file 1 fails: its chunks go
    later.dropped_file_ids = {3};           // file 3 changed: its failure goes
    table.apply(later);
    CHECK(table.failed() == audiosim::FailureMap{{1, "now broken"}});
    CHECK_FALSE(table.has_file(1));
    CHECK(table.has_file(2));

    StoreWriter writer(folder.file("store"), options_for(folder));
    ChunkProfile profile = named_profile("sample");
    writer.commit_chunks(profile, {{make_chunk(10, 0)}, {}});
    ChunkDelta failing;
    failing.failed = {{11, "cannot decode"}};
    CHECK_FALSE(failing.empty());
    writer.commit_chunks(profile, failing);
    for (int i = 0; i < 8; ++i) writer.commit_chunks(profile, {{make_chunk(20 + static_cast<uint64_t>(i), 0)}, {}});
    writer.compact_if_needed();
    REQUIRE(writer.manifest().chunk_sets.at("sample").segments.size() == 1);
    CHECK(StoreReader(folder.file("store")).load_chunks("sample").failed() == audiosim::FailureMap{{11, "cannot decode"}});
}

TEST_CASE("a segment written before failures were recorded reads with none") {
    TempFolder folder;
    std::string path = folder.file("old.h5");
    ChunkDelta delta;
    delta.chunks = {make_chunk(1, 0, 1)};
    delta.failed = {{2, "x"}};
    audiosim::write_chunk_segment(path, named_profile("p"), delta, {"c", 1, ""});
    audiosim::test::remove_h5_links(path, {"failed"});
    ChunkDelta back = audiosim::read_chunk_segment(path);
    CHECK(back.chunks.size() == 1);
    CHECK(back.failed.empty());
}

TEST_CASE("commit_chunks gives increasing unique ids, kept across writers") {
    TempFolder folder;
    std::string store = folder.file("store");
    ChunkProfile profile = named_profile("sample");
    std::vector<uint64_t> first_ids;
    {
        StoreWriter writer(store, options_for(folder));
        CHECK(writer.load_chunks("sample").chunk_count() == 0);  // none yet: empty
        writer.commit_chunks(profile, {{make_chunk(10, 0), make_chunk(10, 1), make_chunk(11, 0)}, {}});
        ChunkTable table = writer.load_chunks("sample");
        CHECK(table.chunk_count() == 3);
        first_ids = chunk_ids(table);
        // Ids within a file follow its chunk order.
        REQUIRE(table.chunks_of(10) != nullptr);
        CHECK(table.chunks_of(10)->at(0).chunk_id < table.chunks_of(10)->at(1).chunk_id);
        CHECK(table.chunks_of(10)->at(1).chunk_id < table.chunks_of(11)->at(0).chunk_id);
    }
    CHECK(std::set<uint64_t>(first_ids.begin(), first_ids.end()).size() == 3);
    for (uint64_t id : first_ids) CHECK(id != 0);
    uint64_t highest = *std::max_element(first_ids.begin(), first_ids.end());

    StoreWriter writer(store, options_for(folder));
    writer.commit_chunks(profile, {{make_chunk(12, 0), make_chunk(12, 1)}, {}});
    ChunkTable table = writer.load_chunks("sample");
    CHECK(table.chunk_count() == 5);
    for (const Chunk& chunk : *table.chunks_of(12)) CHECK(chunk.chunk_id > highest);
    std::vector<uint64_t> all = chunk_ids(table);
    CHECK(std::set<uint64_t>(all.begin(), all.end()).size() == 5);
    // The ids of the earlier chunks did not change.
    std::vector<uint64_t> earlier;
    for (uint64_t file_id : {uint64_t{10}, uint64_t{11}})
        for (const Chunk& chunk : *table.chunks_of(file_id)) earlier.push_back(chunk.chunk_id);
    std::sort(first_ids.begin(), first_ids.end());
    std::sort(earlier.begin(), earlier.end());
    CHECK(earlier == first_ids);
}

TEST_CASE("chunk ids are never given twice, even after the chunks holding the highest were dropped") {
    // Chunk ids name vectors in embeddings and indexes: an id given again would name two chunks.
    TempFolder folder;
    std::string store = folder.file("store");
    ChunkProfile profile = named_profile("sample");
    uint64_t highest = 0;
    {
        StoreWriter writer(store, options_for(folder));
        writer.commit_chunks(profile, {{make_chunk(1, 0), make_chunk(2, 0), make_chunk(2, 1)}, {}});
        for (uint64_t id : chunk_ids(writer.load_chunks("sample"))) highest = std::max(highest, id);
        writer.commit_chunks(profile, {{}, {2}});
        writer.compact_if_needed();  // no segment mentions the dropped ids any more
        REQUIRE(writer.manifest().chunk_sets.at("sample").segments.size() == 1);
        REQUIRE(writer.load_chunks("sample").chunk_count() == 1);
    }
    StoreWriter writer(store, options_for(folder));
    writer.commit_chunks(profile, {{make_chunk(3, 0)}, {}});
    ChunkTable table = writer.load_chunks("sample");
    REQUIRE(table.chunks_of(3) != nullptr);
    CHECK(table.chunks_of(3)->at(0).chunk_id > highest);
}

TEST_CASE("re-chunking a file gives its new chunks new ids") {
    TempFolder folder;
    StoreWriter writer(folder.file("store"), options_for(folder));
    ChunkProfile profile = named_profile("sample");
    writer.commit_chunks(profile, {{make_chunk(1, 0), make_chunk(1, 1)}, {}});
    std::vector<uint64_t> old_ids = chunk_ids(writer.load_chunks("sample"));
    writer.commit_chunks(profile, {{make_chunk(1, 0), make_chunk(1, 1)}, {}});
    ChunkTable table = writer.load_chunks("sample");
    CHECK(table.chunk_count() == 2);
    for (uint64_t id : chunk_ids(table)) CHECK(std::find(old_ids.begin(), old_ids.end(), id) == old_ids.end());
}

TEST_CASE("a reader sees committed chunks and dropped files") {
    TempFolder folder;
    std::string store = folder.file("store");
    StoreWriter writer(store, options_for(folder));
    ChunkProfile profile = named_profile("sample");
    writer.commit_chunks(profile, {{make_chunk(1, 0), make_chunk(2, 0), make_chunk(2, 1)}, {}});
    writer.commit_chunks(profile, {{}, {2}});
    StoreReader reader(store);
    ChunkTable table = reader.load_chunks("sample");
    CHECK(contents(table) == contents(writer.load_chunks("sample")));
    CHECK(table.has_file(1));
    CHECK_FALSE(table.has_file(2));
    CHECK(table.chunk_count() == 1);
    REQUIRE(reader.manifest().chunk_sets.count("sample") == 1);
    CHECK(reader.manifest().chunk_sets.at("sample").profile.to_json() == profile.to_json());
}

TEST_CASE("two profiles coexist, each with its own chunks") {
    TempFolder folder;
    std::string store = folder.file("store");
    {
        StoreWriter writer(store, options_for(folder));
        writer.commit_chunks(named_profile("short", 1), {{make_chunk(1, 0), make_chunk(1, 1)}, {}});
        writer.commit_chunks(named_profile("long", 4), {{make_chunk(1, 0)}, {}});
        writer.commit_chunks(named_profile("short", 1), {{make_chunk(2, 0)}, {}});
    }
    StoreWriter again(store, options_for(folder));
    CHECK(again.load_chunks("short").chunk_count() == 3);
    CHECK(again.load_chunks("long").chunk_count() == 1);
    StoreReader reader(store);
    CHECK(reader.load_chunks("short").chunk_count() == 3);
    CHECK(reader.load_chunks("long").chunk_count() == 1);
    CHECK(reader.manifest().chunk_sets.at("long").profile.window_seconds == 4);
    CHECK(reader.manifest().chunk_sets.at("short").profile.window_seconds == 1);
}

TEST_CASE("a profile of a stored name but other parameters is Error(usage), and nothing changes") {
    TempFolder folder;
    std::string store = folder.file("store");
    {
        StoreWriter writer(store, options_for(folder));
        writer.commit_chunks(named_profile("mine", 2), {{make_chunk(1, 0)}, {}});
    }
    StoreWriter writer(store, options_for(folder));
    int64_t generation = writer.manifest().generation;
    ChunkProfile other = named_profile("mine", 3);
    auto [kind, message] = error_of([&] { writer.commit_chunks(other, {{make_chunk(2, 0)}, {}}); });
    CHECK(kind == ErrorKind::usage);
    CHECK(contains(message, "mine"));
    CHECK(writer.manifest().generation == generation);
    CHECK(writer.load_chunks("mine").chunk_count() == 1);
    CHECK(writer.manifest().chunk_sets.at("mine").profile.window_seconds == 2);

    ChunkProfile other_last = named_profile("mine", 2);
    other_last.last = audiosim::LastWindow::drop;
    CHECK(error_of([&] { writer.commit_chunks(other_last, {}); }).first == ErrorKind::usage);

    // The same parameters from a new writer are accepted.
    writer.commit_chunks(named_profile("mine", 2), {{make_chunk(2, 0)}, {}});
    CHECK(StoreReader(store).load_chunks("mine").chunk_count() == 2);
}

TEST_CASE("a reader asked for a profile the store lacks: Error(input) naming the ones there are") {
    TempFolder folder;
    std::string store = folder.file("store");
    StoreWriter writer(store, options_for(folder));
    writer.commit({});
    SUBCASE("none at all") {
        auto [kind, message] = error_of([&] { StoreReader(store).load_chunks("music"); });
        CHECK(kind == ErrorKind::input);
        CHECK(contains(message, "music"));
    }
    SUBCASE("two others") {
        writer.commit_chunks(named_profile("alpha"), {{make_chunk(1, 0)}, {}});
        writer.commit_chunks(named_profile("beta"), {{make_chunk(1, 0)}, {}});
        auto [kind, message] = error_of([&] { StoreReader(store).load_chunks("music"); });
        CHECK(kind == ErrorKind::input);
        CHECK(contains(message, "music"));
        CHECK(contains(message, "alpha"));
        CHECK(contains(message, "beta"));
    }
}

TEST_CASE("compaction after 8 chunk commits leaves one base segment and the same table") {
    TempFolder folder;
    std::string store = folder.file("store");
    StoreWriter writer(store, options_for(folder));
    ChunkProfile profile = named_profile("sample");
    ChunkProfile other = named_profile("other");
    writer.commit_chunks(other, {{make_chunk(1, 0)}, {}});
    for (uint64_t i = 0; i < 8; ++i) writer.commit_chunks(profile, {{make_chunk(i, 0), make_chunk(i, 1)}, {}});
    writer.commit_chunks(profile, {{make_chunk(2, 0)}, {5}});  // re-chunked, and one dropped
    auto before = contents(writer.load_chunks("sample"));
    REQUIRE(before.size() == 7);
    std::vector<std::string> old_files;
    for (const auto& segment : writer.manifest().chunk_sets.at("sample").segments) old_files.push_back(segment.file);
    REQUIRE(old_files.size() == 9);
    auto other_segments = writer.manifest().chunk_sets.at("other").segments;

    writer.compact_if_needed();
    const auto& segments = writer.manifest().chunk_sets.at("sample").segments;
    REQUIRE(segments.size() == 1);
    CHECK(segments[0].kind == "base");
    CHECK(segments[0].rows == 13);
    CHECK(segments[0].removed == 0);
    for (const auto& file : old_files) CHECK_FALSE(audiosim::path_exists(store + "/" + file));
    CHECK(files_under(store + "/chunks/sample") == std::set<std::string>{audiosim::file_name(segments[0].file)});
    CHECK(contents(writer.load_chunks("sample")) == before);
    // The other profile keeps its chunks.
    REQUIRE(writer.manifest().chunk_sets.at("other").segments.size() == 1);
    CHECK(writer.load_chunks("other").chunk_count() == 1);

    StoreReader reader(store);
    CHECK(reader.manifest().chunk_sets.at("sample").segments.size() == 1);
    CHECK(contents(reader.load_chunks("sample")) == before);
    // Ids go on after the compaction.
    uint64_t highest = 0;
    for (const auto& entry : before)
        for (const auto& chunk : entry.second) highest = std::max(highest, chunk.first);
    writer.commit_chunks(profile, {{make_chunk(100, 0)}, {}});
    CHECK(writer.load_chunks("sample").chunks_of(100)->at(0).chunk_id > highest);
}

TEST_CASE("unreferenced files under chunks/NAME/ are removed by the next writer") {
    TempFolder folder;
    std::string store = folder.file("store");
    std::string kept;
    {
        StoreWriter writer(store, options_for(folder));
        writer.commit_chunks(named_profile("sample"), {{make_chunk(1, 0)}, {}});
        kept = writer.manifest().chunk_sets.at("sample").segments.at(0).file;
    }
    write_bytes(store + "/chunks/sample/00000099-delta.h5", "left by a writer that died");
    write_bytes(store + "/chunks/sample/00000002-delta.h5.tmp.abc", "a temporary");
    audiosim::make_directories(store + "/chunks/gone");
    write_bytes(store + "/chunks/gone/00000001-delta.h5", "a profile the manifest does not name");
    {
        StoreWriter writer(store, options_for(folder));
        CHECK(files_under(store + "/chunks/sample") == std::set<std::string>{audiosim::file_name(kept)});
        CHECK_FALSE(audiosim::path_exists(store + "/chunks/gone/00000001-delta.h5"));
        CHECK(writer.load_chunks("sample").chunk_count() == 1);
    }
    CHECK(StoreReader(store).load_chunks("sample").chunk_count() == 1);
}

TEST_SUITE_END();
