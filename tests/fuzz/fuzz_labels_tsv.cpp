// The labels TSV of `audiosim eval --labels`.
#include <cstddef>
#include <cstdint>

#include "eval/eval.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace audiosim;
    std::string path = fuzz::write_scratch("labels.tsv", data, size);
    fuzz::expect_errors([&] { read_labels_tsv(path, "/library/root"); });
    return 0;
}
