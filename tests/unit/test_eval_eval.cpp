// lib/eval/eval: labels files, file vectors, rankings and metrics on hand-built geometry.
//
// Vectors are 2-D unit vectors given by an angle in degrees, so the cosine ranking of a query is
// the order of angular distance, and every expected number below is worked out by hand.
#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include "eval/eval.hpp"
#include "labeled_vectors.hpp"
#include "support.hpp"

using namespace audiosim;
using audiosim::test::TempFolder;
using namespace audiosim::test::labeled_vectors;

namespace {

EvalResult run(const Fixture& f, std::vector<std::string> exclude_same = {}) {
    EvalOptions options;
    options.exclude_same = std::move(exclude_same);
    return evaluate(f.catalog, f.table, f.labels, options);
}

const LabelEval& label_row(const EvalResult& r, const std::string& label) {
    for (const LabelEval& row : r.per_label)
        if (row.label == label) return row;
    FAIL("no label " << label);
    return r.per_label.front();
}

// Two labels, six files on a half circle: A at 0, 10, 50 degrees (50 is the mean of two chunks at
// 40 and 60), B at 28, 95, 120. Rankings by angular distance:
//   a1: a2 b1 a3 b2 b3 -> A B A B B: p@1 1, p@5 2/5, p@10 2/10, AP (1 + 2/3) / 2 = 5/6
//   a2: a1 b1 a3 b2 b3 -> A B A B B: the same
//   a3: b1 a2 b2 a1 b3 -> B A B A B: p@1 0, p@5 2/5, AP (1/2 + 2/4) / 2 = 1/2
//   b1: a2 a3 a1 b2 b3 -> A A A B B: p@1 0, p@5 2/5, AP (1/4 + 2/5) / 2 = 0.325
//   b2: b3 a3 b1 a2 a1 -> B A B A A: p@1 1, p@5 2/5, AP 5/6
//   b3: b2 a3 b1 a2 a1 -> B A B A A: the same
std::string fmt_path(int i) { return "f" + std::to_string(100 + i) + ".wav"; }

std::vector<FileSpec> half_circle() {
    return {{"A/a1.wav", "A", {0}},          {"A/a2.wav", "A", {10}}, {"A/a3.wav", "A", {40, 60}},
            {"B/b1.wav", "B", {28}},         {"B/b2.wav", "B", {95}}, {"B/b3.wav", "B", {120}}};
}

}  // namespace

TEST_SUITE_BEGIN("eval/eval");

TEST_CASE("known geometry gives the hand-computed precision and mAP") {
    Fixture f = build(half_circle());
    EvalResult r = run(f);
    CHECK(r.labeled_with_vectors == 6);
    CHECK(r.overall.queries == 6);
    CHECK(r.overall.skipped == 0);
    CHECK(r.overall.precision[0] == doctest::Approx(4.0 / 6));
    CHECK(r.overall.precision[1] == doctest::Approx(0.4));
    CHECK(r.overall.precision[2] == doctest::Approx(0.2));  // 5 candidates, divided by 10 all the same
    CHECK(r.overall.map == doctest::Approx((4 * 5.0 / 6 + 0.5 + 0.325) / 6));
    CHECK(r.mean_candidates == doctest::Approx(5));
    CHECK(r.mean_relevant == doctest::Approx(2));

    REQUIRE(r.per_label.size() == 2);
    CHECK(r.per_label[0].label == "A");
    CHECK(r.per_label[0].metrics.queries == 3);
    CHECK(r.per_label[0].metrics.precision[0] == doctest::Approx(2.0 / 3));
    CHECK(r.per_label[0].metrics.map == doctest::Approx((5.0 / 6 + 5.0 / 6 + 0.5) / 3));
    CHECK(r.per_label[1].label == "B");
    CHECK(r.per_label[1].metrics.precision[0] == doctest::Approx(2.0 / 3));
    CHECK(r.per_label[1].metrics.map == doctest::Approx((0.325 + 5.0 / 6 + 5.0 / 6) / 3));

    // Every query has all three files of the other label in its top 5.
    REQUIRE(r.confusions.size() == 2);
    CHECK(r.confusions[0].query_label == "A");
    CHECK(r.confusions[0].retrieved_label == "B");
    CHECK(r.confusions[0].count == 9);
    CHECK(r.confusions[1].query_label == "B");
    CHECK(r.confusions[1].count == 9);
}

TEST_CASE("files without vectors, without labels, failed, and label rows naming no file are counted") {
    std::vector<FileSpec> files = half_circle();
    files.push_back({"A/not-embedded.wav", "A", {}});
    files.push_back({"unlabeled.wav", "", {5}});
    Fixture f = build(files);
    f.labels.by_path["A/gone.wav"] = {"A", {}};
    FileRecord failed;
    failed.file_id = 99;
    failed.path = "A/broken.wav";
    failed.status = FileStatus::corrupt;
    f.labels.by_path["A/broken.wav"] = {"A", {}};
    CatalogDelta delta;
    delta.records.push_back(failed);
    f.catalog.apply(std::move(delta));

    EvalResult r = run(f);
    CHECK(r.catalog_files == 8);
    CHECK(r.labeled_with_vectors == 6);
    CHECK(r.labeled_without_vectors == 1);
    CHECK(r.unlabeled_with_vectors == 1);
    CHECK(r.label_rows_without_file == 2);
    // The unlabeled file at 5 degrees would sit between a1 and a2; it is no candidate.
    CHECK(r.overall.map == doctest::Approx((4 * 5.0 / 6 + 0.5 + 0.325) / 6));
}

TEST_CASE("an exact duplicate (same content hash) is never a hit, a near duplicate is") {
    // a1 and its copy at 0 degrees; a2 at 60, b1 at 20. Counting the copy, a1's first hit would be
    // its copy (p@1 1); without it, b1 comes first (p@1 0).
    std::vector<FileSpec> files = {{"A/a1.wav", "A", {0}, 7},
                                   {"dupes/a1-copy.wav", "A", {0}, 7},
                                   {"A/a2.wav", "A", {60}},
                                   {"B/b1.wav", "B", {20}},
                                   {"B/b2.wav", "B", {25}}};
    EvalResult r = run(build(files));
    CHECK(r.duplicate_pairs == 2);
    const LabelEval& a = label_row(r, "A");
    CHECK(a.metrics.queries == 3);
    // a1 and the copy: b1, b2, a2 -> p@1 0, AP 1/3 over one relevant; a2: b2, b1, then both copies.
    CHECK(a.metrics.precision[0] == doctest::Approx(0));
    CHECK(r.mean_candidates == doctest::Approx((3 + 3 + 4 + 4 + 4) / 5.0));

    files[1].hash = 8;  // now a re-encode: another hash, a fair hit
    r = run(build(files));
    CHECK(r.duplicate_pairs == 0);
    CHECK(label_row(r, "A").metrics.precision[0] == doctest::Approx(2.0 / 3));
}

TEST_CASE("a query whose only relevant candidates are exact duplicates is skipped") {
    std::vector<FileSpec> files = {{"A/a1.wav", "A", {0}, 7}, {"A/a1-copy.wav", "A", {0}, 7}, {"B/b1.wav", "B", {20}},
                                   {"B/b2.wav", "B", {30}}};
    EvalResult r = run(build(files));
    CHECK(r.overall.queries == 2);
    CHECK(r.overall.skipped == 2);
    CHECK(label_row(r, "A").metrics.queries == 0);
    CHECK(label_row(r, "A").metrics.skipped == 2);
    CHECK(label_row(r, "B").metrics.precision[0] == doctest::Approx(1));
}

TEST_CASE("a label with one file is skipped and counted") {
    std::vector<FileSpec> files = half_circle();
    files.push_back({"C/c1.wav", "C", {180}});
    EvalResult r = run(build(files));
    CHECK(r.overall.queries == 6);
    CHECK(r.overall.skipped == 1);
    const LabelEval& c = label_row(r, "C");
    CHECK(c.metrics.queries == 0);
    CHECK(c.metrics.skipped == 1);
    CHECK(c.metrics.map == 0);
    CHECK(r.mean_candidates == doctest::Approx(6));  // c1 is a candidate of the others
}

TEST_CASE("exclude-same removes the query's group from its ranking") {
    // a1 and a2 on machine m1 (a2 next to a1), b2 on m1; a3 and b1 on m2; b3 has no machine ("-").
    std::vector<FileSpec> files = {{"A/a1.wav", "A", {0}, 0, {{"machine", "m1"}}},
                                   {"A/a2.wav", "A", {5}, 0, {{"machine", "m1"}}},
                                   {"A/a3.wav", "A", {40}, 0, {{"machine", "m2"}}},
                                   {"B/b1.wav", "B", {20}, 0, {{"machine", "m2"}}},
                                   {"B/b2.wav", "B", {30}, 0, {{"machine", "m1"}}},
                                   {"B/b3.wav", "B", {35}, 0, {{"machine", "-"}}}};
    Fixture f = build(files, {"path", "label", "machine"});
    EvalResult all = run(f);
    EvalResult other = run(f, {"machine"});
    CHECK(all.mean_candidates == doctest::Approx(5));
    // m1 files (a1 a2 b2) keep 3 candidates, m2 files (a3 b1) 4, b3 keeps all 5.
    CHECK(other.mean_candidates == doctest::Approx((3 + 3 + 3 + 4 + 4 + 5) / 6.0));
    // a1: with a2 first, p@1 1; from other machines only: b1 (20) comes before a3 (40).
    CHECK(label_row(all, "A").metrics.precision[0] == doctest::Approx(2.0 / 3));  // a1, a2 hit; a3 finds b3
    // Other machines: a1 -> b1, a2 -> b1, a3 -> b3 (35): no A query hits first.
    CHECK(label_row(other, "A").metrics.precision[0] == doctest::Approx(0));

    auto [kind, message] = test::error_of([&] { run(f, {"kit"}); });
    CHECK(kind == ErrorKind::usage);
    CHECK(test::contains(message, "'kit'"));
    CHECK(test::contains(message, "path, label, machine"));
    CHECK(test::error_of([&] { run(f, {"path"}); }).first == ErrorKind::usage);
}

TEST_CASE("ties are broken by path") {
    // m and n have the same vector; the query q (label X) ranks the lower path first.
    std::vector<FileSpec> files = {{"q.wav", "X", {0}}, {"m.wav", "X", {30}}, {"n.wav", "Y", {30}}};
    EvalResult r = run(build(files));
    // q: m (X) before n -> hit; m: n (identical) before q -> miss; n: no other Y -> skipped.
    CHECK(label_row(r, "X").metrics.precision[0] == doctest::Approx(0.5));
    CHECK(r.overall.skipped == 1);

    files = {{"q.wav", "X", {0}}, {"n.wav", "X", {30}}, {"m.wav", "Y", {30}}};
    r = run(build(files));
    CHECK(label_row(r, "X").metrics.precision[0] == doctest::Approx(0));
    for (int repeat = 0; repeat < 3; ++repeat) CHECK(run(build(files)).overall.map == r.overall.map);
}

TEST_CASE("a reference implementation agrees, with more than 10 relevant candidates") {
    // 40 files at seeded random angles in 3 labels of 16, 14 and 10 files: every query has more
    // relevant candidates than the depth of 10, so AP@10 divides by 10 (A, B) or by 9 (C).
    std::mt19937 random(42);
    std::uniform_real_distribution<double> uniform(0, 360);
    std::vector<FileSpec> files;
    for (int i = 0; i < 40; ++i)
        files.push_back({fmt_path(i), i < 16 ? "A" : i < 30 ? "B" : "C", {uniform(random)}});
    Fixture fixture = build(files);
    EvalResult r = run(fixture);

    double p1 = 0, p5 = 0, p10 = 0, map = 0;
    for (size_t q = 0; q < files.size(); ++q) {
        std::vector<std::pair<double, size_t>> ranking;  // (-cosine, index): index order is path order
        size_t relevant = 0;
        for (size_t j = 0; j < files.size(); ++j) {
            if (j == q) continue;
            ranking.push_back({-std::cos((files[q].angles[0] - files[j].angles[0]) * M_PI / 180), j});
            relevant += files[j].label == files[q].label;
        }
        std::sort(ranking.begin(), ranking.end());
        double hits = 0, ap = 0;
        for (size_t rank = 1; rank <= 10; ++rank) {
            if (files[ranking[rank - 1].second].label == files[q].label) {
                ++hits;
                ap += hits / static_cast<double>(rank);
            }
            if (rank == 1) p1 += hits;
            if (rank == 5) p5 += hits / 5;
            if (rank == 10) p10 += hits / 10;
        }
        map += ap / static_cast<double>(std::min<size_t>(10, relevant));
    }
    CHECK(r.overall.queries == 40);
    CHECK(r.overall.precision[0] == doctest::Approx(p1 / 40));
    CHECK(r.overall.precision[1] == doctest::Approx(p5 / 40));
    CHECK(r.overall.precision[2] == doctest::Approx(p10 / 40));
    CHECK(r.overall.map == doctest::Approx(map / 40));
    CHECK(r.overall.map > 0);
    CHECK(r.overall.map < 1);

    // Threads change nothing, to the last bit.
    EvalOptions threaded;
    threaded.threads = 3;
    EvalResult t = evaluate(fixture.catalog, fixture.table, fixture.labels, threaded);
    CHECK(t.overall.map == r.overall.map);
    CHECK(t.overall.precision == r.overall.precision);
    CHECK(t.mean_candidates == r.mean_candidates);
    REQUIRE(t.confusions.size() == r.confusions.size());
    for (size_t i = 0; i < t.confusions.size(); ++i) CHECK(t.confusions[i].count == r.confusions[i].count);

    // A label whose files all come first scores exactly 1.
    EvalResult x = run(build({{"x1.wav", "X", {0}}, {"x2.wav", "X", {1}}, {"x3.wav", "X", {2}}, {"y.wav", "Y", {90}}}));
    CHECK(label_row(x, "X").metrics.map == doctest::Approx(1));
    CHECK(label_row(x, "X").metrics.precision[0] == doctest::Approx(1));
    CHECK(label_row(x, "X").metrics.precision[1] == doctest::Approx(2.0 / 5));
}

TEST_CASE("labels TSV: columns, relative_path, absolute paths, CRLF, errors") {
    TempFolder folder;
    std::string root = folder.path() + "/library";
    test::write_bytes(folder.file("labels.tsv"),
                      "\xef\xbb\xbfpath\tlabel\tkit\r\nkick/k1.wav\tkick\tkitA\r\n\r\n" + root +
                          "/snare/s1.wav\tsnare\t-\r\n/elsewhere/x.wav\tx\tkitB\r\nkick/k1.wav\tkick\tkitC\r\n");
    Labels labels = read_labels_tsv(folder.file("labels.tsv"), root);
    CHECK(labels.columns == std::vector<std::string>{"path", "label", "kit"});
    CHECK(labels.rows == 4);
    REQUIRE(labels.by_path.size() == 3);
    CHECK(labels.by_path.at("kick/k1.wav").label == "kick");
    CHECK(labels.by_path.at("kick/k1.wav").fields.at("kit") == "kitC");  // the later row wins
    CHECK(labels.by_path.at("snare/s1.wav").label == "snare");
    CHECK(labels.by_path.at("/elsewhere/x.wav").label == "x");

    test::write_bytes(folder.file("devset.tsv"), "relative_path\tlabel\ndrum-machines/TR-808/kick.ogg\tkick\n");
    labels = read_labels_tsv(folder.file("devset.tsv"), root);
    CHECK(labels.path_column == "relative_path");
    CHECK(labels.by_path.at("drum-machines/TR-808/kick.ogg").label == "kick");

    auto missing = test::error_of([&] { read_labels_tsv(folder.file("nope.tsv"), root); });
    CHECK(missing.first == ErrorKind::input);
    CHECK(test::contains(missing.second, "nope.tsv"));
    test::write_bytes(folder.file("nolabel.tsv"), "path\tclass\na.wav\tkick\n");
    auto no_label = test::error_of([&] { read_labels_tsv(folder.file("nolabel.tsv"), root); });
    CHECK(no_label.first == ErrorKind::input);
    CHECK(test::contains(no_label.second, "path, class"));
    test::write_bytes(folder.file("ragged.tsv"), "path\tlabel\na.wav\tkick\textra\n");
    auto ragged = test::error_of([&] { read_labels_tsv(folder.file("ragged.tsv"), root); });
    CHECK(ragged.first == ErrorKind::input);
    CHECK(test::contains(ragged.second, "line 2"));
    test::write_bytes(folder.file("empty.tsv"), "");
    CHECK(test::error_of([&] { read_labels_tsv(folder.file("empty.tsv"), root); }).first == ErrorKind::input);
}

TEST_CASE("labels from folders: the parent folder's name, none at the root") {
    Fixture f = build({{"drums/kick/k1.wav", "", {0}}, {"snare/s1.wav", "", {10}}, {"loose.wav", "", {20}}});
    Labels labels = labels_from_folders(f.catalog);
    CHECK(labels.source == "folders");
    REQUIRE(labels.by_path.size() == 2);
    CHECK(labels.by_path.at("drums/kick/k1.wav").label == "kick");
    CHECK(labels.by_path.at("snare/s1.wav").label == "snare");
}

TEST_CASE("no labeled files: nothing to score, no failure") {
    Fixture f = build({{"a.wav", "", {0}}});
    EvalResult r = run(f);
    CHECK(r.overall.queries == 0);
    CHECK(r.per_label.empty());
    CHECK(r.mean_candidates == 0);
}

TEST_SUITE_END();
