// Chunk tables, one per chunking profile: immutable HDF5 segments (docs/FORMAT.md) like the
// catalog's, merged in memory into chunks per file id.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "chunk/chunker.hpp"
#include "chunk/profile.hpp"
#include "store/catalog.hpp"
#include "store/failures.hpp"

namespace audiosim {

// What one chunk segment holds: the chunks of files (re)chunked, replacing all earlier chunks of
// those files, file ids whose chunks are dropped (files changed or removed), and files that could
// not be chunked (decoding failed).
struct ChunkDelta {
    std::vector<Chunk> chunks;
    std::vector<uint64_t> dropped_file_ids;
    std::vector<FileFailure> failed = {};  // "= {}": brace initializations that leave it out raise no -Wmissing-field-initializers
    bool empty() const { return chunks.empty() && dropped_file_ids.empty() && failed.empty(); }
};

class ChunkTable {
public:
    void apply(ChunkDelta delta);
    bool has_file(uint64_t file_id) const { return by_file_.count(file_id) > 0; }
    const std::vector<Chunk>* chunks_of(uint64_t file_id) const;
    const std::map<uint64_t, std::vector<Chunk>>& by_file() const { return by_file_; }
    const FailureMap& failed() const { return failed_; }  // files whose last chunking failed
    size_t chunk_count() const;

private:
    std::map<uint64_t, std::vector<Chunk>> by_file_;
    FailureMap failed_;
};

inline constexpr const char* chunks_format_name = "audiosim-chunks";
inline constexpr int64_t chunks_format_version = 1;

void write_chunk_segment(const std::string& path, const ChunkProfile& profile, const ChunkDelta& delta,
                         const WriterStamp& stamp);
ChunkDelta read_chunk_segment(const std::string& path);

}  // namespace audiosim
