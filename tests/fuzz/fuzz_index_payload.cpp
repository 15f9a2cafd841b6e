// hnswlib's payload behind our checks: the input is a payload plus a 16-byte trailer that chooses
// the header written beside it, whose size and XXH3 always match the payload, so HnswIndex::load
// gets past the checksum to its own checks and to hnswlib's loader (as with a forged payload). In
// one mode the header copies count, M and dim from the payload's own prefix so that those checks
// pass too. An index that loads (or opens, mapped) is searched, which follows every link.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>
#include <nlohmann/json.hpp>

#include "fuzz_support.hpp"
#include "index/hnsw_index.hpp"
#include "util/hash.hpp"

namespace {

constexpr size_t trailer_size = 16;

template <typename T>
T field_at(const uint8_t* payload, size_t size, size_t offset) {
    T value{};
    if (offset + sizeof value <= size) std::memcpy(&value, payload + offset, sizeof value);
    return value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace audiosim;
    if (size < trailer_size) return 0;
    const size_t payload_size = size - trailer_size;
    FuzzedDataProvider trailer(data + payload_size, trailer_size);
    const bool from_prefix = trailer.ConsumeBool();
    size_t dim = trailer.ConsumeIntegralInRange<size_t>(1, 64);
    size_t M = trailer.ConsumeIntegralInRange<size_t>(1, 64);
    size_t count = trailer.ConsumeIntegralInRange<size_t>(0, 1000);
    size_t deleted = trailer.ConsumeIntegralInRange<size_t>(0, 8);
    const size_t ef_search = trailer.ConsumeIntegralInRange<size_t>(1, 200);
    const size_t k = trailer.ConsumeIntegralInRange<size_t>(1, 20);
    if (from_prefix) {
        // hnswlib's saveIndex starts with 6 size_t, 2 int, 3 size_t (maxM, maxM0, M): see hnswalg.h.
        auto elements = field_at<size_t>(data, payload_size, 16);
        auto label_offset = field_at<size_t>(data, payload_size, 32);
        auto offset_data = field_at<size_t>(data, payload_size, 40);
        M = field_at<size_t>(data, payload_size, 72);
        deleted = std::min(deleted, elements);
        count = elements - deleted;
        if (label_offset > offset_data) dim = (label_offset - offset_data) / sizeof(float);
    }
    nlohmann::json header = {{"format", index_format_name},
                             {"format_version", index_format_version},
                             {"model_id", "fuzz"},
                             {"profile", "fuzz"},
                             {"dim", dim},
                             {"metric", "cosine"},
                             {"params", {{"M", M}, {"ef_construction", 200}, {"ef_search", ef_search}}},
                             {"count", count},
                             {"deleted", deleted},
                             {"embeddings_checksum", hash_to_hex(0)},
                             {"payload_hash", hash_to_hex(hash_bytes(data, payload_size))}};
    std::string payload = fuzz::write_scratch("index", data, payload_size);
    std::string text = header.dump();
    fuzz::write_scratch("index.json", text.data(), text.size());
    // Both readers: load (writers) and open (queries: mapped, links checked as a search follows them).
    for (auto read : {&HnswIndex::load, &HnswIndex::open})
        fuzz::expect_errors([&] {
            HnswIndex index = read(payload);
            std::vector<float> query(index.dim(), 0.0f);
            query[0] = 1.0f;
            for (const auto& [id, score] : index.search(query.data(), k)) {
                std::vector<float> stored;
                index.append_vector(id, stored);
            }
        });
    return 0;
}
