// The attributes every HDF5 file audiosim writes carries at its root (docs/FORMAT.md).
#pragma once

#include <cstdint>
#include <string>

#include "store/catalog.hpp"
#include "store/h5.hpp"

namespace audiosim {

std::string writer_name();  // "audiosim 0.1.0 (git describe)"

void write_stamp(const h5::File& file, const std::string& format, int64_t version, const WriterStamp& stamp);

// What a file's root attributes say about it (check --repair rebuilds a lost manifest from these).
struct StampInfo {
    std::string format;
    int64_t format_version = 0;
    std::string writer;
    std::string command_line;
    std::string created;
    int64_t generation = 0;
    std::string library_root;  // empty in files written before it was stamped
};
StampInfo read_stamp(const h5::File& file);

// Throws Error(format) naming the file when its format differs, or its version is newer than
// `supported_version` ("written by audiosim X as version N; this audiosim reads up to version M").
void check_stamp(const h5::File& file, const std::string& format, int64_t supported_version);

}  // namespace audiosim
