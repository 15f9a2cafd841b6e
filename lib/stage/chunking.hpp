// `audiosim chunk`: cut every stored file that has no chunks of the profile yet, drop chunks of
// files that changed or left the catalog, and commit as it goes (killed runs keep their commits).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chunk/chunker.hpp"
#include "store/store.hpp"

namespace audiosim {

struct ChunkRunOptions {
    ChunkProfile profile;
    unsigned threads = 1;
    double commit_interval_seconds = 30;
    size_t commit_every_files = 0;
    bool retry_failed = false;  // files whose chunking failed before are tried again (else: until they change)
    const std::atomic<bool>* cancel = nullptr;
};

// One file's outcome: its chunks, or the one-line reason it could not be decoded (the cause
// alone: the caller names the file).
struct ChunkedFile {
    const FileRecord* file = nullptr;
    std::vector<Chunk> chunks;
    std::string error;
};

struct ChunkSummary {
    size_t files_chunked = 0;
    size_t files_up_to_date = 0;
    size_t files_failed = 0;
    size_t files_failed_before = 0;  // failed in an earlier run, unchanged since: not tried again
    size_t files_dropped = 0;  // chunks removed: the file changed or left the catalog
    size_t chunks = 0;
    std::map<std::string, size_t> flagged;  // chunks by flag name
    double audio_seconds = 0;
    double elapsed_seconds = 0;
    size_t commits = 0;
    bool interrupted = false;
    nlohmann::json to_json() const;
};

ChunkSummary chunk_files(StoreWriter& store, const ChunkRunOptions& options,
                         const std::function<void(const ChunkedFile&)>& on_file,
                         const std::function<void(size_t done, size_t total)>& on_progress);

}  // namespace audiosim
