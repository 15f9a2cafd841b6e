// audiosim check (fsck): verifies every file of a store against the checksums its manifest records
// and the store as a whole (ids, counts, chunk and vector references, index headers and pairs
// against their sets); with repair, rebuilds a lost manifest from the files' own stamps, moves
// damaged files aside and commits a manifest without them, so that the next ingest, chunk or
// embed redoes exactly what was lost. Intact committed data is never deleted.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace audiosim {

struct StoreProblem {
    std::string file;   // relative to the store; empty for the store as a whole
    std::string cause;  // one line
};

struct StoreCheckOptions {
    bool repair = false;
    std::string library_root;  // for a manifest rebuilt from files stamped before they carried it
    std::string command_line;
    double wait_seconds = 0;   // for the writer lock (repair only)
    std::function<void(size_t done, size_t total)> on_progress;
};

struct StoreCheckReport {
    int64_t generation = -1;            // of the manifest checked (-1: none could be read)
    size_t files_checked = 0;
    uint64_t bytes_checked = 0;
    size_t files_without_checksum = 0;  // named by a manifest from before checksums: parsed, not hashed
    size_t unreferenced_files = 0;      // left by a killed writer or a compaction; the next writer removes them
    std::vector<StoreProblem> problems;
    std::vector<std::string> repairs;   // what repair did, one line each
    double elapsed_seconds = 0;
    nlohmann::json to_json() const;
};

// Error(input) when there is no store at `store_path`; Error(busy) when repair cannot take the
// writer lock. Problems are in the report, not thrown. Without repair no lock is taken: when a
// writer committed meanwhile (a compaction removes files), the check runs again on the new state.
StoreCheckReport check_store(const std::string& store_path, const StoreCheckOptions& options);

}  // namespace audiosim
