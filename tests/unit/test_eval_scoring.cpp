// lib/eval/scoring: blocked brute-force scores equal the plain dot product summed in order, bit
// for bit, however the queries are grouped.
#include <random>
#include <vector>

#include <doctest/doctest.h>

#include "eval/scoring.hpp"

using namespace audiosim;

TEST_SUITE_BEGIN("eval/scoring");

TEST_CASE("scores are the in-order dot products, the same bits in any grouping of queries") {
    const size_t dim = 37, candidates = 2100, queries = 11;  // more candidates than one tile (2048)
    std::mt19937 random(5);
    std::normal_distribution<float> normal;
    std::vector<float> rows(candidates * dim), asked(queries * dim);
    for (float& x : rows) x = normal(random);
    for (float& x : asked) x = normal(random);
    CandidateScorer scorer(rows, candidates, dim);
    CHECK(scorer.size() == candidates);

    std::vector<float> all(queries * candidates);
    scorer.score(asked.data(), queries, all.data());
    size_t exact = 0;
    for (size_t q = 0; q < queries; ++q)
        for (size_t j = 0; j < candidates; ++j) {
            float sum = 0.0f;
            for (size_t d = 0; d < dim; ++d) sum += asked[q * dim + d] * rows[j * dim + d];
            exact += all[q * candidates + j] == sum;
        }
    CHECK(exact == queries * candidates);

    std::vector<float> one(candidates);
    for (size_t q = 0; q < queries; ++q) {
        scorer.score(&asked[q * dim], 1, one.data());
        CHECK(std::equal(one.begin(), one.end(), all.begin() + static_cast<std::ptrdiff_t>(q * candidates)));
    }
}
