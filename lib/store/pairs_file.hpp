// Stored pairs (`audiosim pairs`): one immutable HDF5 file per embedding set, replaced by each run,
// holding the pairs and the parameters that produced them (docs/FORMAT.md).
#pragma once

#include <string>
#include <vector>

#include "pairs/pairs.hpp"
#include "store/catalog.hpp"

namespace audiosim {

inline constexpr const char* pairs_format_name = "audiosim-pairs";
inline constexpr int64_t pairs_format_version = 1;

struct StoredPairs {
    std::string embeddings;   // the set's key
    std::string parameters;   // JSON: k, min_score, group_by, method
    std::vector<FilePair> pairs;
};

void write_pairs_file(const std::string& path, const StoredPairs& pairs, const WriterStamp& stamp);
StoredPairs read_pairs_file(const std::string& path);  // Error(format) naming the file

}  // namespace audiosim
