// lib/store/embeddings: embedding segments and the merged table: vectors replaced per file, file
// vectors, the unit-length check on read, and the files that could not be embedded.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "store/embeddings.hpp"
#include "support.hpp"

using audiosim::EmbeddingDelta;
using audiosim::EmbeddingTable;
using audiosim::ErrorKind;
using audiosim::FailureMap;
using audiosim::FileVectors;
using audiosim::test::contains;
using audiosim::test::error_of;
using audiosim::test::TempFolder;

namespace {

EmbeddingDelta vectors_of(std::vector<uint64_t> file_ids) {
    EmbeddingDelta delta;
    delta.dim = 2;
    for (uint64_t file_id : file_ids) {
        delta.chunk_ids.push_back(100 + file_id);
        delta.file_ids.push_back(file_id);
        delta.vectors.insert(delta.vectors.end(), {1.0f, 0.0f});
    }
    return delta;
}

const audiosim::EmbeddingSetInfo info{"m-1-0123456789ab", "sample", "{}"};

}  // namespace

TEST_SUITE_BEGIN("store/embeddings");

TEST_CASE("failed files: round trip, replace vectors and are replaced by them, dropped with them") {
    TempFolder folder;
    EmbeddingDelta delta = vectors_of({1});
    delta.failed = {{2, "cannot resample 1 Hz to 22050 Hz"}};
    audiosim::write_embedding_segment(folder.file("s.h5"), info, delta, {"c", 1, ""});
    EmbeddingDelta back = audiosim::read_embedding_segment(folder.file("s.h5"));
    REQUIRE(back.failed.size() == 1);
    CHECK(back.failed[0].file_id == 2);
    CHECK(back.failed[0].error == "cannot resample 1 Hz to 22050 Hz");
    CHECK(audiosim::read_embedding_segment(folder.file("s.h5"), false).failed.size() == 1);  // status reads ids only

    EmbeddingTable table;
    table.apply(back);
    CHECK(table.has_file(1));
    CHECK(table.failed() == FailureMap{{2, "cannot resample 1 Hz to 22050 Hz"}});
    EmbeddingDelta later = vectors_of({2});
    later.failed = {{1, "decoding failed"}};
    table.apply(later);
    CHECK(table.failed() == FailureMap{{1, "decoding failed"}});
    CHECK_FALSE(table.has_file(1));
    CHECK(table.has_file(2));
    EmbeddingDelta dropped;
    dropped.dropped_file_ids = {1};
    table.apply(dropped);
    CHECK(table.failed().empty());
}

TEST_CASE("a segment written before failures were recorded reads with none") {
    TempFolder folder;
    std::string path = folder.file("old.h5");
    EmbeddingDelta delta = vectors_of({1, 2});
    delta.failed = {{3, "x"}};
    audiosim::write_embedding_segment(path, info, delta, {"c", 1, ""});
    audiosim::test::remove_h5_links(path, {"failed"});
    EmbeddingDelta back = audiosim::read_embedding_segment(path);
    CHECK(back.chunk_ids.size() == 2);
    CHECK(back.failed.empty());
}

TEST_CASE("the table: a file's vectors replaced whole by a later segment, dropped files, ids and the flat matrix") {
    EmbeddingTable table;
    EmbeddingDelta first;
    first.dim = 2;
    first.chunk_ids = {7, 5, 9};
    first.file_ids = {2, 1, 2};
    first.vectors = {0, 1, 1, 0, 0.6f, 0.8f};
    table.apply(first);
    CHECK(table.dim() == 2);
    CHECK(table.vector_count() == 3);
    CHECK(table.chunk_ids() == std::vector<uint64_t>{5, 7, 9});
    CHECK(table.by_file().at(2).chunk_ids == std::vector<uint64_t>{7, 9});
    CHECK(table.by_file().at(2).vectors == std::vector<float>{0, 1, 0.6f, 0.8f});

    EmbeddingDelta second;  // file 2 again, with one chunk: its old vectors go
    second.dim = 2;
    second.chunk_ids = {11};
    second.file_ids = {2};
    second.vectors = {-1, 0};
    second.dropped_file_ids = {1};
    table.apply(second);
    CHECK(table.vector_count() == 1);
    CHECK_FALSE(table.has_file(1));
    std::vector<uint64_t> ids;
    std::vector<float> vectors = {99};  // replaced, not appended to
    table.flatten(ids, vectors);
    CHECK(ids == std::vector<uint64_t>{11});
    CHECK(vectors == std::vector<float>{-1, 0});

    EmbeddingDelta wider = vectors_of({3});
    wider.dim = 3;
    wider.vectors = {1, 0, 0};
    auto [kind, message] = error_of([&] { table.apply(wider); });
    CHECK(kind == ErrorKind::format);
    CHECK(contains(message, "dimension 3 where the set has 2"));
    EmbeddingDelta drop_only;  // no vectors: its dimension does not matter
    drop_only.dropped_file_ids = {2};
    table.apply(drop_only);
    CHECK(table.vector_count() == 0);
}

TEST_CASE("mean_file_vector: the normalized mean; zero stays zero; none without chunks; Error(format) for a wrong size") {
    float out[2] = {7, 7};
    CHECK(audiosim::mean_file_vector(FileVectors{{1, 2}, {1, 0, 0, 1}}, 2, out));
    CHECK(out[0] == doctest::Approx(std::sqrt(0.5)));
    CHECK(out[1] == doctest::Approx(std::sqrt(0.5)));
    CHECK(audiosim::mean_file_vector(FileVectors{{1, 2}, {1, 0, -1, 0}}, 2, out));  // opposite chunks
    CHECK(out[0] == 0.0f);
    CHECK(out[1] == 0.0f);
    const float huge = std::numeric_limits<float>::max();
    CHECK(audiosim::mean_file_vector(FileVectors{{1}, {huge, std::numeric_limits<float>::infinity()}}, 2, out));
    CHECK(out[0] == 0.0f);  // a non-finite mean has no direction
    CHECK_FALSE(audiosim::mean_file_vector(FileVectors{}, 2, out));
    CHECK_FALSE(audiosim::mean_file_vector(FileVectors{{1}, {}}, 0, out));
    CHECK(error_of([&] { audiosim::mean_file_vector(FileVectors{{1, 2}, {1, 0, 0}}, 2, out); }).first == ErrorKind::format);
}

namespace {

// A table of 2-D chunk vectors: {file id, {angle in degrees, ...}} per file.
EmbeddingTable table_of(const std::vector<std::pair<uint64_t, std::vector<double>>>& files) {
    EmbeddingDelta delta;
    delta.dim = 2;
    uint64_t chunk = 1;
    for (const auto& [file, angles] : files)
        for (double angle : angles) {
            delta.chunk_ids.push_back(chunk++);
            delta.file_ids.push_back(file);
            delta.vectors.push_back(static_cast<float>(std::cos(angle * M_PI / 180)));
            delta.vectors.push_back(static_cast<float>(std::sin(angle * M_PI / 180)));
        }
    EmbeddingTable table(2);
    table.apply(std::move(delta));
    return table;
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
    double sum = 0;
    for (size_t i = 0; i < a.size(); ++i) sum += static_cast<double>(a[i]) * b[i];
    return sum;
}

}  // namespace

TEST_CASE("fuse_file_vectors: unit vectors whose cosine is the weighted mean of the sets' cosines; files in every set") {
    // set a: file 1 at 0, file 2 at 60 degrees (cosine 0.5); set b: file 1 at 0, file 2 at 90 (0),
    // file 3 only in b. Weights 1 and 3: fused cosine (1 * 0.5 + 3 * 0) / 4 = 0.125.
    EmbeddingTable a = table_of({{1, {0}}, {2, {50, 70}}});  // file 2's mean points at 60 degrees
    EmbeddingTable b = table_of({{1, {0}}, {2, {90}}, {3, {45}}});
    EmbeddingTable fused = audiosim::fuse_file_vectors({{&a, 1.0}, {&b, 3.0}});
    CHECK(fused.dim() == 4);
    REQUIRE(fused.by_file().size() == 2);
    CHECK_FALSE(fused.has_file(3));
    const std::vector<float>& one = fused.by_file().at(1).vectors;
    const std::vector<float>& two = fused.by_file().at(2).vectors;
    CHECK(fused.by_file().at(2).chunk_ids == std::vector<uint64_t>{2});
    CHECK(dot(one, one) == doctest::Approx(1.0));
    CHECK(dot(two, two) == doctest::Approx(1.0));
    CHECK(dot(one, two) == doctest::Approx(0.125).epsilon(1e-6));
    // one set alone: its own file vectors
    EmbeddingTable alone = audiosim::fuse_file_vectors({{&a, 2.5}});
    CHECK(dot(alone.by_file().at(1).vectors, alone.by_file().at(2).vectors) == doctest::Approx(0.5).epsilon(1e-6));
    CHECK(error_of([&] { audiosim::fuse_file_vectors({{&a, 0.0}}); }).first == ErrorKind::usage);
    CHECK(error_of([&] { audiosim::fuse_file_vectors({{&a, -1.0}, {&b, 1.0}}); }).first == ErrorKind::usage);
}

TEST_CASE("vectors that are not of unit length are refused on read, naming the file and the chunk") {
    TempFolder folder;
    EmbeddingDelta delta = vectors_of({1, 2});
    delta.vectors = {1, 0, 0.6f, 0.8f};
    CHECK_NOTHROW(audiosim::check_vectors_normalized("x", delta));
    delta.vectors = {0, 0, 0.6f, 0.8005f};  // zero and within tolerance: allowed
    CHECK_NOTHROW(audiosim::check_vectors_normalized("x", delta));
    for (float bad : {2.0f, 0.5f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
        delta.vectors = {1, 0, bad, 0};
        auto [kind, message] = error_of([&] { audiosim::check_vectors_normalized("seg.h5", delta); });
        CHECK(kind == ErrorKind::format);
        CHECK_MESSAGE(contains(message, "seg.h5: damaged: the vector of chunk 102 has norm"), message);
    }

    delta.vectors = {1, 0, 0, 2};  // written as a buggy writer would
    audiosim::write_embedding_segment(folder.file("s.h5"), info, delta, {"c", 1, ""});
    auto [kind, message] = error_of([&] { audiosim::read_embedding_segment(folder.file("s.h5")); });
    CHECK(kind == ErrorKind::format);
    CHECK(contains(message, folder.file("s.h5") + ": damaged: the vector of chunk 102 has norm 2"));
    EmbeddingDelta ids = audiosim::read_embedding_segment(folder.file("s.h5"), false);  // status: ids only
    CHECK(ids.chunk_ids == std::vector<uint64_t>{101, 102});
    CHECK(ids.vectors.empty());
}

TEST_CASE("a segment round trips; a newer version or another format is Error(format)") {
    TempFolder folder;
    const std::string path = folder.file("s.h5");
    EmbeddingDelta delta = vectors_of({4, 5});
    delta.vectors = {0.6f, 0.8f, 0, 1};
    delta.dropped_file_ids = {1, 2};
    audiosim::write_embedding_segment(path, info, delta, {"c", 1, ""});
    EmbeddingDelta back = audiosim::read_embedding_segment(path);
    CHECK(back.dim == 2);
    CHECK(back.chunk_ids == delta.chunk_ids);
    CHECK(back.file_ids == delta.file_ids);
    CHECK(back.vectors == delta.vectors);
    CHECK(back.dropped_file_ids == delta.dropped_file_ids);

    audiosim::test::set_root_int_attribute(path, "format_version", audiosim::embeddings_format_version + 1);
    auto [kind, message] = error_of([&] { audiosim::read_embedding_segment(path); });
    CHECK(kind == ErrorKind::format);
    CHECK(contains(message, "audiosim-embeddings version " + std::to_string(audiosim::embeddings_format_version + 1)));
}

TEST_SUITE_END();
