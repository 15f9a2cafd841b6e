// What an index's labels (chunk ids) stand for: each live chunk's file and region, and each
// file's catalog path and content hash. `audiosim index` writes them beside the payload
// (`NAME.labels`, format "audiosim-index-labels", docs/FORMAT.md) for the store's tables as they
// were then (its basis); a query maps that file and reads the few rows its answers name, instead
// of reading the catalog, the chunk table and the set's ids (1.8 s for 1,000,000 chunks).
// When the store has changed since, the query builds the same labels in memory from the tables.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/store.hpp"
#include "util/fs.hpp"

namespace audiosim {

inline constexpr const char* index_labels_format_name = "audiosim-index-labels";
inline constexpr int64_t index_labels_format_version = 1;

std::string index_labels_path(const std::string& payload_path);  // payload_path + ".labels"

// The store tables labels of set `set` are made from, as the manifest names them: the catalog's,
// the set's chunk profile's and the set's segments (file and checksum). Segments are never
// rewritten in place, so equal bases mean equal tables.
nlohmann::json labels_basis(const Manifest& manifest, const EmbeddingSet& set);

inline constexpr uint32_t no_element = static_cast<uint32_t>(-1);

struct LabelledChunk {
    uint64_t chunk_id = 0;
    uint64_t file_id = 0;
    double start = 0, duration = 0;  // seconds
    uint32_t element = no_element;   // its element in the index payload (HnswIndex::element_of), when known
};

// Where each chunk lies in the index payload (HnswIndex::element_of), when known.
using ElementOf = std::function<std::optional<uint32_t>(uint64_t chunk_id)>;

struct LabelledFile {
    uint64_t file_id = 0;
    uint64_t hash = 0;      // XXH3-64 of its bytes
    std::string_view path;  // as the catalog has it
};

class IndexLabels {
public:
    static constexpr size_t npos = static_cast<size_t>(-1);

    // The live chunks of a set: those with a vector in `embeddings`, a row in `chunks` and a file
    // of status ok in `catalog`, listed per file in the set's order; every file of status ok.
    // Without `element_of` no chunk's element is known.
    static IndexLabels build(const Catalog& catalog, const ChunkTable& chunks, const EmbeddingTable& embeddings,
                             nlohmann::json basis, uint64_t embeddings_checksum, const ElementOf& element_of = {});
    // Writes the file atomically; returns `path`. Error(io) when writing fails.
    std::string save(const std::string& path, const WriterStamp& stamp, const std::string& model_id,
                     const std::string& profile) const;
    // Maps `path` read-only and checks its header and the sizes of its sections; rows are checked
    // as they are read. Error(format) naming the file for another format, a newer version, a
    // damaged header or sections that do not fit; Error(input) when it cannot be read.
    static IndexLabels open(const std::string& path);
    // Every row: ids ascending, references inside their tables (what audiosim check runs).
    void validate() const;

    IndexLabels(IndexLabels&&) noexcept;
    IndexLabels& operator=(IndexLabels&&) noexcept;
    ~IndexLabels();

    const nlohmann::json& basis() const { return basis_; }
    uint64_t embeddings_checksum() const { return embeddings_checksum_; }
    // Made from the store's tables as `manifest` names them, for set ids hashing to `checksum`:
    // what a query may use in place of those tables.
    bool describes(const Manifest& manifest, const EmbeddingSet& set, uint64_t checksum) const;
    bool knows_elements() const;  // chunk_elements is there and filled (labels written before it are not)

    size_t chunk_count() const { return chunk_count_; }
    size_t file_count() const { return file_count_; }
    size_t find_chunk(uint64_t chunk_id) const;  // its row, or npos
    LabelledChunk chunk(size_t row) const;
    size_t find_file(uint64_t file_id) const;    // its row, or npos
    LabelledFile file(size_t row) const;
    size_t find_path(std::string_view path) const;  // a file's row by catalog path, or npos
    std::vector<uint64_t> files_with_hash(uint64_t hash) const;
    std::vector<uint64_t> chunks_of_file(size_t file_row) const;  // chunk ids, in the set's order

private:
    struct Section {
        const char* data = nullptr;
        size_t bytes = 0;
    };
    IndexLabels() = default;
    void locate_sections(const std::string& source);
    template <typename T> T element(const Section& section, size_t i) const;
    size_t find_sorted(const Section& ids, size_t count, uint64_t id) const;  // a row of ascending ids, or npos
    [[noreturn]] void damaged(const std::string& why) const;

    std::string source_;  // the file, or "labels built in memory"
    std::unique_ptr<MappedFile> mapped_;
    std::vector<char> owned_;  // the file's bytes, when built here
    const char* bytes_ = nullptr;
    size_t size_ = 0;
    nlohmann::json header_, basis_;
    uint64_t embeddings_checksum_ = 0;
    size_t chunk_count_ = 0, file_count_ = 0;
    Section chunk_ids_, chunk_files_, chunk_starts_, chunk_durations_, file_ids_, file_hashes_, file_path_ends_,
        file_chunk_ends_, file_chunks_, path_bytes_, chunk_elements_;
};

}  // namespace audiosim
