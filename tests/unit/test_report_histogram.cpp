// lib/report/histogram: bin and bucket edges exactly as documented, counts that add up, the exact
// all-pairs histogram against a naive count, the seeded sample, and kept pairs per group read back
// from a pairs file in a store.
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "pairs/pairs.hpp"
#include "report/histogram.hpp"
#include "pairs/pairs_file.hpp"
#include "support.hpp"

using namespace audiosim;
using audiosim::test::SyntheticStore;

namespace {

FileVectorTable random_table(size_t n, size_t dim, uint64_t seed) {
    test::UnitVectors v = test::random_unit_vectors(n, dim, seed);
    FileVectorTable table;
    table.ids = v.ids;
    table.vectors = v.vectors;
    table.dim = dim;
    return table;
}

std::vector<size_t> all_rows(const FileVectorTable& table) {
    std::vector<size_t> rows(table.ids.size());
    for (size_t i = 0; i < rows.size(); ++i) rows[i] = i;
    return rows;
}

ScoreHistogram naive(const FileVectorTable& table, const std::vector<size_t>& rows) {
    ScoreHistogram h;
    for (size_t i = 0; i < rows.size(); ++i)
        for (size_t j = i + 1; j < rows.size(); ++j)
            h.add(pair_score(&table.vectors[rows[i] * table.dim], &table.vectors[rows[j] * table.dim], table.dim));
    return h;
}

}  // namespace

TEST_SUITE_BEGIN("report_histogram");

TEST_CASE("bucket edges: lower edges inclusive, as documented") {
    CHECK(score_bucket(1.0) == ScoreBucket::very_similar);
    CHECK(score_bucket(0.8) == ScoreBucket::very_similar);
    CHECK(score_bucket(0.7999999) == ScoreBucket::similar);
    CHECK(score_bucket(0.6) == ScoreBucket::similar);
    CHECK(score_bucket(0.5999999) == ScoreBucket::related);
    CHECK(score_bucket(0.4) == ScoreBucket::related);
    CHECK(score_bucket(0.3999999) == ScoreBucket::different);
    CHECK(score_bucket(0.0) == ScoreBucket::different);
    CHECK(score_bucket(-1.0) == ScoreBucket::different);
    // Float scores (as stored) compare by their exact value.
    CHECK(score_bucket(0.8f) == ScoreBucket::very_similar);
    CHECK(score_bucket(0.7999999f) == ScoreBucket::similar);
    CHECK(score_bucket(0.6f) == ScoreBucket::similar);
    CHECK(score_bucket(0.4f) == ScoreBucket::related);
    CHECK(score_bucket(std::nextafter(0.8, 0.0)) == ScoreBucket::similar);
    CHECK(score_bucket(std::nextafter(0.6, 0.0)) == ScoreBucket::related);
    CHECK(score_bucket(std::nextafter(0.4, 0.0)) == ScoreBucket::different);
    // The table of buckets says the same.
    CHECK(std::string(bucket_info(ScoreBucket::very_similar).name) == "very similar");
    CHECK(bucket_info(ScoreBucket::very_similar).low == 0.8);
    CHECK(bucket_info(ScoreBucket::similar).low == 0.6);
    CHECK(bucket_info(ScoreBucket::similar).high == 0.8);
    CHECK(bucket_info(ScoreBucket::related).low == 0.4);
    CHECK(bucket_info(ScoreBucket::different).high == 0.4);
}

TEST_CASE("fine bins: [low, low + 0.05), the top bin closed, out-of-range scores at the ends") {
    CHECK(score_bin(-1.0) == 0);
    CHECK(score_bin(-1.5) == 0);
    CHECK(score_bin(std::numeric_limits<double>::quiet_NaN()) == 0);
    CHECK(score_bin(0.0) == 20);
    CHECK(score_bin(-0.0001) == 19);
    CHECK(score_bin(0.05) == 21);
    CHECK(score_bin(0.8) == 36);
    CHECK(score_bin(0.7999999) == 35);
    CHECK(score_bin(0.95) == 39);
    CHECK(score_bin(0.9499999) == 38);
    CHECK(score_bin(1.0) == 39);
    CHECK(score_bin(1.0000001) == 39);
    CHECK(score_bin_low(0) == -1.0);
    CHECK(score_bin_high(39) == 1.0);
    for (size_t bin = 0; bin < score_bins; ++bin) {
        CAPTURE(bin);
        CHECK(score_bin_low(bin) == (static_cast<double>(bin) - 20) / 20);
        CHECK(score_bin(score_bin_low(bin)) == bin);
        if (bin > 0) CHECK(score_bin(std::nextafter(score_bin_low(bin), -2.0)) == bin - 1);
        // Each bin lies in exactly the bucket of its scores.
        CHECK(score_bucket(score_bin_low(bin)) == score_bucket(std::nextafter(score_bin_high(bin), -2.0)));
    }
}

TEST_CASE("counts add up: bins, buckets and shares; merge") {
    std::mt19937_64 random(3);
    std::uniform_real_distribution<double> uniform(-1.2, 1.2);
    ScoreHistogram a, b;
    for (int i = 0; i < 5000; ++i) a.add(uniform(random));
    for (double edge : {-1.0, 0.4, 0.6, 0.8, 1.0, 0.7999999}) b.add(edge);
    for (const ScoreHistogram* h : {&a, &b}) {
        uint64_t bins = 0, buckets = 0;
        double shares = 0;
        for (size_t bin = 0; bin < score_bins; ++bin) bins += h->bin_count(bin);
        for (const ScoreBucketInfo& info : score_buckets()) {
            buckets += h->bucket_count(info.bucket);
            shares += h->share(h->bucket_count(info.bucket));
        }
        CHECK(bins == h->total());
        CHECK(buckets == h->total());
        CHECK(shares == doctest::Approx(1.0));
    }
    CHECK(b.bucket_count(ScoreBucket::very_similar) == 2);
    CHECK(b.bucket_count(ScoreBucket::similar) == 2);
    CHECK(b.bucket_count(ScoreBucket::related) == 1);
    CHECK(b.bucket_count(ScoreBucket::different) == 1);
    ScoreHistogram merged = a;
    merged.merge(b);
    CHECK(merged.total() == 5006);
    for (size_t bin = 0; bin < score_bins; ++bin) CHECK(merged.bin_count(bin) == a.bin_count(bin) + b.bin_count(bin));
    CHECK(ScoreHistogram().share(0) == 0.0);
}

TEST_CASE("all pairs, exact: n(n-1)/2 pairs, the naive count, whatever the thread count") {
    const FileVectorTable table = random_table(301, 8, 5);  // 8-d: scores spread over many bins
    const auto rows = all_rows(table);
    AllPairsOptions options;
    options.threads = 1;
    AllPairsHistogram one = all_pairs_histogram(table, rows, options);
    CHECK_FALSE(one.sampled);
    CHECK(one.files == 301);
    CHECK(one.population == 301 * 300 / 2);
    CHECK(one.histogram.total() == one.population);
    CHECK(one.histogram == naive(table, rows));
    options.threads = 7;
    CHECK(all_pairs_histogram(table, rows, options).histogram == one.histogram);
    // A subset of rows (a group), one file and none.
    std::vector<size_t> odd;
    for (size_t i = 1; i < 301; i += 2) odd.push_back(i);
    AllPairsHistogram group = all_pairs_histogram(table, odd, options);
    CHECK(group.population == 150 * 149 / 2);
    CHECK(group.histogram == naive(table, odd));
    CHECK(all_pairs_histogram(table, {4}, options).histogram.total() == 0);
    CHECK(all_pairs_histogram(table, {}, options).population == 0);
}

TEST_CASE("all pairs, sampled: distinct pairs, stated, the same for the same seed on any thread count") {
    const FileVectorTable table = random_table(200, 8, 9);  // 19,900 pairs
    const auto rows = all_rows(table);
    AllPairsOptions options;
    options.exact_limit = 10'000;
    options.sample = 2'000;
    options.seed = 42;
    options.threads = 1;
    AllPairsHistogram one = all_pairs_histogram(table, rows, options);
    CHECK(one.sampled);
    CHECK(one.population == 19'900);
    CHECK(one.histogram.total() == 2'000);
    options.threads = 5;
    CHECK(all_pairs_histogram(table, rows, options).histogram == one.histogram);
    options.seed = 43;
    CHECK_FALSE(all_pairs_histogram(table, rows, options).histogram == one.histogram);
    // A sample as large as the population is every pair: exact.
    options.sample = 19'900;
    AllPairsHistogram whole = all_pairs_histogram(table, rows, options);
    CHECK_FALSE(whole.sampled);
    CHECK(whole.histogram == naive(table, rows));
    // The sample is close to the exact distribution (2,000 of 19,900 pairs).
    options.exact_limit = 20'000'000;
    AllPairsHistogram exact = all_pairs_histogram(table, rows, options);
    for (const ScoreBucketInfo& b : score_buckets())
        CHECK(one.histogram.share(one.histogram.bucket_count(b.bucket)) ==
              doctest::Approx(exact.histogram.share(exact.histogram.bucket_count(b.bucket))).epsilon(0.05).scale(1));
}

TEST_CASE("per group: stored kept pairs read back, counted in their groups, within the group's all pairs") {
    SyntheticStore s(16, 4, true, 3);
    std::vector<SyntheticStore::File> files;
    for (size_t i = 0; i < 40; ++i)
        files.push_back({fmt::format("{}/f{:02}.wav", i % 2 ? "drums" : "pads", i), i % 4, 3,
                         {{"kind", i % 4 < 2 ? "low" : "high"}}});
    s.add(files);
    StoreReader reader(s.store());
    Catalog catalog = reader.load_catalog();
    EmbeddingTable embeddings = reader.load_embeddings(s.key());
    const FileVectorTable table = file_vector_table(catalog, embeddings);
    const auto groups = group_rows(catalog, table, "folder");
    REQUIRE(groups.size() == 2);
    CHECK(groups.at("drums").size() == 20);

    PairOptions pair_options;
    pair_options.exact = true;
    pair_options.group_by = "folder";
    pair_options.min_score = 0.5;
    PairsResult found = find_pairs(catalog, embeddings, pair_options);
    REQUIRE_FALSE(found.pairs.empty());
    const StoredPairs stored_pairs{s.key(), {10, 0.5, "folder", "hnsw"}, found.pairs};
    s.writer().commit_pairs(s.key(), [&](const std::string& path, const WriterStamp& stamp) {
        write_pairs_file(path, stored_pairs, stamp);
    });
    StoreReader again(s.store());
    StoredPairs stored;
    REQUIRE(again.open_pairs(s.key(), [&](const std::string& path) { stored = read_pairs_file(path); }));

    KeptHistograms kept = kept_pairs_histograms(table, groups, stored.pairs, false);
    CHECK(kept.left_out == 0);
    uint64_t total = 0;
    for (const auto& [name, rows] : groups) {
        CAPTURE(name);
        const ScoreHistogram& k = kept.groups.at(name);
        CHECK(k.total() == found.groups.at(name).pairs);
        total += k.total();
        AllPairsHistogram all = all_pairs_histogram(table, rows, {});
        CHECK(all.histogram.total() == 20 * 19 / 2);
        for (size_t bin = 0; bin < score_bins; ++bin) {
            CHECK(k.bin_count(bin) <= all.histogram.bin_count(bin));
            if (score_bin_high(bin) <= 0.5) CHECK(k.bin_count(bin) == 0);  // none below min_score
        }
    }
    CHECK(total == stored.pairs.size());

    // Regrouped by another field: each pair once in every group holding both files, the rest left out.
    const auto by_kind = group_rows(catalog, table, "kind");
    KeptHistograms regrouped = kept_pairs_histograms(table, by_kind, stored.pairs, true);
    CHECK(regrouped.groups.at("low").total() + regrouped.groups.at("high").total() + regrouped.left_out ==
          stored.pairs.size());
    // A pair naming a file that no longer has a vector is left out.
    std::vector<FilePair> with_stale = stored.pairs;
    with_stale.push_back({999'999, table.ids[0], 0.9f, "drums"});
    CHECK(kept_pairs_histograms(table, groups, with_stale, false).left_out == 1);
}

TEST_SUITE_END();
