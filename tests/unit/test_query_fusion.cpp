// lib/query/fusion: votes, totals, regions and every fusion score on small hand-computed cases.
//
// The main case has two query chunks (n = 2):
//   chunk 0 (0-2 s):  f1 0.9 (at 10 s), f1 0.8 (a second hit in f1: does not count), f2 0.7
//   chunk 1 (1-3 s):  f2 0.6, f1 0.5, f3 0.4
// so f1 has 2 votes, total 1.4, best 0.9; f2 2 votes, total 1.3, best 0.7; f3 1 vote, total 0.4.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "query/fusion.hpp"
#include "support.hpp"

using namespace audiosim;
using audiosim::test::contains;
using audiosim::test::error_of;

namespace {

ChunkHit hit(uint64_t chunk_id, uint64_t file_id, float similarity, double start = 0, double duration = 2) {
    return {chunk_id, file_id, similarity, start, duration};
}

std::vector<QueryChunkHits> main_case() {
    return {
        {0.0, 2.0, {hit(1, 1, 0.9f, 10.0), hit(2, 1, 0.8f, 11.0), hit(3, 2, 0.7f, 4.0)}},
        {1.0, 2.0, {hit(4, 2, 0.6f, 5.0), hit(5, 1, 0.5f, 12.0), hit(6, 3, 0.4f, 0.0, 1.5)}},
    };
}

FusionOptions with_method(FusionMethod method) {
    FusionOptions options;
    options.method = method;
    return options;
}

std::vector<uint64_t> order(const std::vector<FileMatch>& files) {
    std::vector<uint64_t> ids;
    for (const FileMatch& file : files) ids.push_back(file.file_id);
    return ids;
}

const FileMatch& file_of(const std::vector<FileMatch>& files, uint64_t file_id) {
    for (const FileMatch& file : files)
        if (file.file_id == file_id) return file;
    FAIL("no file " << file_id);
    return files.front();
}

doctest::Approx near(double value) { return doctest::Approx(value).epsilon(1e-6); }

}  // namespace

TEST_SUITE_BEGIN("query/fusion");

TEST_CASE("votes, total and best similarity count one hit per query chunk per file") {
    auto files = fuse(main_case(), with_method(FusionMethod::weighted));
    REQUIRE(files.size() == 3);
    const FileMatch& f1 = file_of(files, 1);
    CHECK(f1.votes == 2);  // not 3: chunk 0's second hit in f1 does not count
    CHECK(f1.total_similarity == near(0.9 + 0.5));
    CHECK(f1.best_similarity == 0.9f);
    const FileMatch& f2 = file_of(files, 2);
    CHECK(f2.votes == 2);
    CHECK(f2.total_similarity == near(0.7 + 0.6));
    CHECK(f2.best_similarity == 0.7f);
    const FileMatch& f3 = file_of(files, 3);
    CHECK(f3.votes == 1);
    CHECK(f3.total_similarity == near(0.4));
    CHECK(f3.best_similarity == 0.4f);
}

TEST_CASE("regions: one per voting query chunk in query order, and the best pair") {
    auto files = fuse(main_case(), with_method(FusionMethod::weighted));
    const FileMatch& f1 = file_of(files, 1);
    REQUIRE(f1.regions.size() == 2);
    CHECK(f1.regions[0].query_start == 0.0);
    CHECK(f1.regions[0].query_duration == 2.0);
    CHECK(f1.regions[0].match_start == 10.0);  // the first (most similar) hit, not the one at 11 s
    CHECK(f1.regions[0].similarity == 0.9f);
    CHECK(f1.regions[1].query_start == 1.0);
    CHECK(f1.regions[1].match_start == 12.0);
    CHECK(f1.regions[1].similarity == 0.5f);
    CHECK(f1.best.query_start == 0.0);
    CHECK(f1.best.match_start == 10.0);
    CHECK(f1.best.similarity == 0.9f);

    // f2's best hit comes from the first chunk although the second chunk ranked it higher.
    const FileMatch& f2 = file_of(files, 2);
    REQUIRE(f2.regions.size() == 2);
    CHECK(f2.best.query_start == 0.0);
    CHECK(f2.best.match_start == 4.0);
    CHECK(f2.regions[1].match_start == 5.0);

    const FileMatch& f3 = file_of(files, 3);
    REQUIRE(f3.regions.size() == 1);
    CHECK(f3.best.query_start == 1.0);
    CHECK(f3.best.match_start == 0.0);
    CHECK(f3.best.match_duration == 1.5);
}

TEST_CASE("weighted: (vote_weight * votes / n + similarity_weight * total / n) / (sum of weights)") {
    SUBCASE("default weights 0.2 and 0.8") {
        auto files = fuse(main_case(), with_method(FusionMethod::weighted));
        CHECK(order(files) == std::vector<uint64_t>{1, 2, 3});
        CHECK(file_of(files, 1).score == near(0.2 * 2 / 2 + 0.8 * 1.4 / 2));  // 0.76
        CHECK(file_of(files, 2).score == near(0.2 * 2 / 2 + 0.8 * 1.3 / 2));  // 0.72
        CHECK(file_of(files, 3).score == near(0.2 * 1 / 2 + 0.8 * 0.4 / 2));  // 0.26
    }
    SUBCASE("custom weights 1 and 3") {
        FusionOptions options = with_method(FusionMethod::weighted);
        options.vote_weight = 1;
        options.similarity_weight = 3;
        auto files = fuse(main_case(), options);
        CHECK(file_of(files, 1).score == near((1.0 * 2 / 2 + 3.0 * 1.4 / 2) / 4));  // 0.775
        CHECK(file_of(files, 2).score == near((1.0 * 2 / 2 + 3.0 * 1.3 / 2) / 4));  // 0.7375
        CHECK(file_of(files, 3).score == near((1.0 * 1 / 2 + 3.0 * 0.4 / 2) / 4));  // 0.275
    }
    SUBCASE("votes alone: f1 and f2 tie on score and votes, best similarity decides") {
        FusionOptions options = with_method(FusionMethod::weighted);
        options.vote_weight = 1;
        options.similarity_weight = 0;
        auto files = fuse(main_case(), options);
        CHECK(file_of(files, 1).score == near(1.0));
        CHECK(file_of(files, 2).score == near(1.0));
        CHECK(file_of(files, 3).score == near(0.5));
        CHECK(order(files) == std::vector<uint64_t>{1, 2, 3});
    }
    SUBCASE("a file matching every query chunk exactly scores 1.0 whatever the weights") {
        std::vector<QueryChunkHits> chunks = {{0, 2, {hit(1, 7, 1.0f)}}, {1, 2, {hit(2, 7, 1.0f)}}, {2, 2, {hit(3, 7, 1.0f)}}};
        for (double vote_weight : {0.0, 0.2, 5.0}) {
            FusionOptions options = with_method(FusionMethod::weighted);
            options.vote_weight = vote_weight;
            options.similarity_weight = 1;
            auto files = fuse(chunks, options);
            REQUIRE(files.size() == 1);
            CHECK(files[0].score == near(1.0));
            CHECK(files[0].votes == 3);
        }
    }
}

TEST_CASE("n counts query chunks without hits too") {
    // Two query chunks, only the first hits f5 (exactly): half the votes, half the similarity.
    std::vector<QueryChunkHits> chunks = {{0, 2, {hit(1, 5, 1.0f)}}, {1, 2, {}}};
    auto weighted = fuse(chunks, with_method(FusionMethod::weighted));
    REQUIRE(weighted.size() == 1);
    CHECK(weighted[0].score == near(0.5));
    CHECK(weighted[0].votes == 1);
    CHECK(weighted[0].regions.size() == 1);
    auto rrf = fuse(chunks, with_method(FusionMethod::rrf));
    CHECK(rrf[0].score == near(0.5));  // ranked first by one of two chunks
    CHECK(fuse(chunks, with_method(FusionMethod::mean))[0].score == near(1.0));  // mean over the chunks that matched
}

TEST_CASE("max: the best similarity") {
    auto files = fuse(main_case(), with_method(FusionMethod::max));
    CHECK(order(files) == std::vector<uint64_t>{1, 2, 3});
    CHECK(file_of(files, 1).score == near(0.9));
    CHECK(file_of(files, 2).score == near(0.7));
    CHECK(file_of(files, 3).score == near(0.4));
    for (const FileMatch& file : files) CHECK(file.score == static_cast<double>(file.best_similarity));
}

TEST_CASE("mean: total / votes") {
    auto files = fuse(main_case(), with_method(FusionMethod::mean));
    CHECK(order(files) == std::vector<uint64_t>{1, 2, 3});
    CHECK(file_of(files, 1).score == near(1.4 / 2));
    CHECK(file_of(files, 2).score == near(1.3 / 2));
    CHECK(file_of(files, 3).score == near(0.4));
}

TEST_CASE("rrf: sum of 1 / (k + rank) over chunks, divided by n / (k + 1)") {
    SUBCASE("k = 60: f1 and f2 tie (ranks 1+2 and 2+1); best similarity puts f1 first") {
        auto files = fuse(main_case(), with_method(FusionMethod::rrf));
        double norm = 2.0 / 61.0;
        CHECK(file_of(files, 1).score == near((1.0 / 61 + 1.0 / 62) / norm));
        CHECK(file_of(files, 2).score == near((1.0 / 62 + 1.0 / 61) / norm));
        CHECK(file_of(files, 3).score == near((1.0 / 63) / norm));  // third in chunk 1 (f1's second hit is no rank)
        CHECK(order(files) == std::vector<uint64_t>{1, 2, 3});
    }
    SUBCASE("k = 0: ranks weigh 1, 1/2, 1/3") {
        FusionOptions options = with_method(FusionMethod::rrf);
        options.rrf_k = 0;
        auto files = fuse(main_case(), options);
        CHECK(file_of(files, 1).score == near((1.0 + 0.5) / 2));
        CHECK(file_of(files, 3).score == near((1.0 / 3) / 2));
    }
    SUBCASE("a file ranked first by every chunk scores 1.0") {
        std::vector<QueryChunkHits> chunks = {{0, 2, {hit(1, 9, 0.3f), hit(2, 4, 0.2f)}},
                                              {1, 2, {hit(3, 9, 0.5f), hit(4, 4, 0.4f)}},
                                              {2, 2, {hit(5, 9, 0.1f)}}};
        for (double k : {0.0, 1.0, 60.0}) {
            FusionOptions options = with_method(FusionMethod::rrf);
            options.rrf_k = k;
            auto files = fuse(chunks, options);
            REQUIRE(files.size() == 2);
            CHECK(files[0].file_id == 9);
            CHECK(files[0].score == near(1.0));
            CHECK(files[1].score == near(2.0 / (k + 2) / (3.0 / (k + 1))));
        }
    }
}

TEST_CASE("ties: score, then votes, then best similarity, then file id") {
    SUBCASE("same score (max), more votes first") {
        std::vector<QueryChunkHits> chunks = {{0, 2, {hit(1, 2, 0.8f), hit(2, 1, 0.8f)}}, {1, 2, {hit(3, 2, 0.3f)}}};
        auto files = fuse(chunks, with_method(FusionMethod::max));
        CHECK(order(files) == std::vector<uint64_t>{2, 1});
        CHECK(files[0].score == files[1].score);
    }
    SUBCASE("same score and votes (mean), higher best similarity first") {
        // f8: 0.875 and 0.625, f3: 0.75 and 0.75: both mean 0.75 with 2 votes; f8 has the better best.
        std::vector<QueryChunkHits> chunks = {{0, 2, {hit(1, 8, 0.875f), hit(2, 3, 0.75f)}},
                                              {1, 2, {hit(3, 3, 0.75f), hit(4, 8, 0.625f)}}};
        auto files = fuse(chunks, with_method(FusionMethod::mean));
        REQUIRE(files.size() == 2);
        CHECK(files[0].score == files[1].score);  // 0.75 exactly in binary
        CHECK(order(files) == std::vector<uint64_t>{8, 3});
    }
    SUBCASE("everything equal: the lower file id first, whatever the hit order") {
        std::vector<QueryChunkHits> chunks = {{0, 2, {hit(1, 30, 0.5f), hit(2, 10, 0.5f), hit(3, 20, 0.5f)}}};
        auto files = fuse(chunks, with_method(FusionMethod::max));
        CHECK(order(files) == std::vector<uint64_t>{10, 20, 30});
    }
    SUBCASE("scores order before votes") {
        // f1: one vote at 0.95; f2: two votes at 0.6: max puts f1 first, weighted f2.
        std::vector<QueryChunkHits> chunks = {{0, 2, {hit(1, 1, 0.95f), hit(2, 2, 0.6f)}}, {1, 2, {hit(3, 2, 0.6f)}}};
        CHECK(order(fuse(chunks, with_method(FusionMethod::max))) == std::vector<uint64_t>{1, 2});
        CHECK(order(fuse(chunks, with_method(FusionMethod::weighted))) == std::vector<uint64_t>{2, 1});
    }
}

TEST_CASE("empty input: no files") {
    for (FusionMethod method : {FusionMethod::weighted, FusionMethod::max, FusionMethod::mean, FusionMethod::rrf}) {
        CHECK(fuse({}, with_method(method)).empty());
        CHECK(fuse({{0, 2, {}}, {1, 2, {}}}, with_method(method)).empty());
    }
}

TEST_CASE("parse_fusion_method and fusion_method_name round-trip; unknown names are usage errors") {
    for (FusionMethod method : {FusionMethod::weighted, FusionMethod::max, FusionMethod::mean, FusionMethod::rrf})
        CHECK(parse_fusion_method(fusion_method_name(method)) == method);
    CHECK(std::string(fusion_method_name(FusionMethod::rrf)) == "rrf");
    for (const char* bad : {"sum", "", "MAX", "weighted "}) {
        auto [kind, message] = error_of([&] { parse_fusion_method(bad); });
        CHECK(kind == ErrorKind::usage);
        CHECK(contains(message, "'" + std::string(bad) + "'"));
        CHECK(contains(message, "weighted, max, mean, rrf"));
    }
}

TEST_CASE("validate_fusion_options refuses negative or zero-sum weights and a negative rrf_k") {
    FusionOptions ok;
    validate_fusion_options(ok);
    ok.vote_weight = 0;  // one weight may be 0
    validate_fusion_options(ok);
    ok.rrf_k = 0;
    validate_fusion_options(ok);

    auto check_usage = [](FusionOptions options, const std::string& part) {
        auto [kind, message] = error_of([&] { validate_fusion_options(options); });
        CHECK(kind == ErrorKind::usage);
        CHECK_MESSAGE(contains(message, part), message);
    };
    FusionOptions options;
    options.vote_weight = -0.1;
    check_usage(options, "non-negative");
    options = {};
    options.similarity_weight = -1;
    check_usage(options, "non-negative");
    options = {};
    options.vote_weight = 0;
    options.similarity_weight = 0;
    check_usage(options, "not both 0");
    options = {};
    options.vote_weight = std::numeric_limits<double>::quiet_NaN();
    check_usage(options, "non-negative");
    options = {};
    options.rrf_k = -1;
    check_usage(options, "--rrf-k");
    options.rrf_k = std::numeric_limits<double>::quiet_NaN();
    check_usage(options, "--rrf-k");
}

TEST_SUITE_END();

TEST_CASE("combine_models: the weighted mean of the models' file scores, 0 where a model did not reach a file") {
    auto match = [](uint64_t file, double score, size_t votes) {
        FileMatch m;
        m.file_id = file;
        m.score = score;
        m.votes = votes;
        m.best_similarity = static_cast<float>(score);
        return m;
    };
    // model a (weight 1): files 1 (0.9), 2 (0.5); model b (weight 3): files 2 (0.8), 3 (0.6)
    std::vector<FileMatch> a = {match(1, 0.9, 1), match(2, 0.5, 2)}, b = {match(2, 0.8, 5), match(3, 0.6, 4)};
    std::vector<FileMatch> fused = combine_models({{&a, 1.0}, {&b, 3.0}});
    REQUIRE(fused.size() == 3);
    // 2: (0.5 + 3 * 0.8) / 4 = 0.725; 3: 1.8 / 4 = 0.45; 1: 0.9 / 4 = 0.225
    CHECK(fused[0].file_id == 2);
    CHECK(fused[0].score == doctest::Approx(0.725));
    CHECK(fused[0].votes == 5);  // the details of the heavier model that found it
    CHECK(fused[1].file_id == 3);
    CHECK(fused[1].score == doctest::Approx(0.45));
    CHECK(fused[2].file_id == 1);
    CHECK(fused[2].score == doctest::Approx(0.225));
    CHECK(fused[2].votes == 1);  // only model a found it

    // one model: its own scores and order
    std::vector<FileMatch> alone = combine_models({{&a, 2.0}});
    REQUIRE(alone.size() == 2);
    CHECK(alone[0].file_id == 1);
    CHECK(alone[0].score == 0.9);
    // equal scores: `before` decides
    std::vector<FileMatch> tie = {match(7, 0.5, 1), match(4, 0.5, 1)};
    CHECK(combine_models({{&tie, 1.0}}, std::greater<uint64_t>())[0].file_id == 7);
    CHECK(error_of([&] { combine_models({{&a, 0.0}}); }).first == ErrorKind::usage);
}
