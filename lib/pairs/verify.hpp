// Near-duplicate verification: file vectors find candidates, but two different sounds of one
// recipe (two kicks of a kit) can score as high as a re-encoded copy. The waveforms decide: a copy
// re-encoded, gain-changed, resampled or trimmed keeps its waveform (below the band where lossy
// codecs give up the phase), a different sound does not.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "store/catalog.hpp"

namespace audiosim {

// 11025 Hz: measured on the demo library, the planted copies correlate >= 0.98 and different
// sounds <= 0.80; at 4 kHz two snares sharing a body tone looked alike (0.95), at 16 kHz an MP3
// re-encode fell to 0.95.
inline constexpr unsigned comparison_rate = 11025;
inline constexpr double comparison_seconds = 30;        // compared from the start, at most
inline constexpr double comparison_min_lag_seconds = 0.25;  // encoder delays, at least
inline constexpr double comparison_lag_share = 0.25;        // trimmed starts: up to a quarter of the shorter file

// A file as compared: mono, resampled to comparison_rate, its first comparison_seconds.
// Error(input) naming the file when it cannot be decoded.
std::vector<float> comparison_waveform(const std::string& path);

// The normalized cross-correlation of a and b at the best lag within +-max_lag samples:
// sum over the overlap of a[i] b[i + lag], divided by the square root of the product of both
// whole signals' energies (so a short overlap cannot score high). 1 for the same waveform at any
// gain; 0 when either is silent. Lags within comparison_min_lag_seconds are all tried at full
// rate; longer ones through a coarse search at 1/8 of the rate whose 3 best lags are refined.
struct WaveformMatch {
    double correlation = 0;
    long lag = 0;  // samples of b after a
};
WaveformMatch best_alignment(const std::vector<float>& a, const std::vector<float>& b, size_t max_lag);

// Compares stored files (paths relative to the library root), decoding each once; the lag may
// reach comparison_lag_share of the shorter file (at least comparison_min_lag_seconds).
class WaveformComparer {
public:
    explicit WaveformComparer(std::string library_root) : root_(std::move(library_root)) {}
    // Error(input) naming a file that cannot be decoded.
    WaveformMatch compare(const FileRecord& a, const FileRecord& b);

private:
    const std::vector<float>& waveform(const FileRecord& file);
    std::string root_;
    std::map<uint64_t, std::vector<float>> cache_;
};

}  // namespace audiosim
