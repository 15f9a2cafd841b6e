// lib/store/embeddings: embedding segments and the merged table, here for what a segment records
// besides vectors: the files that could not be embedded.
#include <cstdint>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "store/embeddings.hpp"
#include "support.hpp"

using audiosim::EmbeddingDelta;
using audiosim::EmbeddingTable;
using audiosim::FailureMap;
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

TEST_SUITE_END();
