#include "pairs/verify.hpp"

#include <algorithm>
#include <cmath>

#include "audio/decode.hpp"
#include "audio/resample.hpp"
#include "chunk/chunking.hpp"

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

WaveformMatch best_alignment(const std::vector<float>& a, const std::vector<float>& b, size_t max_lag) {
    double energy_a = 0, energy_b = 0;
    for (float x : a) energy_a += double{x} * x;
    for (float x : b) energy_b += double{x} * x;
    WaveformMatch best;
    if (!(energy_a > 0) || !(energy_b > 0)) return best;
    const double scale = 1.0 / std::sqrt(energy_a * energy_b);
    const long lags = static_cast<long>(max_lag);
    bool first = true;
    for (long lag = -lags; lag <= lags; ++lag) {
        // a[i] against b[i + lag] where both exist.
        long begin = std::max(0L, -lag), end = std::min(static_cast<long>(a.size()), static_cast<long>(b.size()) - lag);
        double sum = 0;
        for (long i = begin; i < end; ++i) sum += double{a[static_cast<size_t>(i)]} * b[static_cast<size_t>(i + lag)];
        double correlation = sum * scale;
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
    return best_alignment(waveform(a), waveform(b), static_cast<size_t>(comparison_max_lag_seconds * comparison_rate));
}

}  // namespace audiosim
