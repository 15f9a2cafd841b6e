// Stored pairs (`audiosim pairs`): one immutable HDF5 file per embedding set, replaced by each run,
// holding the pairs and the parameters that produced them (docs/FORMAT.md).
#pragma once

#include <string>
#include <vector>

#include "pairs/pairs.hpp"
#include "store/stamp.hpp"

namespace audiosim {

inline constexpr const char* pairs_format_name = "audiosim-pairs";
inline constexpr int64_t pairs_format_version = 2;  // 1 kept the parameters as one JSON string

// How a file pair's score is defined for the embedding set `embeddings`: a set's own key, or a
// fusion's "PROFILE/fusion+MODEL_ID=WEIGHT+..." (cli's load_scored_embeddings).
std::string file_similarity_of(const std::string& embeddings);

// What `audiosim pairs` was run with: `report` regroups by the same field unless told otherwise.
struct PairsParameters {
    int64_t k = 0;
    double min_score = 0;
    std::string group_by;  // "" without --group-by
    std::string method;    // "hnsw (M 16, ef_construction 200, ef 100)" or "exact (cpu)"
    // How a file pair's score is defined, for readers of the file (file_similarity_of).
    std::string file_similarity = file_similarity_of("");
    nlohmann::json to_json() const;
};

struct StoredPairs {
    std::string embeddings;  // the set's key
    PairsParameters parameters;
    std::vector<FilePair> pairs;
};

void write_pairs_file(const std::string& path, const StoredPairs& pairs, const WriterStamp& stamp);
StoredPairs read_pairs_file(const std::string& path);  // Error(format) naming the file

}  // namespace audiosim
