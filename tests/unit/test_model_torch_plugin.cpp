// lib/model/torch_plugin, through torch_backend() (the plugin beside unit_tests): exact search.
#include <cstdint>
#include <vector>

#include <doctest/doctest.h>

#include "index/exact_search.hpp"
#include "model/backend.hpp"
#include "support.hpp"

using audiosim::ErrorKind;
using audiosim::make_cpu_exact_search;
using audiosim::torch_backend;
using audiosim::test::error_of;
using audiosim::test::random_unit_vectors;
using audiosim::test::check_tie_order;
using audiosim::test::tied_unit_vectors;
using audiosim::test::UnitVectors;

TEST_SUITE_BEGIN("model/torch_plugin");

TEST_CASE("torch exact search on the CPU finds what the CPU exact search finds") {
    // The default model's dimension; 3,001 rows: not a whole number of BLAS blocks.
    const UnitVectors data = random_unit_vectors(3001, 117, 11);
    const UnitVectors others = random_unit_vectors(20, 117, 12);
    std::vector<float> queries(data.vectors.begin(), data.vectors.begin() + 20 * 117);
    queries.insert(queries.end(), others.vectors.begin(), others.vectors.end());

    auto torch_search = torch_backend().exact_search(data.ids, data.vectors, data.dim, "cpu", 1);
    auto cpu_search = make_cpu_exact_search(data.ids, data.vectors, data.dim, 1);
    CHECK(torch_search->device() == "cpu");
    CHECK(torch_search->size() == 3001);
    CHECK(torch_search->dim() == 117);
    for (size_t k : {1, 10, 50}) {
        auto got = torch_search->search(queries.data(), 40, k);
        auto expected = cpu_search->search(queries.data(), 40, k);
        REQUIRE(got.size() == 40);
        for (size_t q = 0; q < 40; q++) {
            REQUIRE(got[q].size() == k);
            for (size_t i = 0; i < k; i++) {
                CHECK(got[q][i].first == expected[q][i].first);
                CHECK(got[q][i].second == doctest::Approx(expected[q][i].second).epsilon(1e-5));
            }
        }
    }
}

TEST_CASE("torch exact search: ties in ascending id order where k cuts through them; k past the end, k = 0") {
    const UnitVectors data = tied_unit_vectors();
    auto search = torch_backend().exact_search(data.ids, data.vectors, data.dim, "cpu", 1);
    check_tie_order(*search);
    const std::vector<float> query(4, 0.5f);
    auto none = search->search(query.data(), 1, 0);
    REQUIRE(none.size() == 1);
    CHECK(none[0].empty());
}

TEST_CASE("torch exact search: an empty set, sizes that do not match, an unknown device") {
    auto empty = torch_backend().exact_search({}, {}, 4, "cpu", 1);
    const std::vector<float> query(4, 0.5f);
    auto results = empty->search(query.data(), 1, 3);
    REQUIRE(results.size() == 1);
    CHECK(results[0].empty());
    CHECK(error_of([] { torch_backend().exact_search({1, 2}, std::vector<float>(7), 4, "cpu", 1); }).first ==
          ErrorKind::internal);
    CHECK(error_of([] { torch_backend().exact_search({1}, std::vector<float>(4), 4, "tpu", 1); }).first ==
          ErrorKind::usage);
}

TEST_SUITE_END();
