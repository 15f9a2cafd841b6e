#include "report/histogram.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "util/error.hpp"

namespace audiosim {

namespace {

constexpr size_t zero_bin = score_bins / 2;  // the bin starting at 0

// A uniform integer in [0, n) from 64 random bits, without modulo bias; the same on every platform
// (std::uniform_int_distribution is not).
uint64_t uniform_below(std::mt19937_64& random, uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = random();
    while (x >= limit);
    return x % n;
}

// Runs work(unit, histogram) for units 0..units-1 on `threads`: each thread fills its own histogram
// and they are merged, so the counts do not depend on the thread count.
template <typename Work>
ScoreHistogram on_threads(size_t units, unsigned threads, const Work& work) {
    std::atomic<size_t> next{0};
    const unsigned count = static_cast<unsigned>(std::max<size_t>(1, std::min<size_t>(std::max(threads, 1u), units)));
    std::vector<ScoreHistogram> partial(count);
    std::vector<std::thread> workers;
    for (unsigned t = 0; t < count; ++t)
        workers.emplace_back([&, t] {
            for (size_t unit = next++; unit < units; unit = next++) work(unit, partial[t]);
        });
    for (auto& worker : workers) worker.join();
    ScoreHistogram total;
    for (const ScoreHistogram& h : partial) total.merge(h);
    return total;
}

}  // namespace

const std::array<ScoreBucketInfo, score_bucket_count>& score_buckets() {
    static const std::array<ScoreBucketInfo, score_bucket_count> buckets = {{
        {ScoreBucket::very_similar, "very similar", score_bin_low(36), 1.0, 36, 39},
        {ScoreBucket::similar, "similar", score_bin_low(32), score_bin_low(36), 32, 35},
        {ScoreBucket::related, "related", score_bin_low(28), score_bin_low(32), 28, 31},
        {ScoreBucket::different, "different", -1.0, score_bin_low(28), 0, 27},
    }};
    return buckets;
}

const ScoreBucketInfo& bucket_info(ScoreBucket bucket) { return score_buckets()[static_cast<size_t>(bucket)]; }

double score_bin_low(size_t bin) { return (static_cast<double>(bin) - static_cast<double>(zero_bin)) / 20.0; }

double score_bin_high(size_t bin) { return bin + 1 >= score_bins ? 1.0 : score_bin_low(bin + 1); }

size_t score_bin(double score) {
    if (!(score >= score_bin_low(1))) return 0;  // below -0.95, below -1, NaN
    if (score >= score_bin_low(score_bins - 1)) return score_bins - 1;
    // A first guess from the arithmetic, then corrected against the edges themselves, so that a
    // score exactly on an edge is in the bin above it whatever the rounding of the guess.
    auto bin = static_cast<size_t>(std::clamp(std::floor((score + 1.0) * 20.0), 1.0, static_cast<double>(score_bins - 2)));
    while (bin > 1 && score < score_bin_low(bin)) --bin;
    while (bin < score_bins - 2 && score >= score_bin_low(bin + 1)) ++bin;
    return bin;
}

ScoreBucket score_bucket(double score) {
    const size_t bin = score_bin(score);
    for (const ScoreBucketInfo& info : score_buckets())
        if (bin >= info.first_bin && bin <= info.last_bin) return info.bucket;
    throw Error(ErrorKind::internal, "score_bucket: a bin in no bucket");
}

void ScoreHistogram::add(double score) {
    ++bins_[score_bin(score)];
    ++total_;
}

void ScoreHistogram::merge(const ScoreHistogram& other) {
    for (size_t i = 0; i < score_bins; ++i) bins_[i] += other.bins_[i];
    total_ += other.total_;
}

uint64_t ScoreHistogram::bucket_count(ScoreBucket bucket) const {
    const ScoreBucketInfo& info = bucket_info(bucket);
    uint64_t count = 0;
    for (size_t i = info.first_bin; i <= info.last_bin; ++i) count += bins_[i];
    return count;
}

AllPairsHistogram all_pairs_histogram(const FileVectorTable& table, const std::vector<size_t>& rows,
                                      const AllPairsOptions& options) {
    AllPairsHistogram result;
    const size_t n = rows.size(), dim = table.dim;
    result.files = n;
    result.population = n < 2 ? 0 : static_cast<uint64_t>(n) * (n - 1) / 2;
    if (result.population == 0) return result;
    for (size_t row : rows)
        if (row >= table.ids.size()) throw Error(ErrorKind::internal, "all_pairs_histogram: a row outside the table");

    if (result.population <= options.exact_limit || options.sample >= result.population) {
        // Exact: the group's vectors side by side, then blocks of 32 rows against every later row,
        // 256 at a time (both blocks stay in cache).
        std::vector<float> vectors(n * dim);
        for (size_t i = 0; i < n; ++i)
            std::copy_n(table.vectors.begin() + static_cast<std::ptrdiff_t>(rows[i] * dim), dim,
                        vectors.begin() + static_cast<std::ptrdiff_t>(i * dim));
        constexpr size_t row_block = 32, column_block = 256;
        result.histogram = on_threads((n + row_block - 1) / row_block, options.threads, [&](size_t block, ScoreHistogram& h) {
            const size_t first = block * row_block, last = std::min(n, first + row_block);
            for (size_t column = first; column < n; column += column_block) {
                const size_t column_end = std::min(n, column + column_block);
                for (size_t i = first; i < last; ++i)
                    for (size_t j = std::max(column, i + 1); j < column_end; ++j)
                        h.add(pair_score(&vectors[i * dim], &vectors[j * dim], dim));
            }
        });
        return result;
    }

    // Sampled: distinct unordered pairs, each drawn as two different rows, so every pair is equally likely.
    result.sampled = true;
    std::mt19937_64 random(options.seed);
    std::unordered_set<uint64_t> seen;
    seen.reserve(static_cast<size_t>(options.sample) * 2);
    std::vector<std::pair<uint32_t, uint32_t>> pairs;
    pairs.reserve(static_cast<size_t>(options.sample));
    while (pairs.size() < options.sample) {
        uint64_t i = uniform_below(random, n), j = uniform_below(random, n);
        if (i == j) continue;
        if (i > j) std::swap(i, j);
        if (seen.insert(i * n + j).second) pairs.emplace_back(static_cast<uint32_t>(i), static_cast<uint32_t>(j));
    }
    constexpr size_t unit = 4096;
    result.histogram = on_threads((pairs.size() + unit - 1) / unit, options.threads, [&](size_t block, ScoreHistogram& h) {
        for (size_t p = block * unit; p < std::min(pairs.size(), (block + 1) * unit); ++p)
            h.add(pair_score(&table.vectors[rows[pairs[p].first] * dim], &table.vectors[rows[pairs[p].second] * dim], dim));
    });
    return result;
}

KeptHistograms kept_pairs_histograms(const FileVectorTable& table, const std::map<std::string, std::vector<size_t>>& groups,
                                     const std::vector<FilePair>& pairs, bool regroup) {
    KeptHistograms result;
    std::unordered_map<uint64_t, size_t> row_of;
    for (size_t row = 0; row < table.ids.size(); ++row) row_of[table.ids[row]] = row;
    std::vector<const std::string*> names;
    std::unordered_map<std::string, size_t> index_of;
    std::vector<std::vector<size_t>> groups_of_row(table.ids.size());  // indexes into names, ascending
    for (const auto& [name, rows] : groups) {
        for (size_t row : rows) groups_of_row.at(row).push_back(names.size());
        index_of[name] = names.size();
        names.push_back(&name);
        result.groups[name];
    }
    auto in = [&](size_t row, size_t group) {
        return std::binary_search(groups_of_row[row].begin(), groups_of_row[row].end(), group);
    };
    std::unordered_set<uint64_t> counted;  // with regroup: (row a, row b) once
    for (const FilePair& pair : pairs) {
        auto a = row_of.find(pair.a), b = row_of.find(pair.b);
        if (a == row_of.end() || b == row_of.end()) {
            ++result.left_out;
            continue;
        }
        size_t x = std::min(a->second, b->second), y = std::max(a->second, b->second);
        if (regroup) {
            if (!counted.insert(static_cast<uint64_t>(x) * table.ids.size() + y).second) continue;
            bool counted_somewhere = false;
            for (size_t g : groups_of_row[x])
                if (in(y, g)) {
                    result.groups[*names[g]].add(pair.score);
                    counted_somewhere = true;
                }
            result.left_out += !counted_somewhere;
            continue;
        }
        auto group = index_of.find(pair.group);
        if (group == index_of.end() || !in(x, group->second) || !in(y, group->second)) {
            ++result.left_out;  // its group no longer holds both files
            continue;
        }
        result.groups[pair.group].add(pair.score);
    }
    return result;
}

}  // namespace audiosim
