// lib/check/store_check: finding damage file by file and across the store, and repairing it.
#include <filesystem>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "check/store_check.hpp"
#include "chunk/profile.hpp"
#include "store/store.hpp"
#include "support.hpp"
#include "util/fs.hpp"

using audiosim::check_store;
using audiosim::StoreCheckOptions;
using audiosim::StoreCheckReport;
using audiosim::StoreReader;
using audiosim::StoreWriter;
using audiosim::test::contains;
using audiosim::test::error_of;
using audiosim::test::TempFolder;
using audiosim::test::write_bytes;

namespace {

constexpr size_t dim = 4;
const std::string embedding_key = "sample/test@1";

audiosim::WriterOptions create_options(const std::string& root) {
    return {"audiosim (test)", root, 0, audiosim::StoreOpen::create};
}

audiosim::EmbeddingSet test_set() { return {"test@1", "sample", static_cast<int64_t>(dim), nlohmann::json::object(), {}}; }

// A store with `files` files in two catalog commits, their chunks (one each) and vectors, each
// file in its own chunk and embedding segment.
void make_store(const std::string& store, const std::string& root, size_t files) {
    StoreWriter writer(store, create_options(root));
    auto profile = audiosim::preset_profile("sample");
    for (size_t i = 0; i < files; ++i) {
        audiosim::FileRecord record;
        record.file_id = writer.allocate_file_id();
        record.path = "f" + std::to_string(i) + ".wav";
        record.size = 10 + i;
        record.hash = 1000 + i;
        record.audio.sample_rate = 8000;
        record.audio.channels = 1;
        writer.commit({{record}, {}});
        audiosim::Chunk chunk;
        chunk.file_id = record.file_id;
        chunk.frames = 8000;
        chunk.duration = 1;
        writer.commit_chunks(profile, {{chunk}, {}});
        audiosim::EmbeddingDelta vectors;
        vectors.dim = dim;
        vectors.chunk_ids = {writer.load_chunks("sample").chunks_of(record.file_id)->front().chunk_id};
        vectors.file_ids = {record.file_id};
        vectors.vectors = {0.5f, 0.5f, 0.5f, 0.5f};
        writer.commit_embeddings(test_set(), std::move(vectors));
    }
}

StoreCheckReport check(const std::string& store, bool repair = false) {
    StoreCheckOptions options;
    options.repair = repair;
    options.command_line = "audiosim check (test)";
    return check_store(store, options);
}

void damage(const std::string& path) {
    std::string bytes = audiosim::read_text_file(path);
    for (size_t i = bytes.size() / 2; i < bytes.size() / 2 + 32 && i < bytes.size(); ++i)
        bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);
    write_bytes(path, bytes);
}

size_t vector_files(const std::string& store) {
    return StoreReader(store).load_embeddings(embedding_key).by_file().size();
}

}  // namespace

TEST_SUITE_BEGIN("check/store_check");

TEST_CASE("a whole store has no problems, and repair leaves it as it is") {
    TempFolder folder;
    std::string store = folder.file("store");
    make_store(store, folder.path(), 3);
    StoreCheckReport report = check(store);
    CHECK(report.problems.empty());
    CHECK(report.files_checked == 9);
    CHECK(report.files_without_checksum == 0);
    int64_t generation = StoreReader(store).manifest().generation;
    CHECK(check(store, true).repairs.empty());
    CHECK(StoreReader(store).manifest().generation == generation);
}

TEST_CASE("no store at all is Error(input)") {
    TempFolder folder;
    auto [kind, message] = error_of([&] { check(folder.path()); });
    CHECK(kind == audiosim::ErrorKind::input);
}

TEST_CASE("a damaged embedding segment is named; repair moves it aside and its file is to embed again") {
    TempFolder folder;
    std::string store = folder.file("store");
    make_store(store, folder.path(), 3);
    std::string damaged = StoreReader(store).manifest().embedding_sets.at(embedding_key).segments.at(1).file;
    damage(store + "/" + damaged);
    StoreCheckReport report = check(store);
    REQUIRE(report.problems.size() == 1);
    CHECK(report.problems[0].file == damaged);
    CHECK(contains(report.problems[0].cause, "XXH3"));

    StoreCheckReport repaired = check(store, true);
    CHECK(!repaired.repairs.empty());
    CHECK(audiosim::path_exists(store + "/damaged/" + damaged));
    CHECK(!audiosim::path_exists(store + "/" + damaged));
    CHECK(check(store).problems.empty());
    CHECK(vector_files(store) == 2);  // the other files keep their vectors
}

TEST_CASE("a lost manifest is rebuilt from the files with the same tables") {
    TempFolder folder;
    std::string store = folder.file("store");
    make_store(store, folder.path(), 4);
    audiosim::Manifest before = StoreReader(store).manifest();
    size_t catalog_before = StoreReader(store).load_catalog().size();
    std::filesystem::remove(store + "/manifest.json");
    StoreCheckReport report = check(store);
    REQUIRE(report.problems.size() == 1);
    CHECK(report.problems[0].file == "manifest.json");

    check(store, true);
    StoreReader reader(store);
    const audiosim::Manifest& after = reader.manifest();
    CHECK(after.library_root == before.library_root);
    CHECK(after.next_file_id == before.next_file_id);
    CHECK(after.chunk_sets.at("sample").next_chunk_id == before.chunk_sets.at("sample").next_chunk_id);
    CHECK(after.embedding_sets.at(embedding_key).dim == static_cast<int64_t>(dim));
    CHECK(after.generation > before.generation);
    CHECK(reader.load_catalog().size() == catalog_before);
    CHECK(vector_files(store) == 4);
    CHECK(check(store).problems.empty());
}

TEST_CASE("vectors whose chunks were lost are dropped, so that embed redoes their files") {
    TempFolder folder;
    std::string store = folder.file("store");
    make_store(store, folder.path(), 3);
    std::string chunks = StoreReader(store).manifest().chunk_sets.at("sample").segments.at(0).file;
    std::filesystem::remove(store + "/" + chunks);
    StoreCheckReport report = check(store);
    REQUIRE(!report.problems.empty());
    CHECK(contains(report.problems[0].cause, "missing"));
    check(store, true);
    CHECK(check(store).problems.empty());
    CHECK(vector_files(store) == 2);
}

TEST_CASE("a catalog segment cut short in a store without checksums is found without crashing") {
    TempFolder folder;
    std::string store = folder.file("store");
    make_store(store, folder.path(), 2);
    nlohmann::json manifest = nlohmann::json::parse(audiosim::read_text_file(store + "/manifest.json"));
    for (auto& segment : manifest["catalog"]) {
        segment.erase("xxh3");
        segment.erase("bytes");
    }
    write_bytes(store + "/manifest.json", manifest.dump());
    std::string segment = manifest["catalog"][0]["file"].get<std::string>();
    std::string bytes = audiosim::read_text_file(store + "/" + segment);
    write_bytes(store + "/" + segment, bytes.substr(0, bytes.size() / 3));
    StoreCheckReport report = check(store);
    CHECK(report.files_without_checksum == 2);
    REQUIRE(report.problems.size() >= 1);
    CHECK(report.problems[0].file == segment);
}

TEST_SUITE_END();
