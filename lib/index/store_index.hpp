// The index of an embedding set, kept in step with the store: `audiosim index` builds it, updates
// it incrementally (new chunks added, chunks of changed or removed files marked deleted) or
// rebuilds it; status and query compare it with the set through the checksum in its header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "index/hnsw_index.hpp"
#include "store/store.hpp"

namespace audiosim {

// XXH3-64 over the sorted chunk ids of a set (ids alone are enough: a chunk id is never reused,
// and a set's vectors for a chunk never change). A table read without vectors gives the same.
uint64_t embeddings_checksum(const EmbeddingTable& table);

// Why an index cannot serve `set` (built for another dimension, model or profile), or "" when it fits.
std::string index_misfit(const IndexHeader& header, const EmbeddingSet& set);

struct IndexBuildOptions {
    // Unset: the existing index's value, or the default of IndexParams for a new one. A changed
    // M or ef_construction rebuilds; a changed ef_search only rewrites the header.
    std::optional<size_t> M, ef_construction, ef_search;
    bool rebuild = false;
    double max_deleted_share = 0.2;  // an update leaving more of the graph deleted rebuilds instead
    unsigned threads = 1;
};

struct IndexBuildResult {
    std::string key;
    std::string action;  // "built", "rebuilt", "updated" or "up to date"
    std::string reason;  // why it was rebuilt
    size_t added = 0;    // vectors added by an update (all of them for a build)
    size_t removed = 0;  // vectors marked deleted by an update
    size_t count = 0;    // live vectors afterwards
    size_t deleted = 0;  // deleted vectors still in the graph afterwards
    IndexParams params;
    bool labels_written = false;  // the labels file (index/index_labels.hpp) was written
    std::string file;    // the payload, absolute
    double seconds = 0;
};

// Brings the index of set `key` up to date and commits it. An index that cannot be loaded (damaged,
// truncated, another version) is rebuilt and the reason says why. Error(input) for an unknown set.
IndexBuildResult update_index(StoreWriter& store, const std::string& key, const IndexBuildOptions& options);

enum class IndexState { missing, up_to_date, stale, unreadable };
const char* index_state_name(IndexState state);  // "missing", "up to date", "stale", "unreadable"

struct IndexStatus {
    IndexState state = IndexState::missing;
    std::string file;      // absolute, when there is one
    IndexHeader header;    // when readable
    std::string error;     // when unreadable
    size_t set_vectors = 0;
    // Its labels describe the store as it is: a query reads them instead of the store's tables.
    bool labels_current = false;
};

// Compares the header of the set's index (the payload is not read) with `set` (ids are enough).
IndexStatus index_status(const std::string& store_path, const Manifest& manifest, const std::string& key,
                         const EmbeddingTable& set);

// Recall@k of the index against exact search over the set's vectors, on `queries` sampled chunks.
double verify_index(const HnswIndex& index, const EmbeddingTable& set, size_t k, size_t queries, uint64_t seed,
                    unsigned threads);

}  // namespace audiosim
