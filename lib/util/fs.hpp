// Filesystem helpers: atomic files, durable renames, path arithmetic on raw byte paths.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace audiosim {

// Writes a file under a temporary name in the same folder; commit() flushes it to disk and renames
// it over the target, so readers see the old file or the new one, never a half-written one. An
// AtomicFile destroyed without commit() removes its temporary (ccache's AtomicFile).
class AtomicFile {
public:
    explicit AtomicFile(std::string target_path);
    ~AtomicFile();
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;

    const std::string& temporary_path() const { return temporary_path_; }
    void write(std::string_view bytes);  // for small text files; large writers use temporary_path()
    void commit();

private:
    std::string target_path_;
    std::string temporary_path_;
    int fd_ = -1;
    bool committed_ = false;
};

// A whole file mapped read-only (an empty file maps to nothing); unmapped when destroyed.
class MappedFile {
public:
    explicit MappedFile(const std::string& path);  // Error(input) naming the file when it cannot be read
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    ~MappedFile();
    // For a reader that jumps around the file (a graph search): read-ahead would read what it never visits.
    void expect_random_access() const;
    const char* data() const { return data_; }
    size_t size() const { return size_; }

private:
    const char* data_ = nullptr;
    size_t size_ = 0;
};

// Makes `to` (a new name) a second name of `from`'s bytes: a hard link, or where the filesystem
// has none, a copy written atomically. Error(io) naming both when neither works.
void link_or_copy(const std::string& from, const std::string& to);

// fsync a file by path (after a library such as HDF5 closed it) and a folder (after a rename).
void fsync_path(const std::string& path);
void fsync_directory(const std::string& path);

// Why `path` (symbolic links followed) cannot be read as a file, found with stat(2) alone: "" for a
// regular file, else "is a FIFO, not a regular file" (also character/block device, socket,
// folder) or the stat error. Opening a FIFO blocks until a writer comes and a device may never
// end, so every path audiosim reads is checked with this before it is opened.
std::string not_a_regular_file(const std::string& path);
// The same as Error(input) "PATH: CAUSE"; nothing when `path` is a regular file.
void require_regular_file(const std::string& path);

std::string read_text_file(const std::string& path);  // require_regular_file first
void make_directories(const std::string& path);
bool path_exists(const std::string& path);

// Paths as byte strings: no decoding, so non-UTF-8 names survive unchanged.
std::string absolute_path(const std::string& path);   // lexically normalized, no symlink resolution
std::string relative_to(const std::string& absolute, const std::string& root);  // "" if outside
std::string join_path(const std::string& folder, const std::string& name);
std::string parent_path(const std::string& path);
std::string file_name(const std::string& path);
bool path_is_within(const std::string& path, const std::string& folder);

}  // namespace audiosim
