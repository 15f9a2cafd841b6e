// Content hashing: XXH3-64 over a file's bytes, streamed (about 30 GB/s, far above disk speed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace audiosim {

// Hashes everything readable from fd from its current offset to the end. Returns false and sets
// errno when a read fails (a file cut short under us, an I/O error).
bool hash_stream(int fd, uint64_t& hash, uint64_t& bytes_read);

// XXH3-64 and size of a whole file. Error(input) naming the file when it cannot be opened or read.
struct FileHash {
    uint64_t hash = 0;
    uint64_t bytes = 0;
};
FileHash hash_file(const std::string& path);

uint64_t hash_bytes(const void* data, size_t size);  // XXH3-64 of a buffer
std::string hash_to_hex(uint64_t hash);        // 16 lowercase hex digits
bool hash_from_hex(const std::string& hex, uint64_t& hash);

}  // namespace audiosim
