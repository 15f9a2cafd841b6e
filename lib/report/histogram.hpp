// `audiosim report`: histograms of file-pair scores (cosines of file vectors, lib/pairs/pairs.hpp),
// for all pairs of a group (exact, or a stated random sample for large groups) and for the kept ones.
//
// Fine bins: 40 bins of width 0.05 over [-1, 1]. Bin i is [low_i, low_i + 0.05) with
// low_i = (i - 20) / 20 as a double; the top bin, [0.95, 1.0], is closed. Scores above 1 (float
// rounding of a self-similar pair) count in the top bin, scores below -1 (and NaN) in the lowest.
//
// Named buckets, lower edges inclusive, upper edges exclusive (except 1.0):
//   very similar   score >= 0.8
//   similar        0.6 <= score < 0.8
//   related        0.4 <= score < 0.6
//   different      score < 0.4
// The edges 0.4, 0.6 and 0.8 are bin edges too, so each bucket is a run of whole bins and its count
// is the sum of theirs. A float score is compared as its exact double value: 0.8f (0.800000012)
// is very similar, 0.7999999f similar.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pairs/pairs.hpp"

namespace audiosim {

inline constexpr size_t score_bins = 40;
inline constexpr double score_bin_width = 0.05;

// The buckets, highest first (the order of every report).
enum class ScoreBucket { very_similar, similar, related, different };
inline constexpr size_t score_bucket_count = 4;
struct ScoreBucketInfo {
    ScoreBucket bucket;
    const char* name;  // "very similar", "similar", "related", "different"
    double low;        // inclusive (-1 for different: every lower score counts too)
    double high;       // exclusive, except 1.0 (very similar: every higher score counts too)
    size_t first_bin, last_bin;  // the fine bins it covers
};
const std::array<ScoreBucketInfo, score_bucket_count>& score_buckets();

double score_bin_low(size_t bin);   // (bin - 20) / 20
double score_bin_high(size_t bin);  // score_bin_low(bin + 1); 1.0 for the top bin
size_t score_bin(double score);     // the fine bin of a score, exactly by the edges above
ScoreBucket score_bucket(double score);
const ScoreBucketInfo& bucket_info(ScoreBucket bucket);

class ScoreHistogram {
public:
    void add(double score);
    void merge(const ScoreHistogram& other);
    uint64_t total() const { return total_; }
    uint64_t bin_count(size_t bin) const { return bins_.at(bin); }
    uint64_t bucket_count(ScoreBucket bucket) const;
    // count / total; 0 for an empty histogram.
    double share(uint64_t count) const { return total_ ? static_cast<double>(count) / static_cast<double>(total_) : 0.0; }
    bool operator==(const ScoreHistogram& other) const { return bins_ == other.bins_; }

private:
    std::array<uint64_t, score_bins> bins_{};
    uint64_t total_ = 0;
};

// All pairs of a group: exact over its n(n-1)/2 pairs up to `exact_limit`, else `sample` distinct
// pairs drawn uniformly (seeded; the same pairs for the same seed and group size, on any number of
// threads). A pair's score is computed as lib/pairs computes a kept pair's, so the two agree.
struct AllPairsOptions {
    uint64_t exact_limit = 20'000'000;
    uint64_t sample = 1'000'000;
    uint64_t seed = 1;
    unsigned threads = 1;
};

struct AllPairsHistogram {
    ScoreHistogram histogram;
    size_t files = 0;
    uint64_t population = 0;  // n(n-1)/2: the pairs there are
    bool sampled = false;     // histogram.total() < population: a uniform sample of distinct pairs
};

// `rows` index `table` (e.g. one group of group_rows()).
AllPairsHistogram all_pairs_histogram(const FileVectorTable& table, const std::vector<size_t>& rows,
                                      const AllPairsOptions& options);

// The kept pairs of each group. With `regroup` false the pairs' own group names are used (they were
// found with the same grouping); with it true each pair (a, b) counts once in every group of
// `groups` that holds both files. Left out and counted: pairs naming a file outside `table` (no
// vector now), and pairs in no group of `groups` that holds both files.
struct KeptHistograms {
    std::map<std::string, ScoreHistogram> groups;  // every group of `groups`, empty ones too
    size_t left_out = 0;
};
KeptHistograms kept_pairs_histograms(const FileVectorTable& table, const std::map<std::string, std::vector<size_t>>& groups,
                                     const std::vector<FilePair>& pairs, bool regroup);

}  // namespace audiosim
