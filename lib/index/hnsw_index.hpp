// An approximate nearest-neighbour index over L2-normalized embeddings (cosine similarity), built
// on hnswlib. hnswlib stays behind this header: its payload file has no magic, version or
// dimension, so every index is a pair of files, the payload `path` and our header `path.json`
// (format "audiosim-index", docs/FORMAT.md), and load() trusts neither before checking it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace audiosim {

inline constexpr const char* index_format_name = "audiosim-index";
inline constexpr int64_t index_format_version = 1;

struct IndexParams {
    size_t M = 16;                 // graph degree (2 .. 10000)
    size_t ef_construction = 200;  // candidate list while building
    size_t ef_search = 100;        // candidate list while searching (restored by load())
};

struct IndexHeader {
    std::string model_id;
    std::string profile;
    size_t dim = 0;
    std::string metric = "cosine";  // the only metric: vectors are L2-normalized, similarity = dot
    IndexParams params;
    size_t count = 0;                  // live vectors in the index (kept by build(), add(), remove())
    size_t deleted = 0;                // vectors marked deleted by remove(): still in the graph, never returned
    uint64_t embeddings_checksum = 0;  // the caller's hash over the sorted chunk ids it was built from
    uint64_t payload_hash = 0;         // XXH3 of the payload file (known after save() or load())
};

class HnswIndex {
public:
    HnswIndex(HnswIndex&&) noexcept;
    HnswIndex& operator=(HnswIndex&&) noexcept;
    ~HnswIndex();

    // Builds from `vectors` (ids.size() x header.dim, row-major, L2-normalized); header.count and
    // header.payload_hash are ignored and set here. threads <= 1 builds on the calling thread; with
    // more, the graph (not its quality) depends on scheduling. Throws Error(internal) for sizes
    // that do not match, duplicate ids or bad parameters, Error(input) for non-finite values.
    static HnswIndex build(const IndexHeader& header, const std::vector<uint64_t>& ids,
                           const std::vector<float>& vectors, unsigned threads);

    // Adds vectors under new ids (an id the index holds, even deleted, is refused with
    // Error(internal)); the header's count follows. Same threads and errors as build().
    void add(const std::vector<uint64_t>& ids, const std::vector<float>& vectors, unsigned threads);
    // Marks ids deleted: search() skips them, the graph keeps routing through them until a rebuild.
    // Error(internal) for an id the index does not hold live.
    void remove(const std::vector<uint64_t>& ids);
    std::vector<uint64_t> ids() const;  // the live ids, sorted
    bool contains(uint64_t id) const;   // live
    // The stored vector of a live id (Error(internal) otherwise), appended to `out`.
    void append_vector(uint64_t id, std::vector<float>& out) const;
    // Where a live id's element lies in the payload (none for an id the index lacks): the index
    // labels keep it, so that a mapped index finds an item's vectors without reading every
    // element's id. Cheap on a built or loaded index; a mapped one reads every id the first time.
    std::optional<uint32_t> element_of(uint64_t id) const;
    // append_vector for `id` at `element` (element_of's answer): Error(format) when that element
    // is not `id`, live (labels that do not belong to this payload).
    void append_vector_at(uint32_t element, uint64_t id, std::vector<float>& out) const;
    void set_embeddings_checksum(uint64_t checksum);
    void set_ef_search(size_t ef);  // the header's ef_search (saved with it), used from now on

    // Up to k (id, cosine similarity) pairs, most similar first. `query` holds dim() floats,
    // L2-normalized. Safe to call from several threads at once, but not alongside set_ef().
    std::vector<std::pair<uint64_t, float>> search(const float* query, size_t k) const;

    // Writes the payload to `path`, then the header to `path + ".json"`, each atomically, so a
    // header always describes a complete payload. Returns both paths (the store records each file's
    // checksum). Throws Error(io) when writing fails.
    std::vector<std::string> save(const std::string& path) const;

    // Reads `path + ".json"` and `path`. Throws Error(format) naming the file for a missing or
    // invalid field, another format, a newer version, a payload whose size or XXH3 does not match
    // the header, or one that disagrees with the header (count, dim, M); Error(input) when a file
    // cannot be read. Search uses the header's ef_search afterwards.
    static HnswIndex load(const std::string& path);
    // For search alone: maps `path` read-only instead of reading it, so opening costs the upper
    // levels (a small share) and a search reads only the elements it visits. The payload's XXH3 is
    // not computed: the caller has checked its bytes (the store does, verify_store_file). Its
    // layout is checked like load()'s, links as they are followed, so damage gives Error(format).
    // add(), remove() and save() throw Error(internal); ids(), contains() and append_vector()
    // read every element's id the first time (the whole payload).
    static HnswIndex open(const std::string& path);

    const IndexHeader& header() const;
    size_t dim() const { return header().dim; }
    size_t size() const { return header().count; }
    void set_ef(size_t ef);  // candidate list for search(); k is used when larger

private:
    struct Impl;
    explicit HnswIndex(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

std::string index_header_path(const std::string& payload_path);  // payload_path + ".json"
// The header alone (what status needs), with load()'s checks of it; the payload is not read.
IndexHeader read_index_header(const std::string& payload_path);

// Recall@k of `index` against exact search (dot products over all of `vectors`, ids.size() x dim),
// averaged over min(sample_queries, ids.size()) rows of `vectors` picked by `seed` and used as
// queries. Returns 1 for an empty set or k == 0. Exact search runs on `threads`.
double recall_at_k(const HnswIndex& index, const std::vector<uint64_t>& ids, const std::vector<float>& vectors,
                   size_t dim, size_t k, size_t sample_queries, uint64_t seed, unsigned threads = 1);

}  // namespace audiosim
