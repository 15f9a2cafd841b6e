#include "util/fs.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <random>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "util/error.hpp"

namespace audiosim {

void throw_errno(const std::string& what) {
    throw Error(ErrorKind::io, fmt::format("{}: {}", what, std::strerror(errno)));
}

namespace {

std::string temporary_name_for(const std::string& target) {
    static thread_local std::mt19937_64 random{std::random_device{}()};
    return fmt::format("{}.tmp.{}.{:08x}", target, ::getpid(), static_cast<uint32_t>(random()));
}

}  // namespace

AtomicFile::AtomicFile(std::string target_path)
    : target_path_(std::move(target_path)), temporary_path_(temporary_name_for(target_path_)) {}

AtomicFile::~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temporary_path_.c_str());
}

void AtomicFile::write(std::string_view bytes) {
    if (fd_ < 0) {
        fd_ = ::open(temporary_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd_ < 0) throw_errno("cannot create " + temporary_path_);
    }
    while (!bytes.empty()) {
        ssize_t n = ::write(fd_, bytes.data(), bytes.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_errno("cannot write " + temporary_path_);
        }
        bytes.remove_prefix(static_cast<size_t>(n));
    }
}

void AtomicFile::commit() {
    if (fd_ >= 0) {
        if (::fsync(fd_) != 0) throw_errno("cannot flush " + temporary_path_);
        if (::close(fd_) != 0) throw_errno("cannot close " + temporary_path_);
        fd_ = -1;
    } else {
        fsync_path(temporary_path_);
    }
    if (::rename(temporary_path_.c_str(), target_path_.c_str()) != 0)
        throw_errno("cannot rename " + temporary_path_ + " to " + target_path_);
    committed_ = true;
    fsync_directory(parent_path(target_path_));
}

MappedFile::MappedFile(const std::string& path) {
    require_regular_file(path);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(ErrorKind::input, fmt::format("{}: {}", path, std::strerror(errno)));
    struct stat st {};
    void* data = nullptr;
    if (::fstat(fd, &st) == 0 && st.st_size > 0)
        data = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    int saved = errno;
    ::close(fd);
    if (data == MAP_FAILED) throw Error(ErrorKind::input, fmt::format("{}: {}", path, std::strerror(saved)));
    data_ = static_cast<const char*>(data);
    size_ = data_ ? static_cast<size_t>(st.st_size) : 0;
}

MappedFile::~MappedFile() {
    if (data_) ::munmap(const_cast<char*>(data_), size_);
}

void MappedFile::expect_random_access() const {
    if (data_) ::madvise(const_cast<char*>(data_), size_, MADV_RANDOM);
}

void link_or_copy(const std::string& from, const std::string& to) {
    if (::link(from.c_str(), to.c_str()) == 0) {
        fsync_directory(parent_path(to));
        return;
    }
    if (errno == EEXIST) throw_errno(fmt::format("cannot link {} to {}", from, to));
    MappedFile source(from);
    AtomicFile copy(to);
    copy.write(std::string_view(source.data(), source.size()));
    copy.commit();
}

void fsync_path(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw_errno("cannot open " + path);
    int rc = ::fsync(fd);
    int saved = errno;
    ::close(fd);
    errno = saved;
    if (rc != 0) throw_errno("cannot flush " + path);
}

void fsync_directory(const std::string& path) {
    int fd = ::open(path.empty() ? "." : path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw_errno("cannot open folder " + path);
    ::fsync(fd);  // some filesystems refuse fsync on folders; the rename is still ordered
    ::close(fd);
}

std::string not_a_regular_file(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return std::strerror(errno);
    if (S_ISREG(st.st_mode)) return "";
    const char* kind = S_ISFIFO(st.st_mode)  ? "a FIFO"
                       : S_ISCHR(st.st_mode) ? "a character device"
                       : S_ISBLK(st.st_mode) ? "a block device"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                       : S_ISDIR(st.st_mode)  ? "a folder"
                                              : "a special file";
    return fmt::format("is {}, not a regular file", kind);
}

void require_regular_file(const std::string& path) {
    if (std::string cause = not_a_regular_file(path); !cause.empty())
        throw Error(ErrorKind::input, fmt::format("{}: {}", path, cause));
}

std::string read_text_file(const std::string& path) {
    require_regular_file(path);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(ErrorKind::input, fmt::format("{}: {}", path, std::strerror(errno)));
    std::string text;
    char buffer[65536];
    for (;;) {
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int saved = errno;
            ::close(fd);
            throw Error(ErrorKind::input, fmt::format("{}: {}", path, std::strerror(saved)));
        }
        if (n == 0) break;
        text.append(buffer, static_cast<size_t>(n));
    }
    ::close(fd);
    return text;
}

void make_directories(const std::string& path) {
    std::error_code error;
    std::filesystem::create_directories(path, error);
    if (error) throw Error(ErrorKind::io, fmt::format("cannot create folder {}: {}", path, error.message()));
}

bool path_exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

std::string absolute_path(const std::string& path) {
    std::filesystem::path p(path);
    if (p.is_relative()) p = std::filesystem::current_path() / p;
    std::string normal = p.lexically_normal().string();
    if (normal.size() > 1 && normal.back() == '/') normal.pop_back();
    return normal;
}

bool path_is_within(const std::string& path, const std::string& folder) {
    if (folder == "/") return !path.empty() && path[0] == '/';
    return path.size() > folder.size() && path.compare(0, folder.size(), folder) == 0 &&
           path[folder.size()] == '/';
}

std::string relative_to(const std::string& absolute, const std::string& root) {
    if (!path_is_within(absolute, root)) return "";
    return absolute.substr(root == "/" ? 1 : root.size() + 1);
}

std::string join_path(const std::string& folder, const std::string& name) {
    if (folder.empty()) return name;
    if (folder.back() == '/') return folder + name;
    return folder + "/" + name;
}

std::string parent_path(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

std::string file_name(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace audiosim
