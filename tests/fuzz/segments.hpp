// The store's four HDF5 segment readers, for the two segment fuzz targets: each is called as the
// store calls it and its result touched, so that a reader cannot hand back what it never checked.
#pragma once

#include <array>
#include <string>

#include "store/catalog.hpp"
#include "store/chunks.hpp"
#include "store/embeddings.hpp"
#include "pairs/pairs_file.hpp"

namespace audiosim::fuzz {

struct SegmentReader {
    const char* format;  // the `format` attribute its files carry
    void (*read)(const std::string& path);
};

inline const std::array<SegmentReader, 4>& segment_readers() {
    static const std::array<SegmentReader, 4> readers = {{
        {catalog_format_name, [](const std::string& path) { Catalog().apply(read_catalog_segment(path)); }},
        {chunks_format_name, [](const std::string& path) { read_chunk_segment(path); }},
        {embeddings_format_name, [](const std::string& path) { read_embedding_segment(path); }},
        {pairs_format_name, [](const std::string& path) { read_pairs_file(path); }},
    }};
    return readers;
}

}  // namespace audiosim::fuzz
