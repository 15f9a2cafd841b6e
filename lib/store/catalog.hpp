// The file catalog: one record per library file. On disk it is a base segment plus delta segments
// (immutable HDF5 files, docs/FORMAT.md); in memory, the merged view keyed by path.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "audio/probe.hpp"

namespace audiosim {

using Metadata = std::vector<std::pair<std::string, std::string>>;  // sorted by column name

struct FileRecord {
    uint64_t file_id = 0;   // new whenever the content changes, so later stages keyed by it go stale
    std::string path;       // relative to the library root (absolute when outside it); raw bytes
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    uint64_t hash = 0;      // XXH3-64 of the file's bytes
    FileStatus status = FileStatus::ok;
    std::string error;
    std::string warning;    // one line when ok but not whole (a cut WAV read as far as it goes)
    AudioInfo audio;
    int64_t ingested_ns = 0;
    Metadata metadata;

    const std::string* metadata_value(const std::string& column) const;
    void set_metadata(const std::string& column, std::string value);
};

// The tags of a `tags` metadata value: separated by commas or semicolons, trimmed of spaces and
// tabs, empty ones dropped; sorted, each once.
std::vector<std::string> split_tags(const std::string& value);

// How the catalog names `path`: an absolute path inside the library root becomes relative to it;
// other paths stay as they are (lexically normalized when absolute).
std::string catalog_path_of(const std::string& path, const std::string& library_root);

// The absolute path of a catalog path (relative to the root, or absolute already).
std::string library_path(const std::string& library_root, const std::string& catalog_path);

// What one segment holds: records that replace those of the same path, and paths removed.
struct CatalogDelta {
    std::vector<FileRecord> records;
    std::vector<std::string> removed_paths;
    bool empty() const { return records.empty() && removed_paths.empty(); }
};

// Facts stamped into every file audiosim writes (docs/FORMAT.md, "Common attributes").
struct WriterStamp {
    std::string command_line;
    int64_t generation = 0;     // the store generation this file was written for
    std::string library_root;   // the store's, so that check --repair can rebuild a lost manifest
};

class Catalog {
public:
    void apply(CatalogDelta delta);
    std::vector<std::string> metadata_columns() const;  // every column some record has, sorted
    const FileRecord* find(const std::string& path) const;
    std::vector<std::string> ok_paths_with_hash(uint64_t hash) const;  // files with status ok
    std::vector<const FileRecord*> records_sorted_by_path() const;
    size_t size() const { return by_path_.size(); }
    template <typename F> void for_each(F&& f) const {
        for (const auto& entry : by_path_) f(entry.second);
    }

private:
    std::unordered_map<std::string, FileRecord> by_path_;
    std::unordered_multimap<uint64_t, std::string> paths_by_hash_;
};

// Error(usage) unless `field` is one of `builtins` or a metadata column of the catalog, so that a
// misspelt field is not taken for one that no file has; the message names `option` and lists the
// fields there are.
void check_catalog_field(const Catalog& catalog, const std::string& option, const std::string& field,
                         const std::vector<std::string>& builtins);

inline constexpr const char* catalog_format_name = "audiosim-catalog";
inline constexpr int64_t catalog_format_version = 1;

// Writes a segment to `path` (the caller makes it atomic) / reads one, checking format and version.
void write_catalog_segment(const std::string& path, const CatalogDelta& delta, const WriterStamp& stamp);
CatalogDelta read_catalog_segment(const std::string& path);

}  // namespace audiosim
