#include "util/lock.hpp"

#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <sys/file.h>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>

#include "util/error.hpp"

namespace audiosim {

namespace {

std::string read_holder(int fd) {
    char buffer[1024];
    ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
    if (n <= 0) return "another process";
    std::string text(buffer, static_cast<size_t>(n));
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
}

}  // namespace

WriterLock::WriterLock(const std::string& lock_path, const std::string& holder_note, double wait_seconds) {
    fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw_errno("cannot open lock file " + lock_path);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_seconds);
    while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            ::close(fd_);
            throw_errno("cannot lock " + lock_path);
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            std::string holder = read_holder(fd_);
            ::close(fd_);
            throw Error(ErrorKind::busy,
                        fmt::format("store is locked by {} (wait with --wait SECONDS)", holder));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::string note = holder_note + "\n";
    if (::ftruncate(fd_, 0) == 0) {
        ssize_t ignored = ::pwrite(fd_, note.data(), note.size(), 0);  // only feeds a message
        (void)ignored;
    }
}

WriterLock::~WriterLock() {
    if (fd_ < 0) return;
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
}

}  // namespace audiosim
