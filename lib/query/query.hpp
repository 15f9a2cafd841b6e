// `audiosim query`: the stored chunks nearest to each query chunk, fused per file (query/fusion.hpp).
//
// Where the neighbours come from: the set's index when it has one; chunks embedded since it was
// built are searched exactly and chunks removed since are skipped, so a stale index still gives
// the answer an up-to-date one would. Without an index, or with `exact`, all of it is exact search.
// Filters (metadata, self-exclusion) are part of the search: each chunk gets its k nearest among
// the chunks that pass, searched exactly when few pass, else through the index with a candidate
// list grown until k of them are found.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "index/exact_search.hpp"
#include "index/hnsw_index.hpp"
#include "index/index_labels.hpp"
#include "query/fusion.hpp"
#include "store/store.hpp"

namespace audiosim {

// The query's chunks: where each lies in the query audio, and its vector.
struct QueryInput {
    std::string name;  // as given: a path, an item
    std::vector<double> starts, durations;
    std::vector<float> vectors;  // starts.size() x dim, L2-normalized
    std::optional<uint64_t> self_file_id;  // an --item query: the stored file itself
    std::optional<uint64_t> content_hash;  // a file query: stored files with these bytes are "self"
    size_t chunks() const { return starts.size(); }
};

// FIELD=VALUE on a stored file: `folder` (the file is in that folder or below it, relative to
// the library root), `tags` (VALUE is one of the comma- or semicolon-separated tags), `path`
// (the catalog path), any other name: a metadata column equal to VALUE.
struct MetadataFilter {
    std::string field;
    std::string value;
};
MetadataFilter parse_metadata_filter(const std::string& text);  // Error(usage) without '=' or a field
// Filters of one field are alternatives (OR); filters of different fields must all hold (AND).
bool passes_filters(const FileRecord& file, const std::vector<MetadataFilter>& filters);
// Error(usage) for a filter whose field is neither folder, tags, path nor a metadata column of the catalog.
void check_filter_fields(const Catalog& catalog, const std::vector<MetadataFilter>& filters);

struct QueryOptions {
    size_t limit = 10;
    std::optional<double> min_score;
    size_t neighbours = 100;  // k nearest chunks per query chunk
    FusionOptions fusion;
    std::vector<MetadataFilter> filters;
    bool exclude_self = false;  // the item itself, or stored files with the query's bytes
    bool explain = false;       // keep each query chunk's hits in the result
};

struct QueryResult {
    std::vector<FileMatch> files;         // best first, at most limit, score >= min_score
    std::vector<QueryChunkHits> chunks;   // with explain: every query chunk's hits
    size_t candidate_files = 0;           // files any chunk hit, before limit and min_score
    double seconds = 0;                   // search and fusion (not loading, not embedding the query)
};

class QueryEngine {
public:
    struct Options {
        bool exact = false;          // search everything exactly, with `exact_factory` (e.g. torch)
        ExactSearchFactory exact_factory;  // unset: audiosim's CPU exact search
        unsigned threads = 1;
    };

    // Loads what queries of set `key` need: with an index whose labels describe the store as it is,
    // only the index and its labels, both mapped (a query reads the rows it touches); otherwise
    // the catalog, the chunk table and the set's ids. `store` must outlive the engine: a filter
    // reads the catalog from it when first used. Error(input) for an unknown set; Error(format)
    // for an index that cannot be loaded (the message says to run `audiosim index`).
    QueryEngine(StoreReader& store, const std::string& key, Options options);
    ~QueryEngine();

    const Catalog& catalog() const;  // read on first use
    const EmbeddingSet& set() const { return set_; }
    const ChunkProfile& profile() const { return profile_; }
    // Where answers come from: "index", "index + exact search of N chunks added since it was built",
    // "exact search (no index: run audiosim index)", "exact search (--exact, DEVICE)"; a current
    // index whose labels could not be used: "index (store tables read: its labels predate ...)".
    std::string source() const;

    // A stored file by catalog path, absolute path or file id. Error(input) naming it when it is
    // not in the catalog or has no vectors in this set.
    QueryInput item(const std::string& path_or_id) const;
    std::optional<LabelledFile> file(uint64_t file_id) const;  // a file of status ok

    QueryResult run(const QueryInput& query, const QueryOptions& options) const;

private:
    struct Subset;  // the chunks that pass one set of filters, with their exact searcher
    std::vector<float> vectors_of(const std::vector<uint64_t>& chunk_ids) const;
    bool indexed(uint64_t chunk_id) const;  // a chunk of the store the index holds
    std::optional<LabelledChunk> live_chunk(uint64_t chunk_id) const;
    std::string_view path_of(uint64_t file_id) const;
    const Subset& subset_for(const std::vector<MetadataFilter>& filters) const;
    Neighbours search_chunk(const float* vector, size_t k, const Subset& subset,
                            const std::unordered_set<uint64_t>& excluded_files) const;

    StoreReader& store_;
    std::string library_root_;
    EmbeddingSet set_;
    ChunkProfile profile_;
    Options options_;
    mutable std::optional<Catalog> catalog_;
    std::optional<IndexLabels> labels_;  // the live chunks with vectors, and the files of status ok
    bool labels_from_index_ = false;     // mapped from the index's labels file, not built from the tables
    std::optional<HnswIndex> index_;
    bool index_current_ = false;  // built from the set's chunks as they are now
    size_t unindexed_ = 0;  // live chunks the index lacks
    EmbeddingTable vectors_;  // loaded when the index cannot serve every vector
    std::unordered_map<uint64_t, const float*> stored_vector_;  // into vectors_
    mutable std::unordered_map<std::string, std::unique_ptr<Subset>> subsets_;
};

}  // namespace audiosim
