// The segment readers on raw bytes (the first byte picks the reader). HDF5 1.10 is not
// instrumented and is known to crash on damaged files, which is why the store checksums every file
// before HDF5 parses it and `audiosim check` parses unchecksummed ones in a child process: a crash
// here inside libhdf5 is HDF5's (docs/RELIABILITY.md records them); one in our code is ours.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.hpp"
#include "segments.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace audiosim;
    if (size < 1) return 0;
    const auto& reader = fuzz::segment_readers()[data[0] % fuzz::segment_readers().size()];
    std::string path = fuzz::write_scratch("segment.h5", data + 1, size - 1);
    fuzz::expect_errors([&] { reader.read(path); });
    return 0;
}
