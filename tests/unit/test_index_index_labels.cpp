// lib/index/index_labels: labels built from a real store's tables, saved and mapped back, and
// damaged files refused with Error(format) naming the file.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "index/index_labels.hpp"
#include "support.hpp"
#include "util/fs.hpp"

using namespace audiosim;
using audiosim::test::contains;
using audiosim::test::error_of;
using audiosim::test::SyntheticStore;
using audiosim::test::TempFolder;
using audiosim::test::write_bytes;

namespace {

IndexLabels labels_of(SyntheticStore& s) {
    StoreWriter& w = s.writer();
    const EmbeddingSet& set = w.manifest().embedding_sets.at(s.key());
    return IndexLabels::build(w.catalog(), w.load_chunks(set.profile), w.load_embeddings(s.key()), labels_basis(w.manifest(), set), 42);
}

std::string saved(const IndexLabels& labels, const TempFolder& folder) {
    WriterStamp stamp{"audiosim index", 7, "/library"};
    return labels.save(folder.file("00000007.hnsw.labels"), stamp, "model-1", "sample");
}

// Every lookup the query engine makes, checked against what the store holds.
void check_lookups(const IndexLabels& labels, SyntheticStore& s, const std::vector<uint64_t>& file_ids,
                   const std::vector<std::string>& paths) {
    REQUIRE(labels.file_count() == file_ids.size());
    size_t chunks = 0;
    for (size_t i = 0; i < file_ids.size(); ++i) {
        size_t row = labels.find_file(file_ids[i]);
        REQUIRE(row != IndexLabels::npos);
        LabelledFile file = labels.file(row);
        CHECK(file.file_id == file_ids[i]);
        CHECK(file.path == paths[i]);
        CHECK(labels.find_path(paths[i]) == row);
        CHECK(labels.files_with_hash(file.hash) == std::vector<uint64_t>{file_ids[i]});
        CHECK(labels.chunks_of_file(row) == s.chunk_ids(file_ids[i]));
        for (size_t c = 0; c < s.chunk_ids(file_ids[i]).size(); ++c) {
            size_t chunk_row = labels.find_chunk(s.chunk_ids(file_ids[i])[c]);
            REQUIRE(chunk_row != IndexLabels::npos);
            LabelledChunk chunk = labels.chunk(chunk_row);
            CHECK(chunk.file_id == file_ids[i]);
            CHECK(chunk.start == static_cast<double>(c));  // SyntheticStore: chunk c starts at c s
            CHECK(chunk.duration == 2.0);
            ++chunks;
        }
    }
    CHECK(labels.chunk_count() == chunks);
    CHECK(labels.find_chunk(0) == IndexLabels::npos);
    CHECK(labels.find_chunk(1u << 30) == IndexLabels::npos);
    CHECK(labels.find_file(1u << 30) == IndexLabels::npos);
    CHECK(labels.find_path("nowhere.wav") == IndexLabels::npos);
    labels.validate();
}

// The file with its JSON header's text `from` replaced by `to` (of the same length).
void edit_header(const std::string& path, const std::string& from, const std::string& to) {
    REQUIRE(from.size() == to.size());
    std::string bytes = read_text_file(path);
    size_t at = bytes.find(from);
    REQUIRE(at != std::string::npos);
    bytes.replace(at, from.size(), to);
    write_bytes(path, bytes);
}

}  // namespace

TEST_SUITE_BEGIN("index/index_labels");

TEST_CASE("labels built from the tables name every live chunk's file and region; the saved file maps back the same") {
    SyntheticStore s;
    std::vector<std::string> paths = {"a/one.wav", "a/two.wav", "b/three.wav", "b/with space é.wav"};
    std::vector<uint64_t> ids = s.add({{paths[0], 0, 3}, {paths[1], 1, 1}, {paths[2], 2, 5}, {paths[3], 3, 2}});
    IndexLabels built = labels_of(s);
    check_lookups(built, s, ids, paths);
    CHECK(built.embeddings_checksum() == 42);

    TempFolder folder;
    IndexLabels opened = IndexLabels::open(saved(built, folder));
    check_lookups(opened, s, ids, paths);
    CHECK(opened.basis() == built.basis());
    CHECK(opened.embeddings_checksum() == 42);
}

TEST_CASE("elements are kept when given, unknown otherwise; a file without the section reads as unknown") {
    SyntheticStore s;
    s.add({{"a.wav", 0, 3}, {"b.wav", 1, 2}});
    StoreWriter& w = s.writer();
    const EmbeddingSet& set = w.manifest().embedding_sets.at(s.key());
    auto element_of = [](uint64_t chunk_id) -> std::optional<uint32_t> {
        if (chunk_id == 2) return std::nullopt;  // a chunk the index lacks
        return static_cast<uint32_t>(chunk_id * 10);
    };
    IndexLabels labels = IndexLabels::build(w.catalog(), w.load_chunks(set.profile), w.load_embeddings(s.key()),
                                            labels_basis(w.manifest(), set), 42, element_of);
    TempFolder folder;
    const std::string path = saved(labels, folder);
    IndexLabels opened = IndexLabels::open(path);
    for (const IndexLabels* each : {&labels, &opened})
        for (uint64_t chunk_id = 1; chunk_id <= 5; ++chunk_id) {
            LabelledChunk chunk = each->chunk(each->find_chunk(chunk_id));
            CHECK(chunk.element == (chunk_id == 2 ? no_element : chunk_id * 10));
        }
    CHECK(labels_of(s).chunk(0).element == no_element);  // built without element_of

    // Labels written before the section existed: its name unknown to the reader, as if absent.
    edit_header(path, "\"chunk_elements\"", "\"chunk_elementz\"");
    IndexLabels older = IndexLabels::open(path);
    older.validate();
    CHECK(older.chunk(older.find_chunk(1)).element == no_element);
    CHECK(older.chunk(older.find_chunk(1)).start == 0.0);
}

TEST_CASE("a file left out of the catalog after it was embedded has no labels; an unembedded one has no chunks") {
    SyntheticStore s;
    std::vector<uint64_t> ids = s.add({{"keep.wav", 0, 2}, {"gone.wav", 1, 2}});
    CatalogDelta delta;
    delta.removed_paths = {"gone.wav"};
    s.writer().commit(delta);
    s.add_unchunked("fresh.wav");
    IndexLabels labels = labels_of(s);
    CHECK(labels.find_file(ids[1]) == IndexLabels::npos);
    for (uint64_t chunk_id : s.chunk_ids(ids[1])) CHECK(labels.find_chunk(chunk_id) == IndexLabels::npos);
    REQUIRE(labels.find_path("fresh.wav") != IndexLabels::npos);
    CHECK(labels.chunks_of_file(labels.find_path("fresh.wav")).empty());
    CHECK(labels.chunk_count() == 2);
    labels.validate();
}

TEST_CASE("the basis names the catalog's, the profile's and the set's segments, and changes when one does") {
    SyntheticStore s;
    s.add({{"a.wav", 0, 2}});
    const Manifest& manifest = s.writer().manifest();
    nlohmann::json before = labels_basis(manifest, manifest.embedding_sets.at(s.key()));
    CHECK(before.at("catalog").size() == manifest.catalog.size());
    CHECK(before.at("embeddings").at(0).at("file") == manifest.embedding_sets.at(s.key()).segments.at(0).file);
    s.add({{"b.wav", 0, 2}});
    CHECK(labels_basis(s.writer().manifest(), s.writer().manifest().embedding_sets.at(s.key())) != before);
}

TEST_CASE("empty labels save and map back") {
    SyntheticStore s;
    s.add({{"a.wav", 0, 2}});
    CatalogDelta delta;
    delta.removed_paths = {"a.wav"};
    s.writer().commit(delta);
    TempFolder folder;
    IndexLabels labels = IndexLabels::open(saved(labels_of(s), folder));
    CHECK(labels.chunk_count() == 0);
    CHECK(labels.file_count() == 0);
    CHECK(labels.find_chunk(1) == IndexLabels::npos);
    labels.validate();
}

TEST_CASE("damaged, truncated, foreign and newer labels files are refused, naming the file") {
    SyntheticStore s;
    s.add({{"a.wav", 0, 3}, {"b.wav", 1, 2}});
    TempFolder folder;
    std::string path = saved(labels_of(s), folder);
    std::string good = read_text_file(path);

    auto refused = [&](const std::string& cause) {
        auto [kind, message] = error_of([&] { IndexLabels::open(path).validate(); });
        CHECK(kind == ErrorKind::format);
        CHECK(contains(message, path));
        CHECK_MESSAGE(contains(message, cause), message);
        write_bytes(path, good);
    };
    SUBCASE("empty") {
        write_bytes(path, "");
        refused("truncated");
    }
    SUBCASE("cut inside the header") {
        write_bytes(path, good.substr(0, 40));
        refused("header length");
    }
    SUBCASE("cut inside the rows") {
        write_bytes(path, good.substr(0, good.size() - 20));
        refused("does not fit");
    }
    SUBCASE("another format") {
        edit_header(path, "audiosim-index-labels", "audiosim-index-lapels");
        refused("format 'audiosim-index-lapels'");
    }
    SUBCASE("a newer version") {
        edit_header(path, "\"format_version\":1", "\"format_version\":9");
        refused("as version 9; this audiosim reads up to version 1");
    }
    SUBCASE("a header that is not JSON") {
        edit_header(path, "{\"basis\"", "[\"basis\"");
        refused("header is damaged");
    }
    SUBCASE("a chunk row naming a file row past the files") {
        // chunk_files is the second section: 5 chunk ids (8 bytes each) after the data start.
        uint64_t header_bytes = 0;
        std::memcpy(&header_bytes, good.data(), sizeof header_bytes);
        std::string bytes = good;
        const size_t chunk_files = sizeof header_bytes + header_bytes + 5 * 8;
        bytes[chunk_files] = '\x7f';
        write_bytes(path, bytes);
        refused("names file row 127 of 2");
    }
    SUBCASE("chunk ids out of order") {
        uint64_t header_bytes = 0;
        std::memcpy(&header_bytes, good.data(), sizeof header_bytes);
        std::string bytes = good;
        const size_t chunk_ids = sizeof header_bytes + header_bytes;
        std::swap_ranges(bytes.begin() + static_cast<std::ptrdiff_t>(chunk_ids),
                         bytes.begin() + static_cast<std::ptrdiff_t>(chunk_ids + 8),
                         bytes.begin() + static_cast<std::ptrdiff_t>(chunk_ids + 8));
        write_bytes(path, bytes);
        refused("not ascending");
    }
    CHECK(error_of([&] { IndexLabels::open(folder.file("missing.labels")); }).first == ErrorKind::input);
}

TEST_SUITE_END();
