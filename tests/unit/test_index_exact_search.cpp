// lib/index/exact_search: the CPU exact search against a naive reference, edge sizes, ties, threads.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <doctest/doctest.h>

#include "index/exact_search.hpp"
#include "support.hpp"

using audiosim::ErrorKind;
using audiosim::make_cpu_exact_search;
using audiosim::Neighbours;
using audiosim::test::contains;
using audiosim::test::error_of;
using audiosim::test::random_unit_vectors;
using audiosim::test::check_tie_order;
using audiosim::test::tied_unit_vectors;
using audiosim::test::UnitVectors;

namespace {

// Every similarity, sorted by the documented order, cut to k.
Neighbours naive_search(const UnitVectors& data, const float* query, size_t k) {
    Neighbours all;
    for (size_t i = 0; i < data.ids.size(); i++) {
        float dot = 0;
        for (size_t d = 0; d < data.dim; d++) dot += query[d] * data.vectors[i * data.dim + d];
        all.emplace_back(data.ids[i], dot);
    }
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
        return a.second > b.second || (a.second == b.second && a.first < b.first);
    });
    all.resize(std::min(k, all.size()));
    return all;
}

void check_equal(const Neighbours& got, const Neighbours& expected) {
    REQUIRE(got.size() == expected.size());
    for (size_t i = 0; i < got.size(); i++) {
        CHECK(got[i].first == expected[i].first);
        CHECK(got[i].second == doctest::Approx(expected[i].second).epsilon(1e-6));
    }
}

std::vector<Neighbours> search_with(const UnitVectors& data, unsigned threads, const std::vector<float>& queries, size_t k) {
    auto search = make_cpu_exact_search(data.ids, data.vectors, data.dim, threads);
    return search->search(queries.data(), queries.size() / data.dim, k);
}

}  // namespace

TEST_SUITE_BEGIN("index/exact_search");

TEST_CASE("matches a naive reference on random vectors, for index members and other queries") {
    // dim 37 and 1,003 rows: neither fills whole panels; 50 queries: not whole query tiles.
    const UnitVectors data = random_unit_vectors(1003, 37, 1);
    const UnitVectors others = random_unit_vectors(25, 37, 2);
    std::vector<float> queries(data.vectors.begin(), data.vectors.begin() + 25 * 37);
    queries.insert(queries.end(), others.vectors.begin(), others.vectors.end());

    auto search = make_cpu_exact_search(data.ids, data.vectors, data.dim, 1);
    CHECK(search->size() == 1003);
    CHECK(search->dim() == 37);
    CHECK(search->device() == "cpu (audiosim)");
    for (size_t k : {1, 10, 100}) {
        auto results = search->search(queries.data(), 50, k);
        REQUIRE(results.size() == 50);
        for (size_t q = 0; q < 50; q++) check_equal(results[q], naive_search(data, &queries[q * 37], k));
        for (size_t q = 0; q < 25; q++) {
            CHECK(results[q][0].first == data.ids[q]);  // a member finds itself first
            CHECK(results[q][0].second == doctest::Approx(1.0).epsilon(1e-5));
        }
    }
}

TEST_CASE("k larger than the set returns every row in order; k = 0 returns nothing") {
    const UnitVectors data = random_unit_vectors(13, 5, 3);
    const UnitVectors queries = random_unit_vectors(3, 5, 4);
    auto search = make_cpu_exact_search(data.ids, data.vectors, data.dim, 1);
    auto all = search->search(queries.vectors.data(), 3, 1000);
    REQUIRE(all.size() == 3);
    for (size_t q = 0; q < 3; q++) check_equal(all[q], naive_search(data, &queries.vectors[q * 5], 13));
    auto none = search->search(queries.vectors.data(), 3, 0);
    REQUIRE(none.size() == 3);
    for (const auto& result : none) CHECK(result.empty());
    CHECK(search->search(queries.vectors.data(), 0, 10).empty());
}

TEST_CASE("an empty set answers every query with no neighbours") {
    auto search = make_cpu_exact_search({}, {}, 8, 2);
    CHECK(search->size() == 0);
    std::vector<float> query(16, 0.25f);
    auto results = search->search(query.data(), 2, 5);
    REQUIRE(results.size() == 2);
    CHECK(results[0].empty());
    CHECK(results[1].empty());
}

TEST_CASE("one row is everyone's nearest") {
    auto search = make_cpu_exact_search({42}, {0.6f, 0.8f}, 2, 1);
    std::vector<float> queries = {1.0f, 0.0f, 0.0f, 1.0f};
    auto results = search->search(queries.data(), 2, 3);
    REQUIRE(results.size() == 2);
    REQUIRE(results[0].size() == 1);
    CHECK(results[0][0].first == 42);
    CHECK(results[0][0].second == doctest::Approx(0.6f));
    REQUIRE(results[1].size() == 1);
    CHECK(results[1][0].second == doctest::Approx(0.8f));
}

TEST_CASE("equal similarities come in ascending id order, also where k cuts through them") {
    const UnitVectors data = tied_unit_vectors();
    for (unsigned threads : {1u, 3u})
        check_tie_order(*make_cpu_exact_search(data.ids, data.vectors, data.dim, threads));
}

TEST_CASE("results do not depend on the thread count, whether threads split queries or rows") {
    const UnitVectors data = random_unit_vectors(2000, 24, 5);
    const UnitVectors queries = random_unit_vectors(150, 24, 6);
    for (size_t count : {1, 3, 150}) {
        std::vector<float> batch(queries.vectors.begin(), queries.vectors.begin() + count * 24);
        auto one = search_with(data, 1, batch, 20);
        for (unsigned threads : {2u, 3u, 8u}) {
            auto many = search_with(data, threads, batch, 20);
            REQUIRE(many.size() == one.size());
            for (size_t q = 0; q < count; q++) CHECK(many[q] == one[q]);  // bit-identical
        }
    }
}

TEST_CASE("a NaN query has no neighbours") {
    const UnitVectors data = random_unit_vectors(20, 4, 7);
    auto search = make_cpu_exact_search(data.ids, data.vectors, 4, 1);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> query = {nan, 0.0f, 0.0f, 0.0f};
    auto results = search->search(query.data(), 1, 5);
    REQUIRE(results.size() == 1);
    CHECK(results[0].empty());
}

TEST_CASE("sizes that do not match, dim 0 and duplicate ids are refused; non-finite values are bad input") {
    auto [kind, message] = error_of([] { make_cpu_exact_search({1, 2}, std::vector<float>(7), 4, 1); });
    CHECK(kind == ErrorKind::internal);
    CHECK(contains(message, "7 floats for 2 vectors of dim 4"));
    CHECK(error_of([] { make_cpu_exact_search({1}, std::vector<float>(12), 4, 1); }).first == ErrorKind::internal);
    CHECK(error_of([] { make_cpu_exact_search({1}, {1.0f}, 0, 1); }).first == ErrorKind::internal);
    auto duplicate = error_of([] { make_cpu_exact_search({5, 5}, std::vector<float>(4, 0.5f), 2, 1); });
    CHECK(duplicate.first == ErrorKind::internal);
    CHECK(contains(duplicate.second, "duplicate ids"));
    auto infinite = error_of([] { make_cpu_exact_search({8, 9}, {1.0f, 0.0f, INFINITY, 0.0f}, 2, 1); });
    CHECK(infinite.first == ErrorKind::input);
    CHECK(contains(infinite.second, "id 9"));
}

TEST_SUITE_END();
