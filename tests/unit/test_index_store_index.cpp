// lib/index/store_index: the index of an embedding set kept in step with a real store (built,
// up to date, updated, rebuilt), its status, its checksum and its files.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "index/index_labels.hpp"
#include "index/store_index.hpp"
#include "support.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"

using namespace audiosim;
using audiosim::test::contains;
using audiosim::test::error_of;
using audiosim::test::sorted_entries;
using audiosim::test::SyntheticStore;
using audiosim::test::write_bytes;

namespace {

// `n` files of `chunks` chunks named PREFIXi.wav, spread over the 20 clusters.
std::vector<SyntheticStore::File> files(const std::string& prefix, size_t n, size_t chunks = 4) {
    std::vector<SyntheticStore::File> out;
    for (size_t i = 0; i < n; i++) out.push_back({fmt::format("{}{}.wav", prefix, i), i % 20, chunks});
    return out;
}

std::vector<std::string> paths(const std::string& prefix, size_t from, size_t to) {
    std::vector<std::string> out;
    for (size_t i = from; i < to; i++) out.push_back(fmt::format("{}{}.wav", prefix, i));
    return out;
}

// Overwrites `count` bytes in the middle of a file with their complement.
void flip_bytes(const std::string& path, size_t count) {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    REQUIRE(file);
    file.seekg(0, std::ios::end);
    auto size = static_cast<std::streamoff>(file.tellg());
    REQUIRE(size > static_cast<std::streamoff>(count));
    std::string bytes(count, '\0');
    file.seekg(size / 2);
    file.read(bytes.data(), static_cast<std::streamsize>(count));
    for (char& c : bytes) c = static_cast<char>(~c);
    file.seekp(size / 2);
    file.write(bytes.data(), static_cast<std::streamsize>(count));
}

IndexBuildResult update(SyntheticStore& s, IndexBuildOptions options = {}) { return update_index(s.writer(), s.key(), options); }

IndexStatus status_of(SyntheticStore& s) {
    return index_status(s.store(), s.writer().manifest(), s.key(), s.writer().load_embeddings(s.key()));
}

}  // namespace

TEST_SUITE_BEGIN("index/store_index");

TEST_CASE("update_index builds an index, then finds it up to date without committing") {
    SyntheticStore s;
    s.add(files("a/", 200));
    IndexBuildResult built = update(s);
    CHECK(built.key == s.key());
    CHECK(built.action == "built");
    CHECK(built.reason.empty());
    CHECK(built.added == 800);
    CHECK(built.removed == 0);
    CHECK(built.count == 800);
    CHECK(built.deleted == 0);
    CHECK(built.params.M == IndexParams{}.M);
    CHECK(path_exists(built.file));
    CHECK(path_exists(index_header_path(built.file)));
    CHECK(built.file == join_path(s.store(), s.writer().manifest().indexes.at(s.key()).file));
    const int64_t generation = s.writer().manifest().generation;
    CHECK(s.writer().manifest().indexes.at(s.key()).generation == generation);

    IndexBuildResult again = update(s);
    CHECK(again.action == "up to date");
    CHECK(again.reason.empty());
    CHECK(again.added == 0);
    CHECK(again.removed == 0);
    CHECK(again.count == 800);
    CHECK(again.file == built.file);
    CHECK(s.writer().manifest().generation == generation);  // nothing committed
}

TEST_CASE("an update adds new vectors, marks those of dropped files deleted and keeps recall") {
    SyntheticStore s;
    s.add(files("a/", 200));
    IndexBuildResult built = update(s);
    REQUIRE(built.action == "built");
    std::vector<uint64_t> added_files = s.add(files("b/", 20));
    std::vector<uint64_t> dropped_chunks;
    for (const std::string& path : paths("a/", 0, 10)) {
        const auto& ids = s.chunk_ids(s.file_id(path));
        dropped_chunks.insert(dropped_chunks.end(), ids.begin(), ids.end());
    }
    s.remove(paths("a/", 0, 10));

    IndexBuildResult updated = update(s);
    CHECK(updated.action == "updated");
    CHECK(updated.reason.empty());
    CHECK(updated.added == 80);
    CHECK(updated.removed == 40);
    CHECK(updated.count == 800 + 80 - 40);
    CHECK(updated.deleted == 40);  // 40 of 880 in the graph: below the 20 % that rebuilds

    HnswIndex index = HnswIndex::load(updated.file);
    EmbeddingTable table = s.writer().load_embeddings(s.key());
    CHECK(index.size() == 840);
    CHECK(index.header().deleted == 40);
    CHECK(index.header().embeddings_checksum == embeddings_checksum(table));
    CHECK(index.ids() == table.chunk_ids());
    for (uint64_t id : dropped_chunks) CHECK_FALSE(index.contains(id));
    for (uint64_t file_id : added_files)
        for (uint64_t id : s.chunk_ids(file_id)) CHECK(index.contains(id));
    double recall = verify_index(index, table, 10, 300, 1, 1);
    MESSAGE("recall@10 after an update: ", recall);
    CHECK(recall >= 0.99);
    CHECK(update(s).action == "up to date");
}

TEST_CASE("an update that would leave too much of the graph deleted rebuilds instead") {
    SyntheticStore s;
    s.add(files("a/", 200));
    REQUIRE(update(s).action == "built");
    s.remove(paths("a/", 0, 50));  // 200 of 800 vectors: 25 %
    IndexBuildOptions options;
    SUBCASE("above the default 20 %: rebuilt") {
        IndexBuildResult result = update(s, options);
        CHECK(result.action == "rebuilt");
        CHECK_MESSAGE(contains(result.reason, "25% of the graph would be deleted vectors (rebuilding above 20%)"), result.reason);
        CHECK(result.count == 600);
        CHECK(result.deleted == 0);
        CHECK(result.added == 600);
        CHECK(HnswIndex::load(result.file).header().deleted == 0);
    }
    SUBCASE("below a raised limit: updated") {
        options.max_deleted_share = 0.3;
        IndexBuildResult result = update(s, options);
        CHECK(result.action == "updated");
        CHECK(result.removed == 200);
        CHECK(result.deleted == 200);
        CHECK(result.count == 600);
    }
}

TEST_CASE("changed graph parameters rebuild; a changed ef only rewrites the header") {
    SyntheticStore s;
    s.add(files("a/", 50));
    REQUIRE(update(s).action == "built");

    IndexBuildOptions options;
    options.M = 8;
    IndexBuildResult rebuilt = update(s, options);
    CHECK(rebuilt.action == "rebuilt");
    CHECK_MESSAGE(contains(rebuilt.reason, "M 16 -> 8"), rebuilt.reason);
    CHECK(rebuilt.params.M == 8);
    CHECK(read_index_header(rebuilt.file).params.M == 8);

    IndexBuildOptions ef_only;  // M unset: the index's 8 is kept
    ef_only.ef_search = 250;
    IndexBuildResult updated = update(s, ef_only);
    CHECK(updated.action == "updated");
    CHECK(updated.added == 0);
    CHECK(updated.removed == 0);
    CHECK(updated.file != rebuilt.file);  // committed anew
    IndexHeader header = read_index_header(updated.file);
    CHECK(header.params.ef_search == 250);
    CHECK(header.params.M == 8);
    CHECK(HnswIndex::load(updated.file).header().params.ef_search == 250);
    CHECK(update(s, ef_only).action == "up to date");

    IndexBuildOptions construction;
    construction.ef_construction = 100;
    IndexBuildResult again = update(s, construction);
    CHECK(again.action == "rebuilt");
    CHECK_MESSAGE(contains(again.reason, "ef_construction 200 -> 100"), again.reason);
    CHECK(again.params.ef_search == 250);  // kept through the rebuild
    CHECK(again.params.M == 8);

    IndexBuildOptions forced;
    forced.rebuild = true;
    IndexBuildResult by_request = update(s, forced);
    CHECK(by_request.action == "rebuilt");
    CHECK(by_request.reason == "--rebuild");
    CHECK(by_request.count == 200);
}

TEST_CASE("a damaged payload is rebuilt by the next update, the reason naming the file") {
    SyntheticStore s;
    s.add(files("a/", 50));
    IndexBuildResult built = update(s);
    REQUIRE(built.action == "built");
    SUBCASE("bytes flipped") { flip_bytes(built.file, 16); }
    SUBCASE("truncated") { std::filesystem::resize_file(built.file, std::filesystem::file_size(built.file) / 2); }
    CHECK(error_of([&] { HnswIndex::load(built.file); }).first == ErrorKind::format);
    CHECK(status_of(s).state == IndexState::up_to_date);  // status reads the header alone

    IndexBuildResult rebuilt = update(s);
    CHECK(rebuilt.action == "rebuilt");
    CHECK_MESSAGE(contains(rebuilt.reason, "could not be loaded"), rebuilt.reason);
    CHECK_MESSAGE(contains(rebuilt.reason, file_name(built.file)), rebuilt.reason);
    CHECK(rebuilt.count == 200);
    HnswIndex index = HnswIndex::load(rebuilt.file);
    CHECK(index.size() == 200);
    CHECK(update(s).action == "up to date");
}

TEST_CASE("index_status: missing, up to date, stale, unreadable") {
    SyntheticStore s;
    s.add(files("a/", 30));
    IndexStatus missing = status_of(s);
    CHECK(missing.state == IndexState::missing);
    CHECK(missing.file.empty());
    CHECK(missing.set_vectors == 120);
    CHECK(std::string(index_state_name(IndexState::missing)) == "missing");

    IndexBuildResult built = update(s);
    IndexStatus current = status_of(s);
    CHECK(current.state == IndexState::up_to_date);
    CHECK(std::string(index_state_name(current.state)) == "up to date");
    CHECK(current.file == built.file);
    CHECK(current.header.count == 120);
    CHECK(current.header.model_id == "test-model@1");

    s.add(files("b/", 1));
    IndexStatus stale = status_of(s);
    CHECK(stale.state == IndexState::stale);
    CHECK(std::string(index_state_name(stale.state)) == "stale");
    CHECK(stale.set_vectors == 124);
    CHECK(stale.header.count == 120);

    write_bytes(index_header_path(built.file), "{\"format\": \"audiosim-index\"");
    IndexStatus unreadable = status_of(s);
    CHECK(unreadable.state == IndexState::unreadable);
    CHECK(std::string(index_state_name(unreadable.state)) == "unreadable");
    CHECK_MESSAGE(contains(unreadable.error, file_name(index_header_path(built.file))), unreadable.error);
}

TEST_CASE("embeddings_checksum: the same with and without vectors; another for other ids") {
    SyntheticStore s;
    s.add(files("a/", 10));
    StoreReader reader(s.store());
    EmbeddingTable with_vectors = reader.load_embeddings(s.key(), true);
    EmbeddingTable ids_only = reader.load_embeddings(s.key(), false);
    REQUIRE(with_vectors.vector_count() == 40);
    CHECK(embeddings_checksum(ids_only) == embeddings_checksum(with_vectors));
    CHECK(embeddings_checksum(with_vectors) == embeddings_checksum(s.writer().load_embeddings(s.key())));
    const uint64_t before = embeddings_checksum(with_vectors);
    s.remove({"a/3.wav"});
    CHECK(embeddings_checksum(StoreReader(s.store()).load_embeddings(s.key(), false)) != before);
    CHECK(embeddings_checksum(EmbeddingTable(64)) == embeddings_checksum(EmbeddingTable(8)));  // ids alone count
}

TEST_CASE("a new index commit removes the files of the old one") {
    SyntheticStore s;
    s.add(files("a/", 20));
    IndexBuildResult first = update(s);
    std::string folder = parent_path(first.file);
    CHECK(sorted_entries(folder) ==
          std::vector<std::string>{file_name(first.file), file_name(first.file) + ".json", file_name(first.file) + ".labels"});
    s.add(files("b/", 2));
    IndexBuildResult second = update(s);
    REQUIRE(second.action == "updated");
    CHECK(second.file != first.file);
    CHECK_FALSE(path_exists(first.file));
    CHECK_FALSE(path_exists(index_header_path(first.file)));
    CHECK(sorted_entries(folder) == std::vector<std::string>{file_name(second.file), file_name(second.file) + ".json",
                                                             file_name(second.file) + ".labels"});
}

TEST_CASE("labels come with every graph, and again for an unchanged graph when the store's tables moved on") {
    SyntheticStore s;
    s.add(files("a/", 10));
    IndexBuildResult first = update(s);
    CHECK(first.labels_written);
    auto basis_now = [&] { return labels_basis(s.writer().manifest(), s.writer().manifest().embedding_sets.at(s.key())); };
    {
        IndexLabels labels = IndexLabels::open(index_labels_path(first.file));
        CHECK(labels.basis() == basis_now());
        CHECK(labels.embeddings_checksum() == read_index_header(first.file).embeddings_checksum);
        CHECK(labels.chunk_count() == 40);
        HnswIndex index = HnswIndex::load(first.file);
        for (size_t row = 0; row < labels.chunk_count(); ++row)
            CHECK(labels.chunk(row).element == index.element_of(labels.chunk(row).chunk_id));
    }
    IndexBuildResult again = update(s);
    CHECK(again.action == "up to date");
    CHECK_FALSE(again.labels_written);
    CHECK(again.file == first.file);

    CHECK(status_of(s).labels_current);
    // A file with no chunks yet changes the catalog alone: the graph stays, the labels are new.
    s.add_unchunked("b/fresh.wav");
    CHECK(status_of(s).state == IndexState::up_to_date);
    CHECK_FALSE(status_of(s).labels_current);
    IndexBuildResult relabelled = update(s);
    CHECK(status_of(s).labels_current);
    CHECK(relabelled.action == "up to date");
    CHECK(relabelled.labels_written);
    REQUIRE(relabelled.file != first.file);
    CHECK_FALSE(path_exists(first.file));
    IndexHeader header = read_index_header(relabelled.file);
    CHECK(hash_file(relabelled.file).hash == header.payload_hash);  // the same graph under its new name
    IndexLabels labels = IndexLabels::open(index_labels_path(relabelled.file));
    CHECK(labels.basis() == basis_now());
    HnswIndex index = HnswIndex::load(relabelled.file);
    for (size_t row = 0; row < labels.chunk_count(); ++row)  // kept from the labels before
        CHECK(labels.chunk(row).element == index.element_of(labels.chunk(row).chunk_id));
    REQUIRE(labels.find_path("b/fresh.wav") != IndexLabels::npos);
    CHECK(labels.chunks_of_file(labels.find_path("b/fresh.wav")).empty());
    CHECK(s.writer().manifest().indexes.at(s.key()).files.count(relative_to(index_labels_path(relabelled.file), s.store())) == 1);

    // Damaged labels are written again, not trusted.
    write_bytes(index_labels_path(relabelled.file), "not labels");
    CHECK(update(s).labels_written);
}

TEST_CASE("the manifest's indexes entry and the header name the set, its checksum and its count") {
    SyntheticStore s;
    s.add(files("a/", 25));
    IndexBuildResult built = update(s);
    nlohmann::json manifest = nlohmann::json::parse(read_text_file(s.store() + "/manifest.json"));
    REQUIRE(manifest.contains("indexes"));
    REQUIRE(manifest["indexes"].contains(s.key()));
    const nlohmann::json& entry = manifest["indexes"][s.key()];
    const int64_t generation = manifest["generation"].get<int64_t>();
    CHECK(entry["generation"].get<int64_t>() == generation);
    CHECK(entry["file"].get<std::string>() == fmt::format("indexes/{}/{:08}.hnsw", s.key(), generation));
    CHECK(join_path(s.store(), entry["file"].get<std::string>()) == built.file);
    CHECK(StoreReader(s.store()).manifest().indexes.at(s.key()).file == entry["file"].get<std::string>());

    nlohmann::json header = nlohmann::json::parse(read_text_file(index_header_path(built.file)));
    CHECK(header["format"] == "audiosim-index");
    CHECK(header["format_version"] == 1);
    CHECK(header["model_id"] == "test-model@1");
    CHECK(header["profile"] == "sample");
    CHECK(header["dim"] == 64);
    CHECK(header["count"] == 100);
    CHECK(header["deleted"] == 0);
    CHECK(header["embeddings_checksum"] == fmt::format("{:016x}", embeddings_checksum(s.writer().load_embeddings(s.key()))));
}

TEST_CASE("an unknown set is an input error naming the sets there are") {
    SyntheticStore s;
    s.add(files("a/", 2));
    auto [kind, message] = error_of([&] { update_index(s.writer(), "oneshot/none@1", {}); });
    CHECK(kind == ErrorKind::input);
    CHECK_MESSAGE(contains(message, "oneshot/none@1"), message);
    CHECK_MESSAGE(contains(message, s.key()), message);
}

TEST_SUITE_END();

TEST_CASE("index_misfit: an index serves only the set it was built for") {
    audiosim::EmbeddingSet set{"m-1", "sample", 8, {}, {}};
    audiosim::IndexHeader header;
    header.model_id = "m-1";
    header.profile = "sample";
    header.dim = 8;
    CHECK(audiosim::index_misfit(header, set).empty());
    header.dim = 16;
    CHECK(audiosim::index_misfit(header, set) == "built for sample/m-1 (dim 16), not sample/m-1 (dim 8)");
    header.dim = 8;
    header.model_id = "m-2";
    CHECK(audiosim::index_misfit(header, set) == "built for sample/m-2 (dim 8), not sample/m-1 (dim 8)");
    header.model_id = "m-1";
    header.profile = "music";
    CHECK(audiosim::index_misfit(header, set) == "built for music/m-1 (dim 8), not sample/m-1 (dim 8)");
}
