// The index header (PAYLOAD.json), read as `audiosim status` and HnswIndex::load read it.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.hpp"
#include "index/hnsw_index.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace audiosim;
    std::string header = fuzz::write_scratch("index.json", data, size);
    fuzz::expect_errors([&] { read_index_header(header.substr(0, header.size() - 5)); });
    return 0;
}
