#include "util/hash.hpp"

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <unistd.h>

#include <fmt/format.h>
#include <xxhash.h>

#include "util/error.hpp"
#include "util/fs.hpp"

namespace audiosim {

bool hash_stream(int fd, uint64_t& hash, uint64_t& bytes_read) {
    constexpr size_t buffer_size = 1 << 20;
    static thread_local std::unique_ptr<char[]> buffer(new char[buffer_size]);
    std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(), XXH3_freeState);
    XXH3_64bits_reset(state.get());
    bytes_read = 0;
    for (;;) {
        ssize_t n = ::read(fd, buffer.get(), buffer_size);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        if (n == 0) break;
        XXH3_64bits_update(state.get(), buffer.get(), static_cast<size_t>(n));
        bytes_read += static_cast<uint64_t>(n);
    }
    hash = XXH3_64bits_digest(state.get());
    return true;
}

FileHash hash_file(const std::string& path) {
    require_regular_file(path);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(ErrorKind::input, fmt::format("{}: {}", path, std::strerror(errno)));
    FileHash result;
    bool ok = hash_stream(fd, result.hash, result.bytes);
    int saved = errno;
    ::close(fd);
    if (!ok) throw Error(ErrorKind::input, fmt::format("{}: {}", path, std::strerror(saved)));
    return result;
}

uint64_t hash_bytes(const void* data, size_t size) { return XXH3_64bits(data, size); }

std::string hash_to_hex(uint64_t hash) { return fmt::format("{:016x}", hash); }

bool hash_from_hex(const std::string& hex, uint64_t& hash) {
    if (hex.size() != 16) return false;
    uint64_t value = 0;
    for (char c : hex) {
        int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (digit < 0) return false;
        value = value << 4 | static_cast<uint64_t>(digit);
    }
    hash = value;
    return true;
}

}  // namespace audiosim
