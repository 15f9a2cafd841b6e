// lib/util/hash: streamed XXH3-64 and its hex form.
#include <cerrno>
#include <cstdint>
#include <fcntl.h>
#include <string>
#include <unistd.h>

#include <sys/stat.h>

#include <doctest/doctest.h>
#include <xxhash.h>

#include "support.hpp"
#include "util/hash.hpp"

using audiosim::test::TempFolder;
using audiosim::test::write_bytes;

namespace {

std::string pattern_bytes(size_t size) {
    std::string bytes(size, '\0');
    uint32_t state = 12345;
    for (auto& byte : bytes) {
        state = state * 1103515245u + 12345u;
        byte = static_cast<char>(state >> 24);
    }
    return bytes;
}

// Hashes the file through hash_stream, from `offset`.
void check_stream_hash(const std::string& path, const std::string& bytes, off_t offset = 0) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(::lseek(fd, offset, SEEK_SET) == offset);
    uint64_t hash = 0, bytes_read = 12345;
    bool ok = audiosim::hash_stream(fd, hash, bytes_read);
    ::close(fd);
    REQUIRE(ok);
    std::string expected = bytes.substr(static_cast<size_t>(offset));
    CHECK(bytes_read == expected.size());
    CHECK(hash == XXH3_64bits(expected.data(), expected.size()));
}

}  // namespace

TEST_SUITE_BEGIN("util/hash");

TEST_CASE("hash_stream equals XXH3_64bits of the same bytes") {
    TempFolder folder;
    SUBCASE("0 bytes") {
        write_bytes(folder.file("f"), "");
        check_stream_hash(folder.file("f"), "");
    }
    SUBCASE("1 byte") {
        write_bytes(folder.file("f"), "x");
        check_stream_hash(folder.file("f"), "x");
    }
    SUBCASE("more than the 1 MiB read buffer") {
        std::string bytes = pattern_bytes((3u << 20) + 4567);
        write_bytes(folder.file("f"), bytes);
        check_stream_hash(folder.file("f"), bytes);
    }
    SUBCASE("exactly 1 MiB") {
        std::string bytes = pattern_bytes(1u << 20);
        write_bytes(folder.file("f"), bytes);
        check_stream_hash(folder.file("f"), bytes);
    }
    SUBCASE("from the current offset") {
        std::string bytes = pattern_bytes(1000);
        write_bytes(folder.file("f"), bytes);
        check_stream_hash(folder.file("f"), bytes, 100);
    }
}

TEST_CASE("hash_stream: different content, different hash") {
    TempFolder folder;
    std::string a = pattern_bytes(5000);
    std::string b = a;
    b[4999] = static_cast<char>(b[4999] ^ 1);
    write_bytes(folder.file("a"), a);
    write_bytes(folder.file("b"), b);
    uint64_t hash_a = 0, hash_b = 0, size = 0;
    int fd = ::open(folder.file("a").c_str(), O_RDONLY);
    REQUIRE(audiosim::hash_stream(fd, hash_a, size));
    ::close(fd);
    fd = ::open(folder.file("b").c_str(), O_RDONLY);
    REQUIRE(audiosim::hash_stream(fd, hash_b, size));
    ::close(fd);
    CHECK(hash_a != hash_b);
}

TEST_CASE("hash_stream: a read failure returns false with errno set") {
    TempFolder folder;
    int fd = ::open(folder.path().c_str(), O_RDONLY | O_DIRECTORY);  // read(2) on a folder: EISDIR
    REQUIRE(fd >= 0);
    uint64_t hash = 0, size = 0;
    errno = 0;
    CHECK_FALSE(audiosim::hash_stream(fd, hash, size));
    CHECK(errno == EISDIR);
    ::close(fd);
}

TEST_CASE("hash_to_hex: 16 lowercase digits, hash_from_hex reads them back") {
    for (uint64_t value : {uint64_t{0}, uint64_t{1}, uint64_t{0xABCDEF0123456789ull}, ~uint64_t{0}}) {
        std::string hex = audiosim::hash_to_hex(value);
        CHECK(hex.size() == 16);
        CHECK(hex.find_first_not_of("0123456789abcdef") == std::string::npos);
        uint64_t back = 42;
        CHECK(audiosim::hash_from_hex(hex, back));
        CHECK(back == value);
    }
    CHECK(audiosim::hash_to_hex(0xABCDEF0123456789ull) == "abcdef0123456789");
    CHECK(audiosim::hash_to_hex(255) == "00000000000000ff");
}

TEST_CASE("hash_from_hex rejects bad input and leaves the hash alone") {
    for (const char* bad : {"", "0", "123456789abcdef", "0123456789abcdef0", "0123456789abcdeg", "0123456789abcde ",
                            "-123456789abcdef", "0x23456789abcdef"}) {
        CAPTURE(bad);
        uint64_t hash = 7;
        CHECK_FALSE(audiosim::hash_from_hex(bad, hash));
        CHECK(hash == 7);
    }
}

TEST_CASE("hash_file: a whole file's XXH3 and size, or Error(input) naming it") {
    TempFolder folder;
    const std::string content = "not audio, just bytes\n";
    write_bytes(folder.file("a.bin"), content);
    audiosim::FileHash hashed = audiosim::hash_file(folder.file("a.bin"));
    CHECK(hashed.bytes == content.size());
    CHECK(hashed.hash == audiosim::hash_bytes(content.data(), content.size()));
    CHECK(hashed.hash == XXH3_64bits(content.data(), content.size()));
    auto [kind, message] = audiosim::test::error_of([&] { audiosim::hash_file(folder.file("missing.bin")); });
    CHECK(kind == audiosim::ErrorKind::input);
    CHECK(audiosim::test::contains(message, "missing.bin"));
    REQUIRE(::mkfifo(folder.file("pipe.bin").c_str(), 0600) == 0);
    auto [fifo_kind, fifo_message] = audiosim::test::error_of([&] { audiosim::hash_file(folder.file("pipe.bin")); });
    CHECK(fifo_kind == audiosim::ErrorKind::input);
    CHECK(fifo_message == folder.file("pipe.bin") + ": is a FIFO, not a regular file");
}

TEST_SUITE_END();
