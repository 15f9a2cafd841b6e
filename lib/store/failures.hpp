// Files a later stage (chunk, embed) could not process, each with its one-line cause. They are
// stored in the stage's own segments (group /failed, docs/FORMAT.md) by file id, so that status
// lists them and later runs leave them alone until the file changes (a new file id) or
// --retry-failed asks for another try.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace audiosim {

namespace h5 {
class File;
}

struct FileFailure {
    uint64_t file_id = 0;
    std::string error;
};

// The merged failures of a table: file id -> cause.
using FailureMap = std::map<uint64_t, std::string>;

// Applies one segment's failures to a table's merged view: a failure replaces the file's rows
// (`rows`, keyed by file id) and rows replace a failure (`fresh` holds the file ids given rows).
template <typename Rows>
void apply_failures(const std::vector<FileFailure>& failed, const std::map<uint64_t, Rows>& fresh, FailureMap& failures,
                    std::map<uint64_t, Rows>& rows) {
    for (const auto& entry : fresh) failures.erase(entry.first);
    for (const FileFailure& failure : failed) {
        rows.erase(failure.file_id);
        failures[failure.file_id] = failure.error;
    }
}

// Group /failed: datasets file_id (uint64) and error (UTF-8), `rows` rows.
void write_failures(const h5::File& file, const std::vector<FileFailure>& failures);
// None in a segment written before the group existed.
std::vector<FileFailure> read_failures(const h5::File& file);
std::vector<FileFailure> failures_of(const FailureMap& failures);

}  // namespace audiosim
