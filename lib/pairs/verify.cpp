#include "pairs/verify.hpp"

#include <algorithm>
#include <cmath>

#include "audio/decode.hpp"
#include "audio/resample.hpp"
#include "store/catalog.hpp"

namespace audiosim {

std::vector<float> comparison_waveform(const std::string& path) {
    MonoReader reader(path);
    Resampler resampler(reader.sample_rate(), comparison_rate, ResampleQuality::fast);
    const auto limit = static_cast<int64_t>(comparison_seconds * reader.sample_rate());
    std::vector<float> block, out;
    for (int64_t read = 0; read < limit;) {
        size_t got = reader.read(static_cast<size_t>(std::min<int64_t>(65536, limit - read)), block);
        if (got == 0) break;
        resampler.process(block.data(), got, out);
        read += static_cast<int64_t>(got);
    }
    resampler.finish(out);
    return out;
}

namespace {

// sum of a[i] b[i + lag] over the overlap.
double overlap_dot(const std::vector<float>& a, const std::vector<float>& b, long lag) {
    long begin = std::max(0L, -lag), end = std::min(static_cast<long>(a.size()), static_cast<long>(b.size()) - lag);
    double sum = 0;
    for (long i = begin; i < end; ++i) sum += double{a[static_cast<size_t>(i)]} * b[static_cast<size_t>(i + lag)];
    return sum;
}

double energy(const std::vector<float>& x) {
    double sum = 0;
    for (float v : x) sum += double{v} * v;
    return sum;
}

// The lag in [low, high] with the largest overlap_dot (the smallest such lag on ties).
long best_lag(const std::vector<float>& a, const std::vector<float>& b, long low, long high) {
    long best = low;
    double best_dot = overlap_dot(a, b, low);
    for (long lag = low + 1; lag <= high; ++lag) {
        double dot = overlap_dot(a, b, lag);
        if (dot > best_dot) best = lag, best_dot = dot;
    }
    return best;
}

constexpr long decimation = 8;          // the coarse search runs at comparison_rate / 8 (about 1.4 kHz)
constexpr size_t coarse_candidates = 3;

// Means of `decimation` samples: a crude low-pass, enough to find where the bodies line up.
std::vector<float> decimated(const std::vector<float>& x) {
    std::vector<float> out;
    for (size_t start = 0; start + decimation <= x.size(); start += decimation) {
        float sum = 0;
        for (long i = 0; i < decimation; ++i) sum += x[start + static_cast<size_t>(i)];
        out.push_back(sum / decimation);
    }
    return out;
}

}  // namespace

WaveformMatch best_alignment(const std::vector<float>& a, const std::vector<float>& b, size_t max_lag) {
    const double energy_a = energy(a), energy_b = energy(b);
    if (!(energy_a > 0) || !(energy_b > 0)) return {};
    const long limit = static_cast<long>(max_lag);
    const long near = std::min(limit, static_cast<long>(comparison_min_lag_seconds * comparison_rate));
    // Small shifts (encoder delays, cut ends) at full rate; beyond, the best few lags of a coarse
    // search, each refined at full rate.
    std::vector<std::pair<long, long>> windows = {{-near, near}};
    if (limit > near) {
        std::vector<float> coarse_a = decimated(a), coarse_b = decimated(b);
        std::vector<std::pair<double, long>> coarse;
        for (long lag = -limit / decimation; lag <= limit / decimation; ++lag)
            coarse.push_back({overlap_dot(coarse_a, coarse_b, lag), lag});
        size_t keep = std::min(coarse_candidates, coarse.size());
        std::partial_sort(coarse.begin(), coarse.begin() + static_cast<std::ptrdiff_t>(keep), coarse.end(),
                          [](const auto& x, const auto& y) { return x.first > y.first || (x.first == y.first && x.second < y.second); });
        for (size_t i = 0; i < keep; ++i) {
            long centre = coarse[i].second * decimation;
            windows.push_back({std::max(-limit, centre - 2 * decimation), std::min(limit, centre + 2 * decimation)});
        }
    }
    WaveformMatch best;
    bool first = true;
    for (const auto& [low, high] : windows) {
        long lag = best_lag(a, b, low, high);
        double correlation = overlap_dot(a, b, lag) / std::sqrt(energy_a * energy_b);
        if (first || correlation > best.correlation) best = {correlation, lag};
        first = false;
    }
    return best;
}

const std::vector<float>& WaveformComparer::waveform(const FileRecord& file) {
    auto cached = cache_.find(file.file_id);
    if (cached != cache_.end()) return cached->second;
    return cache_.emplace(file.file_id, comparison_waveform(library_path(root_, file.path))).first->second;
}

WaveformMatch WaveformComparer::compare(const FileRecord& a, const FileRecord& b) {
    const std::vector<float>& x = waveform(a);
    const std::vector<float>& y = waveform(b);
    double shorter = static_cast<double>(std::min(x.size(), y.size())) / comparison_rate;
    double lag_seconds = std::max(comparison_min_lag_seconds, comparison_lag_share * shorter);
    return best_alignment(x, y, static_cast<size_t>(lag_seconds * comparison_rate));
}

}  // namespace audiosim
