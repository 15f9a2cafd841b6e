// `audiosim pairs`: every file against its k most similar files, pairs above a score kept; groups;
// duplicate clusters with a suggested keeper. Never deletes anything.
//
// File-level similarity: a file's vector is the L2-normalized mean of its chunk vectors (flagged
// chunks have none), the one `eval` scores with; two files score the cosine of their vectors.
// It is symmetric, so each pair is found from either side and kept once. Candidates come from an
// hnswlib index over the file vectors (default) or from exact search (blocked matrix products;
// with a torch factory, on the GPU when present).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "index/exact_search.hpp"
#include "index/hnsw_index.hpp"
#include "store/catalog.hpp"
#include "store/embeddings.hpp"

namespace audiosim {

struct FilePair {
    uint64_t a = 0, b = 0;  // file ids; a's path sorts before b's
    float score = 0;
    std::string group;      // with --group-by: the group both are in ("" without)
};

struct GroupSummary {
    size_t files = 0;   // files with a vector in the group
    size_t pairs = 0;   // pairs kept
    double mean_score = 0;  // of the kept pairs
};

struct PairOptions {
    size_t k = 10;            // nearest files per file
    double min_score = 0.7;
    std::string group_by;     // "": no groups; folder, tags, or a metadata column
    bool exact = false;
    IndexParams index_params; // for the ANN over file vectors
    // Up to this many files, all against all on the CPU costs less than building the index on one
    // thread (2,500 files of 163-d: 0.08 s against 0.4 s; the index pays from ~12,000), and the
    // neighbours are exact.
    size_t exact_up_to_files = 8192;
    unsigned threads = 1;
    ExactSearchFactory exact_factory;  // unset: audiosim's CPU exact search
};

struct PairsResult {
    std::vector<FilePair> pairs;  // by score (highest first), then a's path, b's path, group
    std::map<std::string, GroupSummary> groups;  // per group ("" without --group-by)
    size_t files = 0;             // files with a vector
    size_t files_without_vector = 0;
    std::string method;           // "hnsw (M 16, ef ...)", or "exact (DEVICE)" with --exact or few files
    double seconds = 0;
};

// The groups of a file for --group-by FIELD: its folder (parent path, "." at the root), its tags
// (comma or semicolon separated, each a group), or the value of a metadata column; none when the
// value is missing or empty.
std::vector<std::string> file_groups(const FileRecord& file, const std::string& field);
// Error(usage) for a FIELD other than "" (no groups), folder, tags or a metadata column of the catalog.
void check_group_field(const Catalog& catalog, const std::string& field);

// The file vectors of every ok catalog file that has chunk vectors: ids in path order.
struct FileVectorTable {
    std::vector<uint64_t> ids;
    std::vector<float> vectors;  // ids.size() x dim
    size_t dim = 0;
};
FileVectorTable file_vector_table(const Catalog& catalog, const EmbeddingTable& embeddings);

// The score of two file vectors: their dot product summed in double precision in a fixed order
// (both are unit vectors), the same wherever it is computed.
float pair_score(const float* a, const float* b, size_t dim);

// The rows of `table` in each group of --group-by FIELD (file_groups), in path order; with an empty
// field one group, "", of every row. A file in no group is in none.
std::map<std::string, std::vector<size_t>> group_rows(const Catalog& catalog, const FileVectorTable& table,
                                                      const std::string& field);

PairsResult find_pairs(const Catalog& catalog, const EmbeddingTable& embeddings, const PairOptions& options);

// Duplicate clusters: files joined (union-find) when they have the same content hash, or when a
// pair scores at least `near_threshold` and `same_sound` confirms it (unset: every such pair; the
// pairs command passes the waveform check of pairs/verify.hpp). Each cluster has two files or more.
struct DuplicateCluster {
    std::vector<uint64_t> files;  // keeper first, then by path
    uint64_t keeper = 0;
    bool exact_only = false;      // every member has the same bytes
    float min_score = 1;          // the lowest pair score that joined it (1 for exact copies)
};

// The keeper: lossless before lossy, then the higher sample rate, the deeper sample format, more
// channels, the longer duration; among equals the older file (mtime), then the path with fewer
// marks of a copy (" copy", "Copy of ", " - Copy", "_copy", "-copy", " (1)", "-2".."-9", per
// folder and name: docs/CLI.md), the shorter path, and finally the path that sorts first.
bool better_keeper(const FileRecord& a, const FileRecord& b);

std::vector<DuplicateCluster> duplicate_clusters(
    const Catalog& catalog, const std::vector<FilePair>& pairs, double near_threshold,
    const std::function<bool(const FileRecord&, const FileRecord&)>& same_sound = nullptr);

// Connected components of the pairs (score >= min_score), largest first: --clusters.
std::vector<std::vector<uint64_t>> pair_components(const Catalog& catalog, const std::vector<FilePair>& pairs,
                                                   double min_score);

}  // namespace audiosim
