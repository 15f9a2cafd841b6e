#include "eval/scoring.hpp"

#include <algorithm>

namespace audiosim {

CandidateScorer::CandidateScorer(const std::vector<float>& candidates, size_t count, size_t dim)
    : count_(count), dim_(dim), transposed_(count * dim) {
    for (size_t i = 0; i < count; ++i)
        for (size_t d = 0; d < dim; ++d) transposed_[d * count + i] = candidates[i * dim + d];
}

void CandidateScorer::score(const float* queries, size_t query_count, float* out) const {
    constexpr size_t candidate_block = 2048;  // candidates per tile: the tile of sums stays in cache
    std::fill(out, out + query_count * count_, 0.0f);
    for (size_t j0 = 0; j0 < count_; j0 += candidate_block) {
        size_t count = std::min(candidate_block, count_ - j0);
        for (size_t d = 0; d < dim_; ++d) {
            const float* column = &transposed_[d * count_ + j0];
            for (size_t q = 0; q < query_count; ++q) {
                const float weight = queries[q * dim_ + d];
                float* sums = out + q * count_ + j0;
                for (size_t j = 0; j < count; ++j) sums[j] += weight * column[j];
            }
        }
    }
}

}  // namespace audiosim
