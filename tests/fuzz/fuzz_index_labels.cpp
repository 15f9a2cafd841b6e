// The index labels (PAYLOAD.labels), opened as a query opens them and checked as audiosim check
// checks them; every lookup a query makes is tried on what opens.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.hpp"
#include "index/index_labels.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace audiosim;
    std::string path = fuzz::write_scratch("index.hnsw.labels", data, size);
    fuzz::expect_errors([&] {
        IndexLabels labels = IndexLabels::open(path);
        // Lookups before validation: a query reads rows as it meets them.
        for (uint64_t id : {0ull, 1ull, 2ull, 3ull, 1000ull}) {
            size_t row = labels.find_chunk(id);
            if (row != IndexLabels::npos) labels.chunk(row);
            size_t file = labels.find_file(id);
            if (file != IndexLabels::npos) labels.chunks_of_file(file);
        }
        for (size_t row = 0; row < std::min<size_t>(labels.file_count(), 8); ++row) {
            labels.files_with_hash(labels.file(row).hash);
            labels.find_path(labels.file(row).path);
        }
        labels.validate();
    });
    return 0;
}
