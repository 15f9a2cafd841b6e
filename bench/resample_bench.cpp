// Resampler throughput (x realtime, one core) and measured filter quality for the rate pairs
// audiosim meets. Usage: resample_bench [--seconds S] [--repeat N] [--block FRAMES]
//
// Throughput: S seconds (default 60) of mono white noise through one Resampler, fed in blocks of
// FRAMES (default 65536, like a decoder would), process() + finish(), N runs (default 5): median
// and best run of wall time, and median of the thread's CPU time (less hurt by a busy machine).
// Quality, per case, from sines swept through the same Resampler (least-squares fit of the
// output to a sine at the expected, possibly aliased, frequency, away from the ends):
//   stopband  worst gain for any input frequency from the output Nyquist up to 0.49 x the input
//             rate, and where it occurred;
//   edge      gain at 80 % of the output Nyquist (the fast FIR's passband edge);
// The first rows compare the FIR decimator with libsamplerate called directly on the same ratio.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <samplerate.h>

#include "audio/resample.hpp"

using audiosim::ResampleQuality;
using audiosim::Resampler;

namespace {

struct Options {
    double seconds = 60.0;
    int repeat = 5;
    size_t block = 65536;
};

struct Case {
    uint32_t in, out;
    ResampleQuality quality;
    bool direct_libsamplerate;  // bypass Resampler: the baseline the FIR replaces
};

// A converter under test: the Resampler, or libsamplerate directly for the baseline rows.
class Subject {
public:
    explicit Subject(const Case& c) : case_(c) {
        if (!c.direct_libsamplerate) {
            resampler_ = std::make_unique<Resampler>(c.in, c.out, c.quality);
            return;
        }
        int types[] = {SRC_SINC_FASTEST, SRC_SINC_MEDIUM_QUALITY, SRC_SINC_BEST_QUALITY};
        int error = 0;
        state_ = src_new(types[static_cast<int>(c.quality)], 1, &error);
        if (!state_) {
            std::fprintf(stderr, "resample_bench: src_new: %s\n", src_strerror(error));
            std::exit(1);
        }
    }
    ~Subject() {
        if (state_) src_delete(state_);
    }
    Subject(const Subject&) = delete;
    Subject& operator=(const Subject&) = delete;

    std::string method() const {
        if (resampler_) return resampler_->method();
        return std::string("libsamplerate-direct-") + audiosim::resample_quality_name(case_.quality);
    }

    void run(const std::vector<float>& input, size_t block, std::vector<float>& output) {
        output.clear();
        if (resampler_) {
            for (size_t at = 0; at < input.size(); at += block)
                resampler_->process(input.data() + at, std::min(block, input.size() - at), output);
            resampler_->finish(output);
            return;
        }
        run_libsamplerate(input, output);
    }

private:
    // One src_process call over everything with end_of_input: libsamplerate's cheapest use.
    void run_libsamplerate(const std::vector<float>& input, std::vector<float>& output) {
        src_reset(state_);
        double ratio = static_cast<double>(case_.out) / case_.in;
        output.resize(static_cast<size_t>(static_cast<double>(input.size()) * ratio) + 1024);
        SRC_DATA data{};
        data.data_in = input.data();
        data.input_frames = static_cast<long>(input.size());
        data.data_out = output.data();
        data.output_frames = static_cast<long>(output.size());
        data.src_ratio = ratio;
        data.end_of_input = 1;
        int error = src_process(state_, &data);
        if (error) {
            std::fprintf(stderr, "resample_bench: src_process: %s\n", src_strerror(error));
            std::exit(1);
        }
        output.resize(static_cast<size_t>(data.output_frames_gen));
    }

    Case case_;
    std::unique_ptr<Resampler> resampler_;
    SRC_STATE* state_ = nullptr;
};

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    size_t n = values.size();
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2.0;
}

struct Speed {
    double median_xrt, best_xrt, cpu_xrt;  // wall median, wall best, thread-CPU median
};

Speed measure_speed(Subject& subject, const Options& options, uint32_t rate) {
    std::mt19937 generator(42);
    std::uniform_real_distribution<float> uniform(-0.9f, 0.9f);
    std::vector<float> input(static_cast<size_t>(options.seconds * rate));
    for (float& sample : input) sample = uniform(generator);
    std::vector<float> output;
    output.reserve(input.size());
    std::vector<double> wall, cpu;
    for (int run = 0; run < options.repeat; ++run) {
        auto start = std::chrono::steady_clock::now();
        double cpu_start = thread_cpu_seconds();
        subject.run(input, options.block, output);
        cpu.push_back(options.seconds / (thread_cpu_seconds() - cpu_start));
        wall.push_back(options.seconds /
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    return {median(wall), *std::max_element(wall.begin(), wall.end()), median(cpu)};
}

// Frequency at which an input sine at `frequency` appears after sampling at `rate`.
double alias_of(double frequency, double rate) {
    double folded = std::fmod(frequency, rate);
    return std::min(folded, rate - folded);
}

// Amplitude of the sine at `frequency` (Hz, output rate `rate`) that best fits `y` away from the
// ends: least squares on a cosine and a sine, which needs no whole number of periods and stays
// right next to DC and Nyquist, where an RMS would depend on the phase.
double fitted_amplitude(const std::vector<float>& y, double frequency, double rate, size_t margin) {
    double w = 2.0 * M_PI * frequency / rate;
    double cc = 0, ss = 0, cs = 0, yc = 0, ys = 0, peak = 0;
    for (size_t n = margin; n + margin < y.size(); ++n) {
        double c = std::cos(w * static_cast<double>(n)), s = std::sin(w * static_cast<double>(n));
        cc += c * c;
        ss += s * s;
        cs += c * s;
        yc += y[n] * c;
        ys += y[n] * s;
        peak = std::max(peak, std::fabs(static_cast<double>(y[n])));
    }
    double det = cc * ss - cs * cs;
    if (det < 1e-6 * (cc + ss) * (cc + ss)) return peak;  // exactly at DC or Nyquist: one basis
    double a = (yc * ss - ys * cs) / det, b = (ys * cc - yc * cs) / det;
    return std::sqrt(a * a + b * b);
}

double gain_db(Subject& subject, const Case& c, double frequency) {
    std::vector<float> input(c.in / 2), output;
    for (size_t i = 0; i < input.size(); ++i)
        input[i] = static_cast<float>(std::sin(2.0 * M_PI * frequency * static_cast<double>(i) / c.in));
    subject.run(input, 65536, output);
    double amplitude = fitted_amplitude(output, alias_of(frequency, c.out), c.out, c.out / 40);
    return 20.0 * std::log10(std::max(amplitude, 1e-9));
}

struct Stopband {
    double worst_db, at_hz;
};

// 300 frequencies: a third packed into the first 5 % above the output Nyquist, where the
// transition band ends and the worst leakage usually sits, the rest spread up to 0.49 x input.
Stopband measure_stopband(Subject& subject, const Case& c) {
    double low = c.out / 2.0, high = 0.49 * c.in;
    Stopband result{-1000.0, 0.0};
    for (int i = 0; i < 300; ++i) {
        double frequency = i < 100 ? low * (1.0005 + 0.05 * i / 100.0) : low * 1.05 + (high - low * 1.05) * (i - 100) / 199.0;
        double gain = gain_db(subject, c, frequency);
        if (gain > result.worst_db) result = {gain, frequency};
    }
    return result;
}

std::string rate_name(uint32_t rate) {
    char text[32];
    std::snprintf(text, sizeof text, "%gk", rate / 1000.0);  // 44.1k, 22.05k, 48k
    return text;
}

Options parse_options(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        bool has_value = i + 1 < argc;
        if (!std::strcmp(argv[i], "--seconds") && has_value) options.seconds = std::atof(argv[++i]);
        else if (!std::strcmp(argv[i], "--repeat") && has_value) options.repeat = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--block") && has_value) options.block = std::strtoul(argv[++i], nullptr, 10);
        else {
            std::fprintf(stderr, "usage: resample_bench [--seconds S] [--repeat N] [--block FRAMES]\n");
            std::exit(2);
        }
    }
    if (options.seconds <= 0 || options.repeat < 1 || options.block < 1) {
        std::fprintf(stderr, "resample_bench: --seconds, --repeat and --block must be positive\n");
        std::exit(2);
    }
    return options;
}

std::vector<Case> cases() {
    const ResampleQuality qualities[] = {ResampleQuality::fast, ResampleQuality::medium, ResampleQuality::best};
    std::vector<Case> list;
    for (auto q : qualities) list.push_back({44100, 22050, q, true});
    const uint32_t pairs[][2] = {{44100, 22050}, {48000, 24000}, {88200, 22050}, {96000, 48000},
                                 {48000, 22050}, {96000, 22050}, {44100, 16000}, {44056, 22050}};
    for (auto& pair : pairs)
        for (auto q : qualities) list.push_back({pair[0], pair[1], q, false});
    return list;
}

}  // namespace

int main(int argc, char** argv) {
    Options options = parse_options(argc, argv);
    std::printf("# %.0f s mono white noise per case, blocks of %zu frames, median of %d runs, one thread\n",
                options.seconds, options.block, options.repeat);
    std::printf("# %s\n", src_get_version());
    std::printf("| rates | quality | method | x realtime | best run | CPU-time x realtime | stopband: worst gain | at | gain at 0.8 x out Nyquist |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|\n");
    for (const Case& c : cases()) {
        Subject subject(c);
        Speed speed = measure_speed(subject, options, c.in);
        Stopband stopband = measure_stopband(subject, c);
        double edge = gain_db(subject, c, 0.8 * c.out / 2.0);
        std::printf("| %s -> %s | %s | %s | %.0f | %.0f | %.0f | %.1f dB | %.0f Hz | %+.3f dB |\n", rate_name(c.in).c_str(),
                    rate_name(c.out).c_str(), audiosim::resample_quality_name(c.quality), subject.method().c_str(),
                    speed.median_xrt, speed.best_xrt, speed.cpu_xrt, stopband.worst_db, stopband.at_hz, edge);
        std::fflush(stdout);
    }
    return 0;
}
