// Sample-rate conversion of a mono stream to a model's rate. Down-conversions whose reduced ratio
// has at most 1,024 phases (44.1k -> 22.05k, 48k -> 22.05k: 147/320, 96k -> 22.05k, 44.1k -> 16k)
// go through a windowed-sinc polyphase FIR, which is 8-11x faster than libsamplerate's fastest
// sinc converter (docs/PERFORMANCE.md); odd ratios and up-conversions through libsamplerate at
// the chosen quality. Output sample n corresponds to time n / output_rate of the input: the
// filter delay is compensated, so chunk times mean the same before and after.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace audiosim {

enum class ResampleQuality { fast, medium, best };
ResampleQuality parse_resample_quality(const std::string& name);  // Error(usage) for unknown names
const char* resample_quality_name(ResampleQuality quality);

class Resampler {
public:
    Resampler(uint32_t input_rate, uint32_t output_rate, ResampleQuality quality);
    ~Resampler();
    Resampler(const Resampler&) = delete;
    Resampler& operator=(const Resampler&) = delete;

    // Appends the output for `frames` more input samples to `output`.
    void process(const float* input, size_t frames, std::vector<float>& output);
    // Appends what the filter still holds; after it, the total output is
    // round(total input * output_rate / input_rate) samples.
    void finish(std::vector<float>& output);
    // Which converter runs: "passthrough", "fir-decimate-2" etc., "libsamplerate-sinc-fastest" etc.
    std::string method() const;

private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace audiosim
