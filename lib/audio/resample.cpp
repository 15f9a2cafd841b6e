// Sample-rate conversion (resample.hpp). Three converters behind one interface: passthrough,
// a windowed-sinc polyphase FIR for down-conversions (integer decimation is its one-phase case),
// and libsamplerate for everything else.
#include "audio/resample.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <samplerate.h>
#include <tuple>

#include "util/error.hpp"

namespace audiosim {

namespace {

// round(frames * out / in), halves rounded up. Splitting off whole periods of `in` keeps every
// product below 2^64 for 32-bit rates, whatever the length.
uint64_t rounded_output_frames(uint64_t frames, uint64_t in, uint64_t out) {
    uint64_t periods = frames / in;
    uint64_t rest = (frames % in) * out;  // < 2^64: both factors < 2^32
    uint64_t rounded = rest / in + ((rest % in) * 2 >= in ? 1 : 0);
    return periods * out + rounded;
}

// Down-conversions whose reduced ratio has at most this many output phases go through the
// polyphase FIR (48k -> 22.05k: 147, 192k -> 22.05k: 147, 44.1k -> 16k: 160); odd ratios such
// as 44,056 Hz -> 22,050 Hz (11,025 phases) through libsamplerate.
constexpr uint32_t max_fir_phases = 1024;

class Converter {
public:
    virtual ~Converter() = default;
    virtual void process(const float* input, size_t frames, std::vector<float>& output) = 0;
    virtual void finish(std::vector<float>& output) = 0;
    virtual std::string method() const = 0;
};

class Passthrough final : public Converter {
public:
    void process(const float* input, size_t frames, std::vector<float>& output) override {
        output.insert(output.end(), input, input + frames);
    }
    void finish(std::vector<float>&) override {}
    std::string method() const override { return "passthrough"; }
};

// ---- FIR decimator --------------------------------------------------------------------------

// Per quality: passband edge as a fraction of the output Nyquist frequency, and the stopband
// attenuation the Kaiser design aims at. The stopband starts exactly at the output Nyquist, so
// nothing above it aliases by more than the promise. The design target sits ~6 dB above the
// promise (60/80/100 dB) because Kaiser's length formula is an estimate and float taps and
// float accumulation add their own error; the unit tests and bench/resample_bench.cpp measure it.
struct FirSpec {
    double passband;      // fraction of output Nyquist
    double attenuation;   // dB, design target
};

FirSpec fir_spec(ResampleQuality quality) {
    switch (quality) {
    case ResampleQuality::fast: return {0.80, 66.0};
    case ResampleQuality::medium: return {0.88, 86.0};
    case ResampleQuality::best: return {0.92, 106.0};
    }
    throw Error(ErrorKind::internal, "unknown resample quality");
}

// Modified Bessel function of the first kind, order 0 (power series; converges fast for the
// beta values a Kaiser window uses).
double bessel_i0(double x) {
    double sum = 1.0, term = 1.0, half = x / 2.0;
    for (int k = 1; k < 64 && term > 1e-17 * sum; ++k) {
        term *= (half / k) * (half / k);
        sum += term;
    }
    return sum;
}

// Kaiser's empirical formulas (Oppenheim & Schafer, 3rd ed., 7.6.1).
double kaiser_beta(double attenuation) {
    if (attenuation > 50.0) return 0.1102 * (attenuation - 8.7);
    if (attenuation >= 21.0)
        return 0.5842 * std::pow(attenuation - 21.0, 0.4) + 0.07886 * (attenuation - 21.0);
    return 0.0;
}

// Odd length, so the filter's delay is a whole number of input samples.
size_t kaiser_length(double attenuation, double transition /* cycles per input sample */) {
    auto taps = static_cast<size_t>(std::ceil((attenuation - 7.95) / (14.36 * transition))) + 1;
    return taps | 1;
}

// The polyphase filter of a conversion by up/down (a reduced ratio, up < down): the low-pass
// prototype at the rate input * up, a sinc cut off halfway through the transition band under a
// Kaiser window, split into `up` phases. Output n lies at input time n * down / up; phase
// (n * down + center) % up holds the taps that fall on input samples there, reversed so that a
// forward dot product over the window applies them. Each phase is scaled to unit DC gain, so DC
// (and slow drifts) pass exactly whatever the phase. For up = 1 this is a plain decimation filter.
struct PolyphaseTable {
    uint32_t up = 1, down = 1;
    size_t center = 0;   // the prototype's center, in samples at input * up
    size_t length = 0;   // taps per phase, padded with zeros to whole lanes
    size_t live = 0;     // taps per phase before the padding
    std::vector<float> taps;  // up x length
    const float* phase(size_t p) const { return taps.data() + p * length; }
};

// Sixteen independent partial sums in a fixed order: the compiler vectorizes this without
// -ffast-math (a single running sum would be a serial dependency it may not reorder), and a
// fixed order makes every output independent of how the input was split into blocks.
constexpr size_t lanes = 16;

PolyphaseTable design_polyphase(uint32_t up, uint32_t down, const FirSpec& spec) {
    double nyquist = 0.5 / down;  // output Nyquist in cycles per sample at input * up
    double transition = (1.0 - spec.passband) * nyquist;
    double cutoff = nyquist - transition / 2.0;
    size_t length = kaiser_length(spec.attenuation, transition);
    double beta = kaiser_beta(spec.attenuation);
    double center = static_cast<double>(length - 1) / 2.0;

    std::vector<double> prototype(length);
    for (size_t i = 0; i < length; ++i) {
        double t = static_cast<double>(i) - center;
        double sinc = t == 0.0 ? 2.0 * cutoff : std::sin(2.0 * M_PI * cutoff * t) / (M_PI * t);
        double r = t / center;
        prototype[i] = sinc * bessel_i0(beta * std::sqrt(std::max(0.0, 1.0 - r * r))) / bessel_i0(beta);
    }
    PolyphaseTable table;
    table.up = up;
    table.down = down;
    table.center = (length - 1) / 2;
    table.live = (length + up - 1) / up;
    // Trailing zero taps round the length up to whole lanes; they only widen the window.
    table.length = (table.live + lanes - 1) / lanes * lanes;
    table.taps.assign(up * table.length, 0.0f);
    for (size_t p = 0; p < up; ++p) {
        double sum = 0.0;
        for (size_t k = 0; p + k * up < length; ++k) sum += prototype[p + k * up];
        for (size_t k = 0; p + k * up < length; ++k)
            table.taps[p * table.length + table.live - 1 - k] = static_cast<float>(prototype[p + k * up] / sum);
    }
    return table;
}

// Designing a table costs milliseconds for ratios such as 147/320 (48k -> 22.05k: 13,000
// prototype taps), and embed makes a Resampler per file: each table is designed once per process.
std::shared_ptr<const PolyphaseTable> polyphase_table(uint32_t up, uint32_t down, ResampleQuality quality) {
    static std::mutex mutex;
    static std::map<std::tuple<uint32_t, uint32_t, ResampleQuality>, std::shared_ptr<const PolyphaseTable>> tables;
    std::lock_guard<std::mutex> lock(mutex);
    auto& table = tables[{up, down, quality}];
    if (!table) table = std::make_shared<const PolyphaseTable>(design_polyphase(up, down, fir_spec(quality)));
    return table;
}

float dot(const float* taps, const float* samples, size_t length /* multiple of lanes */) {
    float partial[lanes] = {};
    for (size_t i = 0; i < length; i += lanes)
        for (size_t j = 0; j < lanes; ++j) partial[j] += taps[i + j] * samples[i + j];
    float sum = 0.0f;
    for (float p : partial) sum += p;
    return sum;
}

// `count` outputs: output i applies phase phases[i] to the window from offsets[i]. Cloned for AVX2
// (chosen at run time): twice the lanes per instruction. Without FMA each lane still rounds its
// product and its sum separately and in the same order, so both clones give the same bits.
#if defined(__x86_64__)
__attribute__((target_clones("avx2", "default")))
#endif
void filter_outputs(const PolyphaseTable& table, const float* window, size_t count, const size_t* offsets,
                    const size_t* phases, float* out) {
    for (size_t i = 0; i < count; ++i) out[i] = dot(table.phase(phases[i]), window + offsets[i], table.length);
}

// Direct-form polyphase FIR that computes only the kept samples. Input before the first sample is
// zero (the window starts primed with zeros), and finish() supplies zeros after the last one.
class FirResampler final : public Converter {
public:
    FirResampler(uint32_t up, uint32_t down, ResampleQuality quality) : table_(polyphase_table(up, down, quality)) {
        reset();
    }

    void process(const float* input, size_t frames, std::vector<float>& output) override {
        window_.insert(window_.end(), input, input + frames);
        input_frames_ += frames;
        emit(ready_outputs(), output);
    }

    // The stream ends: zeros after the last sample let the remaining outputs up to
    // round(input * up / down) be computed. process() never got that far: an output needs half a
    // filter of input after its instant, more than the 0.5 output samples of the rounding.
    void finish(std::vector<float>& output) override {
        uint64_t total = rounded_output_frames(input_frames_, table_->down, table_->up);
        if (total > output_frames_) {
            auto missing = static_cast<size_t>(total - output_frames_);
            auto needed = static_cast<size_t>(first_input(total - 1) - window_start_) + table_->length;
            if (window_.size() < needed) window_.resize(needed, 0.0f);
            emit(missing, output);
        }
        reset();  // the Resampler can take the next stream
    }

    std::string method() const override {
        if (table_->up == 1) return "fir-decimate-" + std::to_string(table_->down);
        return "fir-polyphase-" + std::to_string(table_->up) + "/" + std::to_string(table_->down);
    }

private:
    // The input sample under the first tap of output n (negative: before the stream, a zero).
    int64_t first_input(uint64_t n) const {
        return static_cast<int64_t>((n * table_->down + table_->center) / table_->up) -
               static_cast<int64_t>(table_->live - 1);
    }

    void reset() {
        window_start_ = first_input(0);
        window_.assign(static_cast<size_t>(-window_start_), 0.0f);
        input_frames_ = 0;
        output_frames_ = 0;
    }

    // Outputs whose whole window has arrived. first_input grows with n, so they are a prefix.
    size_t ready_outputs() const {
        int64_t end = window_start_ + static_cast<int64_t>(window_.size());
        // first_input(n) + length <= end  <=>  n * down + center < (end - length + live) * up
        int64_t bound = (end - static_cast<int64_t>(table_->length) + static_cast<int64_t>(table_->live)) *
                        static_cast<int64_t>(table_->up) - static_cast<int64_t>(table_->center);
        if (bound <= 0) return 0;
        auto ready = static_cast<uint64_t>((bound - 1) / static_cast<int64_t>(table_->down)) + 1;
        return ready > output_frames_ ? static_cast<size_t>(ready - output_frames_) : 0;
    }

    // Computes `count` outputs, then drops the input no later output needs.
    void emit(size_t count, std::vector<float>& output) {
        if (count == 0) return;
        offsets_.resize(count);
        phases_.resize(count);
        // Output n's window starts at input (n * down + center) / up, and its phase is the
        // remainder: one division for the first output, then steps of down / up (a division per
        // output was a third of this converter's own time on 48 kHz one-shots).
        uint64_t position = output_frames_ * table_->down + table_->center;
        uint64_t sample = position / table_->up;
        uint64_t phase = position - sample * table_->up;
        const uint64_t sample_step = table_->down / table_->up, phase_step = table_->down % table_->up;
        const int64_t first_tap = static_cast<int64_t>(table_->live - 1) + window_start_;
        for (size_t i = 0; i < count; ++i) {
            phases_[i] = static_cast<size_t>(phase);
            offsets_[i] = static_cast<size_t>(static_cast<int64_t>(sample) - first_tap);
            sample += sample_step;
            phase += phase_step;
            if (phase >= table_->up) {
                phase -= table_->up;
                ++sample;
            }
        }
        size_t base = output.size();
        output.resize(base + count);
        filter_outputs(*table_, window_.data(), count, offsets_.data(), phases_.data(), output.data() + base);
        output_frames_ += count;
        auto consumed = std::min(static_cast<size_t>(first_input(output_frames_) - window_start_), window_.size());
        window_.erase(window_.begin(), window_.begin() + static_cast<std::ptrdiff_t>(consumed));
        window_start_ += static_cast<int64_t>(consumed);
    }

    std::shared_ptr<const PolyphaseTable> table_;
    std::vector<float> window_;  // input from sample window_start_ on
    int64_t window_start_ = 0;
    std::vector<size_t> offsets_, phases_;
    uint64_t input_frames_ = 0;
    uint64_t output_frames_ = 0;
};

// ---- libsamplerate ---------------------------------------------------------------------------

int src_converter(ResampleQuality quality) {
    switch (quality) {
    case ResampleQuality::fast: return SRC_SINC_FASTEST;
    case ResampleQuality::medium: return SRC_SINC_MEDIUM_QUALITY;
    case ResampleQuality::best: return SRC_SINC_BEST_QUALITY;
    }
    throw Error(ErrorKind::internal, "unknown resample quality");
}

// Timing: libsamplerate's sinc converters center the filter on the output instant and wait for
// the look-ahead, so they have no delay to compensate. Measured with libsamplerate 0.2.2
// (1 kHz sine, 48k -> 22.05k, 44.1k -> 16k and 44.1k -> 48k, all three qualities): the
// least-squares shift between output and the ideal sine is 0.000 output samples (grid 0.001).
// Length: with end_of_input its total is within a sample of round(input * ratio) but not always
// equal (32002 for 32002.5, 96007 for 96007.6), so finish() feeds a few zeros first, which is
// what libsamplerate itself pads the end with, and trims to the exact count. Since every output
// waits for half a filter of look-ahead, process() never emits more than that count.
class SrcConverter final : public Converter {
public:
    SrcConverter(uint32_t input_rate, uint32_t output_rate, ResampleQuality quality)
        : quality_(quality), ratio_(static_cast<double>(output_rate) / input_rate) {
        uint32_t common = std::gcd(input_rate, output_rate);
        in_ = input_rate / common;
        out_ = output_rate / common;
        int error = 0;
        state_ = src_new(src_converter(quality), 1, &error);
        if (!state_) throw Error(ErrorKind::internal, std::string("libsamplerate: ") + src_strerror(error));
    }
    ~SrcConverter() override { src_delete(state_); }
    SrcConverter(const SrcConverter&) = delete;
    SrcConverter& operator=(const SrcConverter&) = delete;

    void process(const float* input, size_t frames, std::vector<float>& output) override {
        size_t before = output.size();
        convert(input, frames, false, output);
        input_frames_ += frames;
        output_frames_ += output.size() - before;
    }

    void finish(std::vector<float>& output) override {
        uint64_t total = rounded_output_frames(input_frames_, in_, out_);
        size_t base = output.size();
        std::vector<float> zeros(2 * static_cast<size_t>(std::ceil(1.0 / ratio_)) + 8, 0.0f);
        convert(zeros.data(), zeros.size(), false, output);
        convert(zeros.data(), 0, true, output);
        output.resize(base + static_cast<size_t>(total > output_frames_ ? total - output_frames_ : 0));
        check(src_reset(state_));
        input_frames_ = 0;
        output_frames_ = 0;
    }

    std::string method() const override {
        switch (quality_) {
        case ResampleQuality::fast: return "libsamplerate-sinc-fastest";
        case ResampleQuality::medium: return "libsamplerate-sinc-medium";
        case ResampleQuality::best: return "libsamplerate-sinc-best";
        }
        return "libsamplerate";
    }

private:
    static void check(int error) {
        if (error) throw Error(ErrorKind::internal, std::string("libsamplerate: ") + src_strerror(error));
    }

    // Runs src_process until all input is used (and, at the end, until nothing more comes out).
    // data_in must not be null even with no frames: libsamplerate rejects a null pointer.
    void convert(const float* input, size_t frames, bool end, std::vector<float>& output) {
        SRC_DATA data{};
        data.src_ratio = ratio_;
        data.end_of_input = end ? 1 : 0;
        auto room = static_cast<size_t>(static_cast<double>(frames) * ratio_) + 256;
        for (;;) {
            size_t base = output.size();
            output.resize(base + room);
            data.data_in = input;
            data.input_frames = static_cast<long>(frames);
            data.data_out = output.data() + base;
            data.output_frames = static_cast<long>(room);
            check(src_process(state_, &data));
            output.resize(base + static_cast<size_t>(data.output_frames_gen));
            input += data.input_frames_used;
            frames -= static_cast<size_t>(data.input_frames_used);
            if (frames == 0 && (!end || data.output_frames_gen == 0)) return;
        }
    }

    ResampleQuality quality_;
    double ratio_;
    uint32_t in_ = 1, out_ = 1;  // the reduced ratio, for the exact output count
    SRC_STATE* state_ = nullptr;
    uint64_t input_frames_ = 0;
    uint64_t output_frames_ = 0;
};

std::unique_ptr<Converter> make_converter(uint32_t input_rate, uint32_t output_rate, ResampleQuality quality) {
    if (input_rate == 0 || output_rate == 0)
        throw Error(ErrorKind::usage, "sample rates must be positive (got " + std::to_string(input_rate) +
                                          " Hz to " + std::to_string(output_rate) + " Hz)");
    if (input_rate == output_rate) return std::make_unique<Passthrough>();
    uint32_t common = std::gcd(input_rate, output_rate);
    uint32_t up = output_rate / common, down = input_rate / common;
    if (up < down && up <= max_fir_phases) return std::make_unique<FirResampler>(up, down, quality);
    if (!src_is_valid_ratio(static_cast<double>(output_rate) / input_rate))
        throw Error(ErrorKind::usage, "cannot resample " + std::to_string(input_rate) + " Hz to " +
                                          std::to_string(output_rate) + " Hz: ratio beyond 256");
    return std::make_unique<SrcConverter>(input_rate, output_rate, quality);
}

}  // namespace

ResampleQuality parse_resample_quality(const std::string& name) {
    for (auto quality : {ResampleQuality::fast, ResampleQuality::medium, ResampleQuality::best})
        if (name == resample_quality_name(quality)) return quality;
    throw Error(ErrorKind::usage, "unknown resample quality '" + name + "' (fast, medium or best)");
}

const char* resample_quality_name(ResampleQuality quality) {
    switch (quality) {
    case ResampleQuality::fast: return "fast";
    case ResampleQuality::medium: return "medium";
    case ResampleQuality::best: return "best";
    }
    return "unknown";
}

class Resampler::Impl {
public:
    std::unique_ptr<Converter> converter;
};

Resampler::Resampler(uint32_t input_rate, uint32_t output_rate, ResampleQuality quality)
    : impl_(std::make_unique<Impl>()) {
    impl_->converter = make_converter(input_rate, output_rate, quality);
}

Resampler::~Resampler() = default;

void Resampler::process(const float* input, size_t frames, std::vector<float>& output) {
    impl_->converter->process(input, frames, output);
}

void Resampler::finish(std::vector<float>& output) { impl_->converter->finish(output); }

std::string Resampler::method() const { return impl_->converter->method(); }

}  // namespace audiosim
