// lib/report/topics: a group's relevance to a topic vector.
#include <vector>

#include <doctest/doctest.h>

#include "pairs/pairs.hpp"
#include "report/topics.hpp"
#include "support.hpp"

using audiosim::FileVectorTable;
using audiosim::topic_relevance;
using audiosim::TopicRelevance;

namespace {

// Four unit file vectors of dim 2 (ids 10..13): along x, along y, at 60 degrees to x, along -x.
FileVectorTable four_files() {
    FileVectorTable table;
    table.dim = 2;
    table.ids = {10, 11, 12, 13};
    table.vectors = {1, 0, 0, 1, 0.5f, 0.8660254f, -1, 0};
    return table;
}

const float topic_x[2] = {1, 0};

}  // namespace

TEST_SUITE_BEGIN("report/topics");

TEST_CASE("mean, min and max of the cosines of the rows named, each row counted as often as named") {
    const FileVectorTable table = four_files();
    TopicRelevance all = topic_relevance(table, {0, 1, 2, 3}, topic_x);
    CHECK(all.files == 4);
    CHECK(all.mean == doctest::Approx((1 + 0 + 0.5 - 1) / 4.0));
    CHECK(all.min == doctest::Approx(-1));
    CHECK(all.max == doctest::Approx(1));

    TopicRelevance some = topic_relevance(table, {2, 1}, topic_x);
    CHECK(some.files == 2);
    CHECK(some.mean == doctest::Approx(0.25));
    CHECK(some.min == doctest::Approx(0));
    CHECK(some.max == doctest::Approx(0.5));

    TopicRelevance close = topic_relevance(table, {0, 2}, topic_x);  // every cosine above 0
    CHECK(close.min == doctest::Approx(0.5));
    CHECK(close.max == doctest::Approx(1));

    TopicRelevance one = topic_relevance(table, {3}, topic_x);
    CHECK(one.files == 1);
    CHECK(one.mean == doctest::Approx(-1));
    CHECK(one.min == one.max);

    const float topic_y[2] = {0, 1};
    TopicRelevance twice = topic_relevance(table, {1, 1, 0}, topic_y);
    CHECK(twice.files == 3);
    CHECK(twice.mean == doctest::Approx(2.0 / 3));
}

TEST_CASE("no rows: no files and zeros; a row outside the table is Error(internal)") {
    const FileVectorTable table = four_files();
    TopicRelevance none = topic_relevance(table, {}, topic_x);
    CHECK(none.files == 0);
    CHECK(none.mean == 0);
    CHECK(none.min == 0);
    CHECK(none.max == 0);
    CHECK(audiosim::test::error_of([&] { topic_relevance(table, {0, 4}, topic_x); }).first == audiosim::ErrorKind::internal);
    CHECK(audiosim::test::error_of([&] { topic_relevance(FileVectorTable{}, {0}, topic_x); }).first == audiosim::ErrorKind::internal);
}

TEST_SUITE_END();
