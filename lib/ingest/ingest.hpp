// `audiosim ingest`: scan inputs, hash and probe new or changed files on worker threads, and commit
// catalog segments as it goes, so a killed run keeps what it committed and the next run goes on.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ingest/scan.hpp"
#include "store/catalog.hpp"
#include "store/store.hpp"

namespace audiosim {

struct IngestOptions {
    std::vector<std::string> inputs;  // folders and files
    ScanOptions scan;
    std::string metadata_csv;          // optional: columns joined by path
    bool prune = false;                // remove vanished files from the catalog
    bool verify = false;               // decode every frame (slow) instead of header + first/last block
    bool strict = false;               // a cut WAV/AIFF is refused (truncated), not read as far as it goes
    unsigned threads = 1;
    double commit_interval_seconds = 30;
    size_t commit_every_files = 0;     // also commit after this many changed files (0: by time only)
    const std::atomic<bool>* cancel = nullptr;  // set from a signal handler: commit and stop
};

enum class ChangeKind { added, changed, touched, metadata, failed, vanished, removed };
const char* change_kind_name(ChangeKind kind);

// One line of ingest's listing: what happened to one file.
struct IngestEvent {
    ChangeKind kind;
    FileRecord record;         // for scan problems only path, status and error are set
    std::string duplicate_of;  // path of a stored file with the same content hash, if any
};

struct IngestProgress {
    size_t done = 0;
    size_t total = 0;
    uint64_t bytes = 0;
};

struct IngestSummary {
    size_t scanned = 0;
    size_t added = 0;
    size_t changed = 0;
    size_t touched = 0;  // mtime changed, content (hash) did not
    size_t unchanged = 0;
    size_t failed = 0;
    size_t vanished = 0;
    size_t removed = 0;
    size_t duplicates = 0;
    size_t metadata_updated = 0;
    std::map<std::string, size_t> failed_by_status;
    std::vector<std::string> warnings;  // e.g. metadata rows naming no known file
    uint64_t bytes_read = 0;
    double audio_seconds_read = 0;  // of the files probed in this run
    double library_audio_seconds = 0;
    size_t library_files = 0;
    size_t warnings_read = 0;            // files read ok in this run with a warning (e.g. truncated)
    size_t library_estimated = 0;        // ok files whose duration is an estimate (some MP3s)
    double elapsed_seconds = 0;
    size_t commits = 0;
    bool interrupted = false;

    nlohmann::json to_json() const;
};

using IngestEventCallback = std::function<void(const IngestEvent&)>;
using IngestProgressCallback = std::function<void(const IngestProgress&)>;

IngestSummary ingest(StoreWriter& store, const IngestOptions& options, const IngestEventCallback& on_event,
                     const IngestProgressCallback& on_progress);

// Metadata CSV: a header row with a `path` column; every other column is kept as a string.
// Paths are relative to the library root (or absolute). Returns path -> (column, value) pairs.
std::map<std::string, Metadata> read_metadata_csv(const std::string& csv_path, const std::string& library_root);

}  // namespace audiosim
