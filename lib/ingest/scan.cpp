#include "ingest/scan.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <set>
#include <sys/stat.h>
#include <utility>

#include "audio/probe.hpp"
#include "util/fs.hpp"
#include "util/system.hpp"

namespace audiosim {

bool has_audio_extension(const std::string& name) {
    auto dot = name.rfind('.');
    if (dot == std::string::npos || dot == 0) return false;
    std::string extension = name.substr(dot + 1);
    std::transform(extension.begin(), extension.end(), extension.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const auto& known = audio_extensions();
    return std::binary_search(known.begin(), known.end(), extension);
}

namespace {

bool matches_any(const std::vector<std::string>& patterns, const std::string& relative) {
    std::string name = file_name(relative);
    for (const auto& pattern : patterns) {
        bool path_pattern = pattern.find('/') != std::string::npos;
        if (glob_match(pattern, path_pattern ? relative : name)) return true;
    }
    return false;
}

class Walker {
public:
    Walker(const ScanOptions& options, ScanResult& result) : options_(options), result_(result) {}

    void walk_input(const std::string& absolute) {
        visited_.clear();  // per input: a folder given on its own and inside another is walked both times
        struct stat st;
        if (::stat(absolute.c_str(), &st) != 0) {
            bool broken_link = errno == ENOENT && ::lstat(absolute.c_str(), &st) == 0;
            bool gone = errno == ENOENT && !broken_link;
            result_.problems.push_back({absolute, broken_link ? "broken symbolic link" : std::strerror(errno), gone});
            if (gone) result_.named_files.push_back(absolute);  // a stored file named here has vanished
            return;
        }
        if (S_ISDIR(st.st_mode)) {
            result_.folders.push_back(absolute);
            walk_folder(absolute, "", st);
        } else if (S_ISREG(st.st_mode)) {
            result_.named_files.push_back(absolute);
            if (wanted(file_name(absolute), false)) result_.files.push_back(absolute);
        } else {
            result_.problems.push_back({absolute, not_a_regular_file(absolute), false, true});
        }
    }

private:
    bool wanted(const std::string& relative, bool filter_by_extension) const {
        if (matches_any(options_.exclude, relative)) return false;
        if (!options_.include.empty()) return matches_any(options_.include, relative);
        return !filter_by_extension || has_audio_extension(file_name(relative));
    }

    void walk_folder(const std::string& absolute, const std::string& relative, const struct stat& st) {
        auto identity = std::make_pair(st.st_dev, st.st_ino);
        if (!visited_.insert(identity).second) {
            if (std::find(stack_.begin(), stack_.end(), identity) != stack_.end())
                result_.problems.push_back({absolute, "symbolic link loop (folder is its own ancestor)"});
            return;  // reached before by another path: its files are listed once
        }
        DIR* dir = ::opendir(absolute.c_str());
        if (!dir) {
            result_.problems.push_back({absolute, std::string("cannot read folder: ") + std::strerror(errno)});
            return;
        }
        stack_.push_back(identity);
        std::vector<std::pair<std::string, struct stat>> subfolders;
        while (dirent* entry = ::readdir(dir)) {
            std::string name = entry->d_name;
            if (name.empty() || name[0] == '.') continue;
            std::string child = join_path(absolute, name);
            std::string child_relative = relative.empty() ? name : relative + "/" + name;
            struct stat child_st;
            if (::fstatat(::dirfd(dir), entry->d_name, &child_st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // vanished
            if (S_ISLNK(child_st.st_mode)) {
                if (!options_.follow_symlinks) continue;
                if (::stat(child.c_str(), &child_st) != 0) {
                    result_.problems.push_back({child, "broken symbolic link"});
                    continue;
                }
            }
            if (S_ISDIR(child_st.st_mode)) {
                if (!matches_any(options_.exclude, child_relative)) subfolders.emplace_back(child_relative, child_st);
            } else if (wanted(child_relative, true)) {
                if (S_ISREG(child_st.st_mode)) result_.files.push_back(child);
                else result_.problems.push_back({child, not_a_regular_file(child), false, true});
            }
        }
        ::closedir(dir);
        for (const auto& [child_relative, child_st] : subfolders)
            walk_folder(join_path(absolute, file_name(child_relative)), child_relative, child_st);
        stack_.pop_back();
    }

    const ScanOptions& options_;
    ScanResult& result_;
    std::set<std::pair<dev_t, ino_t>> visited_;
    std::vector<std::pair<dev_t, ino_t>> stack_;
};

}  // namespace

ScanResult scan_inputs(const std::vector<std::string>& inputs, const ScanOptions& options) {
    ScanResult result;
    Walker walker(options, result);
    for (const auto& input : inputs) walker.walk_input(absolute_path(input));
    std::sort(result.files.begin(), result.files.end());
    result.files.erase(std::unique(result.files.begin(), result.files.end()), result.files.end());
    return result;
}

}  // namespace audiosim
