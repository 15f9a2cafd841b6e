// Turns ingest's inputs (folders, files) into the sorted list of files to look at.
#pragma once

#include <string>
#include <vector>

namespace audiosim {

struct ScanOptions {
    // Globs (fnmatch; '*' stops at '/'). A pattern with a '/' matches the path below the scanned
    // folder, one without matches the file name. With include patterns, they replace the default
    // filter of audio file name extensions.
    std::vector<std::string> include;
    std::vector<std::string> exclude;
    bool follow_symlinks = false;
};

struct ScanProblem {
    std::string path;
    std::string cause;
    bool vanished = false;  // the input does not exist (as opposed to: exists but cannot be read)
    bool special = false;   // a FIFO, device or socket: never opened (reading one may block forever)
};

struct ScanResult {
    std::vector<std::string> files;          // absolute, sorted, unique
    std::vector<std::string> folders;        // the folders scanned (absolute), for vanished-file checks
    std::vector<std::string> named_files;    // files named directly (absolute), existing or not
    std::vector<ScanProblem> problems;
};

// Folders are walked recursively; hidden entries (names starting with '.') are skipped there.
// Files named directly are taken whatever their extension, but --include/--exclude still apply.
// A FIFO, device or socket named directly, or inside a folder under a name the filters take, is a
// problem, not a file.
ScanResult scan_inputs(const std::vector<std::string>& inputs, const ScanOptions& options);

bool has_audio_extension(const std::string& name);

}  // namespace audiosim
