// A model sidecar (models/*.json) beside a small weights file, read as `audiosim models` reads it.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.hpp"
#include "model/spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace audiosim;
    static const std::string weights = fuzz::write_scratch("model.pt", "weights", 7);
    std::string sidecar = fuzz::write_scratch("model.json", data, size);
    fuzz::expect_errors([&] {
        ModelSpec spec = read_model_spec(sidecar);
        (void)spec.id();
        if (spec.has_text_tower) text_for_tower(spec, "a dog barking \xe2\x80\x94 twice");
    });
    return 0;
}
