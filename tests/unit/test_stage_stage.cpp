// lib/stage/stage: what chunk and embed have left to do (the rules `status` counts by too), and
// the commit cadence of every engine.
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "stage/stage.hpp"

using namespace audiosim;

namespace {

FileRecord record(uint64_t id, const std::string& path, FileStatus status = FileStatus::ok) {
    FileRecord file;
    file.file_id = id;
    file.path = path;
    file.status = status;
    return file;
}

Chunk chunk(uint64_t chunk_id, uint64_t file_id, uint8_t flags = 0) {
    Chunk c;
    c.chunk_id = chunk_id;
    c.file_id = file_id;
    c.flags = flags;
    return c;
}

std::vector<std::string> paths(const std::vector<const FileRecord*>& files) {
    std::vector<std::string> names;
    for (const FileRecord* file : files) names.push_back(file->path);
    return names;
}

// Files 1..5 ok (c.wav, a.wav, b.wav, d.wav, e.wav), 6 corrupt.
Catalog six_files() {
    Catalog catalog;
    catalog.apply({{record(1, "c.wav"), record(2, "a.wav"), record(3, "b.wav"), record(4, "d.wav"), record(5, "e.wav"),
                    record(6, "bad.wav", FileStatus::corrupt)},
                   {}});
    return catalog;
}

}  // namespace

TEST_CASE("plan_chunking: ok files without chunks are to do, in path order; failures wait unless retried") {
    Catalog catalog = six_files();
    ChunkTable chunks;
    // File 2 chunked, file 3 failed before; file 9 (gone from the catalog) has chunks and file 8 a failure.
    chunks.apply({{chunk(1, 2), chunk(2, 9)}, {}, {{3, "cannot decode"}, {8, "gone"}}});

    StagePlan plan = plan_chunking(catalog, chunks, false);
    CHECK(paths(plan.todo) == std::vector<std::string>{"c.wav", "d.wav", "e.wav"});
    CHECK(paths(plan.up_to_date) == std::vector<std::string>{"a.wav"});
    CHECK(plan.failed_before == 1);
    CHECK(plan.dropped == std::vector<uint64_t>{9});
    CHECK(plan.stale_failures == std::vector<uint64_t>{8});
    CHECK(plan.removals() == std::vector<uint64_t>{9, 8});

    StagePlan retried = plan_chunking(catalog, chunks, true);
    CHECK(paths(retried.todo) == std::vector<std::string>{"b.wav", "c.wav", "d.wav", "e.wav"});
    CHECK(retried.failed_before == 0);
}

TEST_CASE("plan_embedding: chunked files without vectors, unless every chunk is flagged") {
    Catalog catalog = six_files();
    ChunkTable chunks;
    // 1: two chunks, one flagged; 2: only flagged chunks (nothing to embed); 3: embedded already;
    // 4: failed to embed before; 5: not chunked (embed chunks it first, outside this plan).
    chunks.apply({{chunk(1, 1), chunk(2, 1, 1), chunk(3, 2, 1), chunk(4, 3), chunk(5, 4)}, {}});
    EmbeddingTable embeddings;
    EmbeddingDelta delta;
    delta.dim = 2;
    delta.chunk_ids = {4, 50};
    delta.file_ids = {3, 7};  // 7: gone from the catalog
    delta.vectors = {1, 0, 0, 1};
    delta.failed = {{4, "model failed"}};
    embeddings.apply(delta);

    StagePlan plan = plan_embedding(catalog, chunks, embeddings, false);
    CHECK(paths(plan.todo) == std::vector<std::string>{"c.wav"});
    CHECK(paths(plan.up_to_date) == std::vector<std::string>{"a.wav", "b.wav"});
    CHECK(plan.failed_before == 1);
    CHECK(plan.dropped == std::vector<uint64_t>{7});
    CHECK(plan.stale_failures.empty());
    CHECK(paths(plan_embedding(catalog, chunks, embeddings, true).todo) == std::vector<std::string>{"c.wav", "d.wav"});
}

TEST_CASE("has_embeddable_chunk: false without chunks or when every chunk is flagged") {
    CHECK_FALSE(has_embeddable_chunk({}));
    CHECK_FALSE(has_embeddable_chunk({chunk(1, 1, chunk_silent), chunk(1, 1, chunk_empty)}));
    CHECK_FALSE(has_embeddable_chunk({chunk(1, 1, chunk_dc | chunk_noise_floor)}));
    CHECK(has_embeddable_chunk({chunk(1, 1, chunk_silent), chunk(1, 1)}));
    CHECK(has_embeddable_chunk({chunk(1, 1)}));
}

TEST_CASE("CommitCadence: by count, by time, never with nothing pending") {
    CommitCadence by_count(3600, 3);
    CHECK_FALSE(by_count.due(0));
    CHECK_FALSE(by_count.due(2));
    CHECK(by_count.due(3));

    CommitCadence by_time(0.05, 0);
    CHECK_FALSE(by_time.due(1000));  // no count rule
    std::this_thread::sleep_for(std::chrono::milliseconds(80));
    CHECK(by_time.due(1));
    CHECK_FALSE(by_time.due(0));
    by_time.committed();
    CHECK_FALSE(by_time.due(1));
}
