// What the fuzz targets share: a scratch folder in RAM for readers that take a path, and the rule
// that audiosim::Error is a reader's expected answer to bad bytes while anything else (another
// exception, a crash, a sanitizer report, an absurd allocation) escapes to libFuzzer as a finding.
#pragma once

#include <cstddef>
#include <string>

#include "util/error.hpp"

namespace audiosim::fuzz {

// This process's own folder under /dev/shm, created on first use and removed at exit.
const std::string& scratch_folder();
// Writes `size` bytes to scratch_folder()/name (replacing it) and returns the path.
std::string write_scratch(const std::string& name, const void* data, size_t size);

template <typename Body>
void expect_errors(Body body) {
    try {
        body();
    } catch (const Error&) {
    }
}

}  // namespace audiosim::fuzz
