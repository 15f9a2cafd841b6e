// The metadata CSV of `ingest --metadata`: the RFC 4180 parser alone, then the whole reader.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.hpp"
#include "ingest/ingest.hpp"
#include "util/csv.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace audiosim;
    std::string text(reinterpret_cast<const char*>(data), size);
    fuzz::expect_errors([&] { parse_csv(text, "metadata.csv"); });
    std::string path = fuzz::write_scratch("metadata.csv", data, size);
    fuzz::expect_errors([&] { read_metadata_csv(path, "/library/root"); });
    return 0;
}
