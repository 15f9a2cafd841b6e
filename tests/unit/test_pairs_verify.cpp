// lib/pairs/verify: waveform alignment for near-duplicate checks: copies trimmed at the start,
// delayed, attenuated or noisy align; different sounds of one recipe do not.
#include <cmath>
#include <random>
#include <vector>

#include <doctest/doctest.h>

#include "pairs/verify.hpp"

using audiosim::best_alignment;
using audiosim::comparison_rate;

namespace {

// A decaying sweep from `frequency` down to half of it, with a noise burst: seconds long at
// comparison_rate. A sweep, not a steady tone: a tone would align at every period.
std::vector<float> hit(double seconds, double frequency, uint64_t seed, double decay = 1.5) {
    std::mt19937_64 random(seed);
    std::normal_distribution<float> noise(0, 1);
    std::vector<float> x(static_cast<size_t>(seconds * comparison_rate));
    for (size_t i = 0; i < x.size(); i++) {
        double t = static_cast<double>(i) / comparison_rate;
        double phase = 2 * M_PI * frequency * (t - t * t / (4 * seconds));  // instantaneous f: frequency -> frequency / 2
        x[i] = static_cast<float>(std::sin(phase) * std::exp(-t / decay) + 0.2 * noise(random) * std::exp(-t / 0.3));
    }
    return x;
}

}  // namespace

TEST_SUITE_BEGIN("pairs/verify");

TEST_CASE("a copy trimmed at the start, delayed, or attenuated aligns at its lag") {
    // A sustained sound, its first 10 % (0.8 s, far beyond an encoder delay) cut off: aligned, and
    // short of 1 only by the cut part's share of the energy (normalized by both whole signals).
    std::vector<float> original = hit(8.0, 220, 1, 30.0);
    const size_t cut = original.size() / 10;
    std::vector<float> trimmed(original.begin() + static_cast<std::ptrdiff_t>(cut), original.end());
    auto match = best_alignment(original, trimmed, original.size() / 4);
    CHECK(match.lag == -static_cast<long>(cut));
    CHECK(match.correlation > 0.9);
    // The same cut from a sound that decays fast removes most of its energy: not the same sound.
    std::vector<float> decaying = hit(4.0, 220, 1, 0.5);
    std::vector<float> decaying_cut(decaying.begin() + static_cast<std::ptrdiff_t>(decaying.size() / 5), decaying.end());
    CHECK(best_alignment(decaying, decaying_cut, decaying.size() / 4).correlation < 0.5);

    std::vector<float> delayed(300, 0.0f);
    for (float v : original) delayed.push_back(0.5f * v);
    match = best_alignment(original, delayed, 1000);
    CHECK(match.lag == 300);
    CHECK(match.correlation == doctest::Approx(1.0).epsilon(1e-6));
}

TEST_CASE("different sounds, silence and a lag limit") {
    std::vector<float> a = hit(2.0, 220, 1), b = hit(2.0, 233, 2);
    CHECK(best_alignment(a, b, a.size() / 4).correlation < 0.6);
    std::vector<float> silent(a.size(), 0.0f);
    CHECK(best_alignment(a, silent, 100).correlation == 0);
    // Beyond the allowed lag, a shifted copy does not align.
    std::vector<float> late(4000, 0.0f);
    late.insert(late.end(), a.begin(), a.end());
    CHECK(best_alignment(a, late, 4000).correlation > 0.99);
    CHECK(best_alignment(a, late, 1000).correlation < 0.5);
}

TEST_SUITE_END();
