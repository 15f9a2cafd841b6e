// lib/audio/resample: lengths, streaming, passband, stopband and timing of every converter path.
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "audio/resample.hpp"
#include "support.hpp"
#include "util/hash.hpp"

using audiosim::ErrorKind;
using audiosim::ResampleQuality;
using audiosim::Resampler;
using audiosim::test::error_of;

namespace {

const ResampleQuality all_qualities[] = {ResampleQuality::fast, ResampleQuality::medium, ResampleQuality::best};

// The stopband each quality promises for the FIR decimator (resample.cpp), in dB.
double promised_stopband_db(ResampleQuality quality) {
    switch (quality) {
    case ResampleQuality::fast: return 60.0;
    case ResampleQuality::medium: return 80.0;
    case ResampleQuality::best: return 100.0;
    }
    return 0.0;
}

std::vector<float> sine(uint32_t rate, double frequency, size_t frames, double amplitude = 0.5) {
    std::vector<float> samples(frames);
    for (size_t i = 0; i < frames; ++i)
        samples[i] = static_cast<float>(amplitude * std::sin(2 * M_PI * frequency * static_cast<double>(i) / rate));
    return samples;
}

std::vector<float> noise(size_t frames, unsigned seed = 7) {
    std::mt19937 generator(seed);
    std::uniform_real_distribution<float> uniform(-0.9f, 0.9f);
    std::vector<float> samples(frames);
    for (float& sample : samples) sample = uniform(generator);
    return samples;
}

std::vector<float> resample(uint32_t in, uint32_t out, ResampleQuality quality, const std::vector<float>& input) {
    Resampler resampler(in, out, quality);
    std::vector<float> output;
    resampler.process(input.data(), input.size(), output);
    resampler.finish(output);
    return output;
}

// Feeds `input` in random block sizes (0 and 1 included) through `resampler`.
std::vector<float> resample_in_blocks(Resampler& resampler, const std::vector<float>& input, unsigned seed) {
    std::mt19937 generator(seed);
    std::vector<float> output;
    size_t position = 0;
    while (position < input.size()) {
        size_t limit = generator() % 2 ? 2 : 3000;  // half the blocks tiny
        size_t frames = std::min<size_t>(generator() % (limit + 1), input.size() - position);
        resampler.process(input.data() + position, frames, output);
        position += frames;
    }
    resampler.finish(output);
    return output;
}

// round(frames * out / in), halves up, computed independently of the library.
size_t expected_length(size_t frames, uint32_t in, uint32_t out) {
    return static_cast<size_t>((2 * static_cast<uint64_t>(frames) * out + in) / (2 * static_cast<uint64_t>(in)));
}

// RMS difference between `output` and the ideal sine sampled at the output rate, skipping
// `margin` samples at both ends (where the filter sees the zeros around the signal).
double rms_error_to_sine(const std::vector<float>& output, uint32_t rate, double frequency, double amplitude,
                         size_t margin) {
    REQUIRE(output.size() > 2 * margin);
    double sum = 0.0;
    for (size_t n = margin; n < output.size() - margin; ++n) {
        double ideal = amplitude * std::sin(2 * M_PI * frequency * static_cast<double>(n) / rate);
        sum += (output[n] - ideal) * (output[n] - ideal);
    }
    return std::sqrt(sum / static_cast<double>(output.size() - 2 * margin));
}

// Gain of a sine in dB from the RMS of the output, away from the ends. Good when the output's
// (possibly aliased) frequency makes many periods over the measured span.
double gain_db(const std::vector<float>& output, double amplitude, size_t margin) {
    REQUIRE(output.size() > 2 * margin);
    double sum = 0.0;
    for (size_t n = margin; n < output.size() - margin; ++n) sum += static_cast<double>(output[n]) * output[n];
    double rms = std::sqrt(sum / static_cast<double>(output.size() - 2 * margin));
    return 20.0 * std::log10(std::max(rms * std::sqrt(2.0) / amplitude, 1e-12));
}

// A click at input sample `at` comes out peaking at output sample `expected`, its neighbours equal
// within `epsilon` (a shift by a fraction of a sample would make them differ).
void check_click(uint32_t in, uint32_t out, ResampleQuality quality, size_t at, size_t expected, double epsilon) {
    CAPTURE(in);
    CAPTURE(audiosim::resample_quality_name(quality));
    std::vector<float> input(in, 0.0f);
    input[at] = 1.0f;
    std::vector<float> output = resample(in, out, quality, input);
    size_t peak = 0;
    for (size_t n = 1; n < output.size(); ++n)
        if (std::fabs(output[n]) > std::fabs(output[peak])) peak = n;
    REQUIRE(peak == expected);
    CHECK(output[peak - 1] == doctest::Approx(output[peak + 1]).epsilon(epsilon));
}

struct RatePair {
    uint32_t in, out;
};

// One pair per path: passthrough, FIR decimation by 2, 3, 4, polyphase FIR (147/320, 147/640,
// 160/441), libsamplerate down (11,025 phases) and up.
const RatePair every_path[] = {{44100, 44100}, {44100, 22050}, {48000, 16000}, {88200, 22050}, {48000, 22050},
                               {96000, 22050}, {44100, 16000}, {44056, 22050}, {22050, 44100}};

// The FIR paths: decimations and polyphase ratios.
const RatePair fir_paths[] = {{44100, 22050}, {48000, 24000}, {88200, 22050}, {96000, 48000},
                              {48000, 22050}, {96000, 22050}, {192000, 22050}, {44100, 16000}};

}  // namespace

TEST_SUITE_BEGIN("audio/resample");

TEST_CASE("quality names round-trip and unknown names are usage errors") {
    for (auto quality : all_qualities)
        CHECK(audiosim::parse_resample_quality(audiosim::resample_quality_name(quality)) == quality);
    auto [kind, message] = error_of([] { audiosim::parse_resample_quality("ultra"); });
    CHECK(kind == ErrorKind::usage);
    CHECK(audiosim::test::contains(message, "ultra"));
}

TEST_CASE("bad rates are usage errors") {
    CHECK(error_of([] { Resampler r(0, 22050, ResampleQuality::fast); }).first == ErrorKind::usage);
    CHECK(error_of([] { Resampler r(44100, 0, ResampleQuality::fast); }).first == ErrorKind::usage);
    CHECK(error_of([] { Resampler r(0, 0, ResampleQuality::fast); }).first == ErrorKind::usage);
    // Beyond libsamplerate's 1/256..256 range, and not an integer decimation.
    CHECK(error_of([] { Resampler r(100, 44100, ResampleQuality::fast); }).first == ErrorKind::usage);
}

TEST_CASE("method names the path taken") {
    CHECK(Resampler(44100, 44100, ResampleQuality::best).method() == "passthrough");
    CHECK(Resampler(44100, 22050, ResampleQuality::fast).method() == "fir-decimate-2");
    CHECK(Resampler(88200, 22050, ResampleQuality::medium).method() == "fir-decimate-4");
    CHECK(Resampler(48000, 16000, ResampleQuality::best).method() == "fir-decimate-3");
    CHECK(Resampler(48000, 22050, ResampleQuality::fast).method() == "fir-polyphase-147/320");
    CHECK(Resampler(192000, 22050, ResampleQuality::best).method() == "fir-polyphase-147/1280");
    CHECK(Resampler(44100, 16000, ResampleQuality::medium).method() == "fir-polyphase-160/441");
    CHECK(Resampler(44056, 22050, ResampleQuality::medium).method() == "libsamplerate-sinc-medium");
    CHECK(Resampler(22050, 44100, ResampleQuality::best).method() == "libsamplerate-sinc-best");
    // A ratio below 1 that is not an integer decimation (16k -> 48k is upsampling by 3).
    CHECK(Resampler(16000, 48000, ResampleQuality::fast).method() == "libsamplerate-sinc-fastest");
}

TEST_CASE("output length is round(input * out / in) on every path") {
    const size_t lengths[] = {0, 1, 2, 3, 4, 5, 7, 101, 4411, 44101, 96007};
    for (auto rates : every_path)
        for (auto quality : all_qualities)
            for (size_t frames : lengths) {
                CAPTURE(rates.in);
                CAPTURE(rates.out);
                CAPTURE(frames);
                CAPTURE(audiosim::resample_quality_name(quality));
                CHECK(resample(rates.in, rates.out, quality, noise(frames)).size() ==
                      expected_length(frames, rates.in, rates.out));
            }
}

TEST_CASE("streaming in random block sizes gives the one-block output bit for bit") {
    std::vector<float> input = noise(50'001);
    for (auto rates : every_path)
        for (auto quality : all_qualities) {
            CAPTURE(rates.in);
            CAPTURE(rates.out);
            CAPTURE(audiosim::resample_quality_name(quality));
            std::vector<float> one_block = resample(rates.in, rates.out, quality, input);
            Resampler resampler(rates.in, rates.out, quality);
            CHECK(resample_in_blocks(resampler, input, 1) == one_block);
            // finish() ends one stream; the same Resampler then takes the next from scratch.
            CHECK(resample_in_blocks(resampler, input, 2) == one_block);
        }
}

TEST_CASE("a 1 kHz sine keeps its amplitude and timing through the FIR paths") {
    for (auto rates : fir_paths)
        for (auto quality : all_qualities) {
            CAPTURE(rates.in);
            CAPTURE(rates.out);
            CAPTURE(audiosim::resample_quality_name(quality));
            std::vector<float> output = resample(rates.in, rates.out, quality, sine(rates.in, 1000.0, rates.in));
            CHECK(std::fabs(gain_db(output, 0.5, 1000)) < 0.1);
            CHECK(rms_error_to_sine(output, rates.out, 1000.0, 0.5, 1000) < 1e-3);
        }
}

TEST_CASE("the FIR passband is flat to its edge") {
    // Passband edges: 80 / 88 / 92 % of the output Nyquist (resample.cpp).
    const double edge[] = {0.80, 0.88, 0.92};
    const RatePair pairs[] = {{44100, 22050}, {48000, 22050}, {96000, 22050}};
    for (auto rates : pairs)
        for (size_t q = 0; q < 3; ++q)
            for (double fraction : {0.1, 0.5, edge[q]}) {
                double frequency = fraction * rates.out / 2.0;
                CAPTURE(rates.in);
                CAPTURE(frequency);
                CAPTURE(audiosim::resample_quality_name(all_qualities[q]));
                std::vector<float> output = resample(rates.in, rates.out, all_qualities[q], sine(rates.in, frequency, rates.in));
                CHECK(std::fabs(gain_db(output, 0.5, 1000)) < 0.1);
                CHECK(rms_error_to_sine(output, rates.out, frequency, 0.5, 1000) < 1e-3);
            }
}

TEST_CASE("sines above the new Nyquist are attenuated by the promised stopband") {
    const RatePair pairs[] = {{44100, 22050}, {88200, 22050}, {48000, 16000}, {48000, 22050}, {96000, 22050}, {44100, 16000}};
    for (auto rates : pairs)
        for (auto quality : all_qualities) {
            CAPTURE(rates.in);
            CAPTURE(audiosim::resample_quality_name(quality));
            double nyquist = rates.out / 2.0;
            double worst = -1000.0;
            // From just above the new Nyquist to 95 % of the old one, 15 kHz (44.1k) included.
            for (double frequency = nyquist * 1.001; frequency < rates.in * 0.475; frequency += 250.0) {
                auto output = resample(rates.in, rates.out, quality, sine(rates.in, frequency, rates.in / 2, 1.0));
                worst = std::max(worst, gain_db(output, 1.0, 500));
            }
            auto at_15k = resample(rates.in, rates.out, quality, sine(rates.in, 15000.0, rates.in / 2, 1.0));
            worst = std::max(worst, gain_db(at_15k, 1.0, 500));
            CAPTURE(worst);
            CHECK(worst <= -promised_stopband_db(quality));
        }
}

TEST_CASE("DC passes unchanged on every path") {
    for (auto rates : every_path)
        for (auto quality : all_qualities) {
            CAPTURE(rates.in);
            CAPTURE(rates.out);
            CAPTURE(audiosim::resample_quality_name(quality));
            std::vector<float> output = resample(rates.in, rates.out, quality, std::vector<float>(rates.in, 0.25f));
            double worst = 0.0;
            for (size_t n = 500; n < output.size() - 500; ++n) worst = std::max(worst, std::fabs(output[n] - 0.25));
            CHECK(worst < 1e-4);
        }
}

TEST_CASE("output n is centered on input sample n * factor") {
    // A click at input sample k * 100 must come out centered on output sample 100.
    for (auto quality : all_qualities) check_click(44100, 22050, quality, 200, 100, 1e-6);
    // A step up at sample 0: output 0 is centered on it, so it sees the center tap and the half
    // after it: 0.5 + h[center] / 2, with h[center] = 2 x cutoff = 0.45 for fast (0.225 cycles
    // per input sample). A late filter would give less, an early one more.
    std::vector<float> output = resample(44100, 22050, ResampleQuality::fast, std::vector<float>(4410, 1.0f));
    CHECK(output.front() == doctest::Approx(0.725).epsilon(0.001));
}

TEST_CASE("the libsamplerate paths meet length and timing: 44,056 -> 22,050 Hz and 16k -> 48k") {
    const RatePair pairs[] = {{44056, 22050}, {16000, 48000}};
    for (auto rates : pairs)
        for (auto quality : all_qualities) {
            CAPTURE(rates.in);
            CAPTURE(rates.out);
            CAPTURE(audiosim::resample_quality_name(quality));
            std::vector<float> input = sine(rates.in, 1000.0, rates.in + 7);
            std::vector<float> output = resample(rates.in, rates.out, quality, input);
            CHECK(output.size() == expected_length(input.size(), rates.in, rates.out));
            CHECK(std::fabs(gain_db(output, 0.5, 1000)) < 0.1);
            CHECK(rms_error_to_sine(output, rates.out, 1000.0, 0.5, 1000) < 1e-3);
        }
}

TEST_CASE("a click comes out centered on its instant through the polyphase FIR") {
    // Input sample 4800 at 48 kHz is 0.1 s: output sample 2205 at 22.05 kHz. A shift of a fraction
    // of a sample shows as unequal neighbours; a whole-sample one as another peak.
    for (auto quality : all_qualities) check_click(48000, 22050, quality, 4800, 2205, 1e-4);
}

TEST_CASE("integer decimation gives the bits it gave before the polyphase generalization") {
    // XXH3 of the output for 50,001 samples of noise(), recorded from the FIR decimator it replaced:
    // a change here changes the stored vectors of every 44.1 kHz file.
    struct Golden {
        uint32_t in, out;
        ResampleQuality quality;
        const char* xxh3;
    };
    const Golden goldens[] = {{44100, 22050, ResampleQuality::fast, "43e188f41e5bbc00"},
                              {44100, 22050, ResampleQuality::medium, "e7c756a742de18f0"},
                              {44100, 22050, ResampleQuality::best, "a47176c7d3face10"},
                              {88200, 22050, ResampleQuality::fast, "ae92f74712ee246e"},
                              {48000, 16000, ResampleQuality::best, "582335ec21147456"}};
    std::vector<float> input = noise(50'001);
    for (const Golden& golden : goldens) {
        std::vector<float> output = resample(golden.in, golden.out, golden.quality, input);
        CAPTURE(golden.in);
        CHECK(audiosim::hash_to_hex(audiosim::hash_bytes(output.data(), output.size() * sizeof(float))) == golden.xxh3);
    }
}

TEST_CASE("passthrough copies the input") {
    std::vector<float> input = noise(1234);
    CHECK(resample(48000, 48000, ResampleQuality::fast, input) == input);
}

TEST_SUITE_END();
