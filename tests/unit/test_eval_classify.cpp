// lib/eval/classify: the weighted kNN vote on hand-built 2-D geometry (angles in degrees), where
// every score is a cosine of an angle and every expected vote is worked out by hand.
#include <cmath>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "eval/classify.hpp"
#include "labeled_vectors.hpp"
#include "util/error.hpp"

using namespace audiosim;
using namespace audiosim::test::labeled_vectors;

namespace {

ClassifyResult run(const Fixture& f, size_t k, double temperature, bool evaluate = false,
                   std::vector<std::string> exclude_same = {}) {
    ClassifyOptions options;
    options.k = k;
    options.temperature = temperature;
    options.evaluate = evaluate;
    options.exclude_same = std::move(exclude_same);
    return classify(f.catalog, f.table, f.labels, options);
}

const Prediction& prediction_of(const std::vector<Prediction>& predictions, const std::string& path) {
    for (const Prediction& p : predictions)
        if (p.path == path) return p;
    FAIL("no prediction for " << path);
    return predictions.front();
}

double cosd(double degrees) { return std::cos(degrees * M_PI / 180.0); }

// A at 0 and 10 degrees, B at 90 and 100; unlabeled files between them.
std::vector<FileSpec> two_clusters() {
    return {{"A/a1.wav", "A", {0}},   {"A/a2.wav", "A", {10}}, {"B/b1.wav", "B", {90}}, {"B/b2.wav", "B", {100}},
            {"u/near_a.wav", "", {5}}, {"u/towards_b.wav", "", {60}}, {"u/none.wav", "", {}}};
}

}  // namespace

TEST_SUITE_BEGIN("eval/classify");

TEST_CASE("every unlabeled file with a vector gets the heaviest label of its k nearest labeled files") {
    Fixture f = build(two_clusters());
    ClassifyResult r = run(f, 2, 0.02);
    REQUIRE(r.predictions.size() == 2);  // u/none.wav has no vector
    CHECK(r.unlabeled_without_vectors == 1);
    CHECK(r.labeled_with_vectors == 4);
    CHECK(r.held_out.empty());           // no --evaluate

    const Prediction& near_a = prediction_of(r.predictions, "u/near_a.wav");
    CHECK(near_a.label == "A");
    CHECK(near_a.confidence == doctest::Approx(1.0));
    CHECK(near_a.votes == 2);
    REQUIRE(near_a.voters.size() == 2);
    // 5 degrees from both: equal scores, broken by path
    CHECK(near_a.voters[0].path == "A/a1.wav");
    CHECK(near_a.voters[1].path == "A/a2.wav");
    CHECK(near_a.voters[0].score == doctest::Approx(cosd(5)).epsilon(1e-6));

    // 60 degrees: b1 at 30 (0.866), b2 at 40 (0.766), a2 at 50 (0.643)
    ClassifyResult three = run(f, 3, 0.02);
    const Prediction& towards_b = prediction_of(three.predictions, "u/towards_b.wav");
    CHECK(towards_b.label == "B");
    CHECK(towards_b.votes == 2);
    REQUIRE(towards_b.voters.size() == 3);
    CHECK(towards_b.voters[0].path == "B/b1.wav");
    CHECK(towards_b.voters[2].path == "A/a2.wav");
    const double w2 = std::exp((cosd(40) - cosd(30)) / 0.02), w3 = std::exp((cosd(50) - cosd(30)) / 0.02);
    CHECK(towards_b.confidence == doctest::Approx((1 + w2) / (1 + w2 + w3)).epsilon(1e-5));
    CHECK(towards_b.voters[2].weight == doctest::Approx(w3 / (1 + w2 + w3)).epsilon(1e-4));
    double total = 0;
    for (const Voter& voter : towards_b.voters) total += voter.weight;
    CHECK(total == doctest::Approx(1.0));
}

TEST_CASE("a large temperature is a plain majority; a small one follows the nearest") {
    // Three A voters against one B: a majority of 3/4 when every weight is ~1; with a tiny
    // temperature only the nearest (a1) counts.
    Fixture f = build({{"A/a1.wav", "A", {115}}, {"A/a2.wav", "A", {118}}, {"A/a3.wav", "A", {121}},
                       {"B/b1.wav", "B", {20}}, {"u/x.wav", "", {70}}});
    // from 70: b1 50 degrees (0.643); a1 45 (0.707), a2 48 (0.669), a3 51 (0.629)
    const Prediction majority = run(f, 4, 1e6).predictions.at(0);
    CHECK(majority.label == "A");
    CHECK(majority.confidence == doctest::Approx(0.75).epsilon(1e-4));
    const Prediction sharp = run(f, 4, 0.001).predictions.at(0);
    CHECK(sharp.label == "A");
    CHECK(sharp.confidence > 0.999);

    Fixture near_b = build({{"A/a1.wav", "A", {40}}, {"A/a2.wav", "A", {41}}, {"B/b1.wav", "B", {72}}, {"u/x.wav", "", {70}}});
    // from 70: b1 2 degrees; a1 30, a2 29: two A far away against one B very close
    CHECK(run(near_b, 3, 1e6).predictions.at(0).label == "A");    // 2 of 3
    CHECK(run(near_b, 3, 0.02).predictions.at(0).label == "B");    // e^(-6.5) per A voter
}

TEST_CASE("equal label weights go to the label of the better-ranked voter") {
    // 45 degrees between A at 0 and B at 90: the same score, so path order ranks A first
    Fixture f = build({{"A/a.wav", "A", {0}}, {"B/b.wav", "B", {90}}, {"u/x.wav", "", {45}}});
    const Prediction p = run(f, 2, 0.02).predictions.at(0);
    REQUIRE(p.voters.size() == 2);
    REQUIRE(p.voters[0].score == p.voters[1].score);
    CHECK(p.voters[0].path == "A/a.wav");
    CHECK(p.label == "A");
    CHECK(p.confidence == doctest::Approx(0.5));
}

TEST_CASE("evaluate: every labeled file voted for by the others, its duplicates and its groups out") {
    std::vector<FileSpec> files = {{"A/a1.wav", "A", {0}, 0, {{"source", "s1"}}},
                                   {"A/a2.wav", "A", {10}, 0, {{"source", "s1"}}},
                                   {"A/a3.wav", "A", {30}, 0, {{"source", "s2"}}},
                                   {"B/b1.wav", "B", {90}, 0, {{"source", "s3"}}},
                                   {"B/b2.wav", "B", {100}, 0, {{"source", "s3"}}},
                                   {"u/x.wav", "", {50}}};
    Fixture f = build(files, {"path", "label", "source"});
    ClassifyResult r = run(f, 1, 0.02, true);
    CHECK(r.predictions.size() == 1);
    REQUIRE(r.held_out.size() == 5);
    // k = 1: a1 -> a2, a2 -> a1, a3 -> a2 (20 degrees), b1 -> b2, b2 -> b1: all right
    CHECK(r.correct == 5);
    for (const Prediction& p : r.held_out) CHECK(p.voters.at(0).path != p.path);
    REQUIRE(r.per_label.size() == 2);
    CHECK(r.per_label[0].label == "A");
    CHECK(r.per_label[0].files == 3);
    CHECK(r.per_label[0].correct == 3);
    REQUIRE(r.coverage.size() == classify_confidence_levels.size());
    CHECK(r.coverage[0].predictions == 5);  // k = 1: every confidence is 1

    // Without neighbours of the same source: a1 and a2 only see a3 (A) and B; b1 and b2 only see A.
    ClassifyResult grouped = run(f, 1, 0.02, true, {"source"});
    CHECK(prediction_of(grouped.held_out, "A/a1.wav").voters.at(0).path == "A/a3.wav");
    CHECK(prediction_of(grouped.held_out, "B/b1.wav").label == "A");
    CHECK(prediction_of(grouped.held_out, "B/b2.wav").label == "A");
    CHECK(grouped.correct == 3);
    CHECK(grouped.per_label[1].correct == 0);

    // An exact duplicate (the same content hash) does not vote for its copy.
    files[1].hash = 7;
    files.push_back({"B/copy_of_a2.wav", "B", {10}, 7});
    Fixture with_copy = build(files, {"path", "label", "source"});
    ClassifyResult copies = run(with_copy, 1, 0.02, true);
    CHECK(prediction_of(copies.held_out, "A/a2.wav").voters.at(0).path == "A/a1.wav");
    CHECK(prediction_of(copies.held_out, "B/copy_of_a2.wav").voters.at(0).path == "A/a1.wav");
}

TEST_CASE("no labeled candidate: no label, counted; bad options are usage errors") {
    Fixture alone = build({{"A/a.wav", "A", {0}}, {"u/x.wav", "", {10}}});
    ClassifyResult r = run(alone, 3, 0.02, true);
    CHECK(prediction_of(r.predictions, "u/x.wav").label == "A");
    REQUIRE(r.held_out.size() == 1);
    CHECK(r.held_out[0].label.empty());  // its only candidate is itself
    CHECK(r.held_out_without_candidate == 1);
    CHECK(r.correct == 0);

    Fixture unlabeled = build({{"u/x.wav", "", {10}}});
    ClassifyResult none = run(unlabeled, 3, 0.02);
    REQUIRE(none.predictions.size() == 1);
    CHECK(none.predictions[0].label.empty());
    CHECK(none.predictions[0].voters.empty());

    CHECK_THROWS_AS(run(alone, 0, 0.02), Error);
    CHECK_THROWS_AS(run(alone, 3, 0.0), Error);
    try {
        run(alone, 3, 0.02, true, {"machine"});
        FAIL("no error for an unknown column");
    } catch (const Error& e) {
        CHECK(e.kind() == ErrorKind::usage);
        CHECK(std::string(e.what()).find("machine") != std::string::npos);
    }
}

TEST_CASE("the result does not depend on the number of threads") {
    std::vector<FileSpec> files;
    for (int i = 0; i < 60; ++i)
        files.push_back({"f" + std::to_string(100 + i) + ".wav", i % 3 == 0 ? "" : (i % 2 ? "odd" : "even"),
                         {static_cast<double>((i * 37) % 180)}});
    Fixture f = build(files);
    ClassifyOptions one, four;
    one.evaluate = four.evaluate = true;
    four.threads = 4;
    ClassifyResult a = classify(f.catalog, f.table, f.labels, one), b = classify(f.catalog, f.table, f.labels, four);
    REQUIRE(a.predictions.size() == b.predictions.size());
    REQUIRE(a.held_out.size() == b.held_out.size());
    for (size_t i = 0; i < a.predictions.size(); ++i) {
        CHECK(a.predictions[i].path == b.predictions[i].path);
        CHECK(a.predictions[i].label == b.predictions[i].label);
        CHECK(a.predictions[i].confidence == b.predictions[i].confidence);
    }
    CHECK(a.correct == b.correct);
}
