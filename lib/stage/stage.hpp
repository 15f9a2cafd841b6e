// What each stage has left to do, and when it commits: the same rules for the engines that do the
// work (ingest, chunk, embed) and for `status`, which counts it, so the two never disagree.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "store/catalog.hpp"
#include "store/chunks.hpp"
#include "store/embeddings.hpp"

namespace audiosim {

// The files of one stage's set (a chunk profile, or a model's embeddings of one), sorted by path.
struct StagePlan {
    std::vector<const FileRecord*> todo;
    std::vector<const FileRecord*> up_to_date;
    size_t failed_before = 0;               // failed in an earlier run, unchanged since: not tried without retry
    std::vector<uint64_t> dropped;          // results of files that changed or left the catalog: to remove
    std::vector<uint64_t> stale_failures;   // failure records of such files: forgotten

    std::vector<uint64_t> removals() const;  // dropped, then stale_failures: what the first commit removes
};

// Files with status ok that have no chunks of the table's profile.
StagePlan plan_chunking(const Catalog& catalog, const ChunkTable& chunks, bool retry_failed);

// Files with chunks of the profile that have no vectors yet, unless every chunk is flagged. Files
// not chunked yet are not in it: embed chunks them first (plan_chunking's todo).
StagePlan plan_embedding(const Catalog& catalog, const ChunkTable& chunks, const EmbeddingTable& embeddings,
                         bool retry_failed);

// False when every chunk is flagged (silent, dc, noise floor, empty): such a file has nothing to embed.
bool has_embeddable_chunk(const std::vector<Chunk>& chunks);

// Long runs commit as they go, so a kill loses little: every `every_files` files (0: never by
// count) or after `interval_seconds`, whichever comes first.
class CommitCadence {
public:
    CommitCadence(double interval_seconds, size_t every_files);
    bool due(size_t pending_files) const;
    void committed();  // restarts the interval

private:
    std::chrono::duration<double> interval_;
    size_t every_files_;
    std::chrono::steady_clock::time_point last_;
};

}  // namespace audiosim
