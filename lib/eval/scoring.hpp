// Brute-force cosine scores of file vectors against a fixed set of candidate vectors, for eval and
// classify: every score is the dot product summed over the dimensions in order, so it has the same
// bits whatever the blocking, the thread count or which side is the query.
#pragma once

#include <cstddef>
#include <vector>

namespace audiosim {

class CandidateScorer {
public:
    // `candidates`: count x dim unit vectors, row-major.
    CandidateScorer(const std::vector<float>& candidates, size_t count, size_t dim);
    size_t size() const { return count_; }
    // out[q * size() + j] = score of query q (rows of `queries`, query_count x dim) and candidate j.
    void score(const float* queries, size_t query_count, float* out) const;

private:
    size_t count_, dim_;
    // Transposed (dim x count): the inner loop runs over candidates, independent sums that the
    // compiler vectorizes without reordering any of them.
    std::vector<float> transposed_;
};

}  // namespace audiosim
