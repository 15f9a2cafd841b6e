// lib/chunk/chunker: window plans, and chunk levels and flags measured on real (synthesized) files.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <doctest/doctest.h>
#include <sndfile.h>

#include "chunk/chunker.hpp"
#include "chunk/profile.hpp"
#include "support.hpp"
#include "util/error.hpp"

using audiosim::Chunk;
using audiosim::ChunkProfile;
using audiosim::ErrorKind;
using audiosim::LastWindow;
using audiosim::test::contains;
using audiosim::test::error_of;
using audiosim::test::TempFolder;
using audiosim::test::write_bytes;
using audiosim::test::write_sine;

using audiosim::test::write_samples;

namespace {

using Windows = std::vector<std::pair<int64_t, int64_t>>;

constexpr int wav16 = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
constexpr int wav_float = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
constexpr int wav_u8 = SF_FORMAT_WAV | SF_FORMAT_PCM_U8;

// 20 log10 of 0.5 and of 0.5 / sqrt(2): the peak and RMS of write_sine's tone.
const double half_db = 20 * std::log10(0.5);
const double sine_rms_db = 20 * std::log10(0.5 / std::sqrt(2.0));

ChunkProfile profile_of(double window, double hop, double min, LastWindow last = LastWindow::keep) {
    ChunkProfile profile;
    profile.name = "test";
    profile.window_seconds = window;
    profile.hop_seconds = hop;
    profile.min_seconds = min;
    profile.last = last;
    profile.validate();
    return profile;
}

float sine(double amplitude, double frequency, int64_t i, int sample_rate) {
    return static_cast<float>(amplitude * std::sin(2 * M_PI * frequency * static_cast<double>(i) / sample_rate));
}

// A deterministic pseudo-random number in [0, 1).
struct Random {
    uint64_t state = 0x9e3779b97f4a7c15ULL;
    double next() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return static_cast<double>(state >> 11) / 9007199254740992.0;
    }
};

// Steady noise of random signs whose magnitude stays within [0.8, 1] * peak.
std::vector<float> steady_noise(double peak, size_t frames) {
    Random random;
    std::vector<float> samples(frames);
    for (float& x : samples) {
        double sign = random.next() < 0.5 ? -1 : 1;
        x = static_cast<float>(sign * peak * (0.8 + 0.2 * random.next()));
    }
    return samples;
}

bool has_flag(uint8_t flags, uint8_t flag) { return (flags & flag) != 0; }

double db(double amplitude) { return 20 * std::log10(amplitude); }

Windows plan(const ChunkProfile& profile, int64_t total, uint32_t rate) { return audiosim::plan_windows(profile, total, rate); }

// Properties every plan has, whatever the policy.
void check_plan_shape(const ChunkProfile& profile, int64_t total, uint32_t rate) {
    CAPTURE(total);
    Windows windows = plan(profile, total, rate);
    REQUIRE(!windows.empty());
    CHECK(windows.front().first == 0);
    int64_t window = std::llround(profile.window_seconds * rate);
    int64_t hop = std::llround(profile.hop_seconds * rate);
    int64_t min = std::llround(profile.min_seconds * rate);
    for (size_t i = 0; i < windows.size(); ++i) {
        auto [start, length] = windows[i];
        CHECK(start >= 0);
        CHECK(length > 0);
        CHECK(start + length <= total);
        if (i > 0) CHECK(start > windows[i - 1].first);
    }
    if (total <= window) {
        CHECK(windows == Windows{{0, total}});
        return;
    }
    int64_t end = windows.back().first + windows.back().second;
    // Full windows one hop apart, up to the last one.
    for (size_t i = 0; i + 1 < windows.size(); ++i) {
        CHECK(windows[i].second == window);
        if (i + 2 < windows.size() || profile.last != LastWindow::align) CHECK(windows[i + 1].first - windows[i].first == hop);
    }
    switch (profile.last) {
        case LastWindow::keep:
            CHECK(total - end < std::max<int64_t>(1, min));  // at most a tail shorter than min_seconds is left out
            break;
        case LastWindow::align:
            CHECK(end == total);
            CHECK(windows.back().second == window);
            break;
        case LastWindow::drop:
            CHECK(windows.back().second == window);
            CHECK(total - end < hop);
            break;
    }
}

}  // namespace

TEST_SUITE_BEGIN("chunk/chunker");

TEST_CASE("plan_windows: an empty file is one empty chunk, whatever the profile") {
    for (const std::string& name : audiosim::preset_names()) {
        CAPTURE(name);
        CHECK(plan(audiosim::preset_profile(name), 0, 44100) == Windows{{0, 0}});
    }
    CHECK(plan(profile_of(2, 1, 0.5, LastWindow::drop), 0, 8000) == Windows{{0, 0}});
}

TEST_CASE("plan_windows: with whole_seconds, a file at most that long is one whole chunk, longer ones windows") {
    ChunkProfile profile = profile_of(2, 1, 0.5, LastWindow::keep);
    profile.whole_seconds = 5;
    CHECK(plan(profile, 40000, 8000) == Windows{{0, 40000}});  // exactly 5 s
    CHECK(plan(profile, 24000, 8000) == Windows{{0, 24000}});
    CHECK(plan(profile, 40001, 8000).size() == 5);  // 2 s windows at 0, 1, 2, 3 s, and 1 s from 4 s
    CHECK(plan(profile, 40001, 8000).front() == std::pair<int64_t, int64_t>{0, 16000});
    profile.whole_seconds = 0;
    CHECK(plan(profile, 24000, 8000).size() == 2);
}

TEST_CASE("plan_windows: a file no longer than a window is one whole chunk") {
    for (LastWindow last : {LastWindow::keep, LastWindow::align, LastWindow::drop}) {
        ChunkProfile profile = profile_of(2, 1, 0.5, last);
        std::string policy = audiosim::last_window_name(last);
        CAPTURE(policy);
        CHECK(plan(profile, 1, 8000) == Windows{{0, 1}});
        CHECK(plan(profile, 1000, 8000) == Windows{{0, 1000}});        // shorter than min_seconds too
        CHECK(plan(profile, 12000, 8000) == Windows{{0, 12000}});
        CHECK(plan(profile, 16000, 8000) == Windows{{0, 16000}});      // exactly one window
    }
}

TEST_CASE("plan_windows: full windows one hop apart") {
    ChunkProfile profile = profile_of(2, 1, 0.5);
    // 5 s at 8 kHz: windows at 0, 1, 2, 3 s end exactly at the end.
    CHECK(plan(profile, 40000, 8000) == Windows{{0, 16000}, {8000, 16000}, {16000, 16000}, {24000, 16000}});
    // 3 s: windows at 0 and 1 s end exactly at the end.
    CHECK(plan(profile, 24000, 8000) == Windows{{0, 16000}, {8000, 16000}});
    ChunkProfile no_overlap = profile_of(2, 2, 0.5);
    CHECK(plan(no_overlap, 48000, 8000) == Windows{{0, 16000}, {16000, 16000}, {32000, 16000}});
}

TEST_CASE("plan_windows: keep keeps a last partial window of at least min_seconds") {
    ChunkProfile profile = profile_of(2, 2, 0.5, LastWindow::keep);
    SUBCASE("longer than min") {
        // 5 s: two full windows and the last second.
        CHECK(plan(profile, 40000, 8000) == Windows{{0, 16000}, {16000, 16000}, {32000, 8000}});
    }
    SUBCASE("exactly min") {
        CHECK(plan(profile, 36000, 8000) == Windows{{0, 16000}, {16000, 16000}, {32000, 4000}});
    }
    SUBCASE("shorter than min: dropped") {
        CHECK(plan(profile, 35999, 8000) == Windows{{0, 16000}, {16000, 16000}});
        CHECK(plan(profile, 32001, 8000) == Windows{{0, 16000}, {16000, 16000}});
    }
    SUBCASE("min 0 keeps even one frame") {
        ChunkProfile any = profile_of(2, 2, 0, LastWindow::keep);
        CHECK(plan(any, 32001, 8000) == Windows{{0, 16000}, {16000, 16000}, {32000, 1}});
    }
    SUBCASE("overlapping windows: the partial window starts one hop after the last full one") {
        ChunkProfile overlapping = profile_of(2, 1, 0.5, LastWindow::keep);
        Windows windows = plan(overlapping, 44000, 8000);  // 5.5 s
        REQUIRE(windows.size() == 5);
        CHECK(windows[3] == std::pair<int64_t, int64_t>{24000, 16000});
        CHECK(windows[4] == std::pair<int64_t, int64_t>{32000, 12000});
    }
}

TEST_CASE("plan_windows: align moves the last window back to end at the file's end") {
    ChunkProfile profile = profile_of(2, 2, 0.5, LastWindow::align);
    CHECK(plan(profile, 40000, 8000) == Windows{{0, 16000}, {16000, 16000}, {24000, 16000}});
    // Even a tail shorter than min_seconds is covered: the window is full length.
    CHECK(plan(profile, 32001, 8000) == Windows{{0, 16000}, {16000, 16000}, {16001, 16000}});
    // Nothing to align when the windows end at the end.
    CHECK(plan(profile, 48000, 8000) == Windows{{0, 16000}, {16000, 16000}, {32000, 16000}});
}

TEST_CASE("plan_windows: drop keeps only full windows") {
    ChunkProfile profile = profile_of(2, 2, 0.5, LastWindow::drop);
    CHECK(plan(profile, 40000, 8000) == Windows{{0, 16000}, {16000, 16000}});
    CHECK(plan(profile, 47999, 8000) == Windows{{0, 16000}, {16000, 16000}});
    CHECK(plan(profile, 48000, 8000) == Windows{{0, 16000}, {16000, 16000}, {32000, 16000}});
}

TEST_CASE("plan_windows: first_seconds is one chunk of the first N seconds") {
    ChunkProfile oneshot = audiosim::preset_profile("oneshot");  // first 10 s
    CHECK(plan(oneshot, 1, 44100) == Windows{{0, 1}});
    CHECK(plan(oneshot, 44100, 44100) == Windows{{0, 44100}});   // a shorter file: the whole file
    CHECK(plan(oneshot, 441000, 44100) == Windows{{0, 441000}});   // exactly N s
    CHECK(plan(oneshot, 441001, 44100) == Windows{{0, 441000}});
    CHECK(plan(oneshot, 44100 * 3600, 44100) == Windows{{0, 441000}});  // an hour
    CHECK(plan(oneshot, 30 * 48000, 48000) == Windows{{0, 480000}});
    // Window and hop do not matter then.
    ChunkProfile first = profile_of(0.5, 0.25, 0.1);
    first.first_seconds = 1.5;
    CHECK(plan(first, 80000, 8000) == Windows{{0, 12000}});
}

TEST_CASE("plan_windows: window 0 is the whole file") {
    ChunkProfile whole = audiosim::preset_profile("whole");
    CHECK(plan(whole, 1, 8000) == Windows{{0, 1}});
    CHECK(plan(whole, 123457, 8000) == Windows{{0, 123457}});
    CHECK(plan(whole, int64_t{44100} * 3 * 3600, 44100) == Windows{{0, int64_t{44100} * 3 * 3600}});
}

TEST_CASE("plan_windows: seconds round to the nearest frame at any rate") {
    // 0.3 s * 22050 Hz = 6615 frames exactly, though 0.3 is not exact in binary.
    ChunkProfile profile = profile_of(1, 0.3, 0.1, LastWindow::drop);
    Windows windows = plan(profile, 22050 * 3, 22050);
    REQUIRE(windows.size() == 7);  // starts 0 .. 6 * 6615 = 39690; 39690 + 22050 <= 66150
    for (size_t i = 0; i < windows.size(); ++i) {
        CAPTURE(i);
        CHECK(windows[i].first == static_cast<int64_t>(i) * 6615);
        CHECK(windows[i].second == 22050);
    }
    // 0.7 s * 44100 Hz = 30870 frames (0.7 * 44100 is 30869.999... in doubles).
    ChunkProfile seven = profile_of(0.7, 0.7, 0.1, LastWindow::drop);
    Windows at_44k = plan(seven, 44100 * 7, 44100);
    REQUIRE(at_44k.size() == 10);
    CHECK(at_44k[1] == std::pair<int64_t, int64_t>{30870, 30870});
    CHECK(at_44k[9] == std::pair<int64_t, int64_t>{9 * 30870, 30870});
    // 11025 Hz, 2 s windows, 1 s hop.
    Windows at_11k = plan(audiosim::preset_profile("sample"), 11025 * 4, 11025);
    CHECK(at_11k == Windows{{0, 22050}, {11025, 22050}, {22050, 22050}});
}

TEST_CASE("plan_windows: shape properties over many lengths and policies") {
    for (LastWindow last : {LastWindow::keep, LastWindow::align, LastWindow::drop}) {
        for (const auto& shape : {std::tuple{2.0, 1.0, 0.5}, std::tuple{2.0, 2.0, 0.5}, std::tuple{1.0, 0.3, 0.25},
                                  std::tuple{0.5, 0.125, 0.0}}) {
            ChunkProfile profile = profile_of(std::get<0>(shape), std::get<1>(shape), std::get<2>(shape), last);
            std::string where = std::string(audiosim::last_window_name(last)) + ", window " +
                                std::to_string(profile.window_seconds) + " s, hop " + std::to_string(profile.hop_seconds) + " s";
            CAPTURE(where);
            for (int64_t total = 1; total < 60000; total += 997) check_plan_shape(profile, total, 8000);
            for (int64_t total : {15999, 16000, 16001, 23999, 24000, 24001, 31999, 32000, 32001})
                check_plan_shape(profile, total, 8000);
        }
    }
}

TEST_CASE("chunk_flag_names") {
    CHECK(audiosim::chunk_flag_names(0) == "");
    CHECK(audiosim::chunk_flag_names(audiosim::chunk_silent) == "silent");
    CHECK(audiosim::chunk_flag_names(audiosim::chunk_silent | audiosim::chunk_dc) == "silent,dc");
    CHECK(audiosim::chunk_flag_names(audiosim::chunk_noise_floor) == "noise_floor");
    CHECK(audiosim::chunk_flag_names(audiosim::chunk_empty | audiosim::chunk_silent) == "silent,empty");
    CHECK(audiosim::chunk_flag_names(audiosim::chunk_no_speech) == "no_speech");
}

TEST_CASE("chunk_file: a normal sine at -6 dBFS has its levels and no flags") {
    TempFolder folder;
    std::string path = folder.file("sine.wav");
    write_sine(path, wav16, 44100, 1, 44100 * 3);
    auto chunks = audiosim::chunk_file(path, audiosim::preset_profile("sample"));
    REQUIRE(chunks.size() == 2);  // 0-2 s and 1-3 s
    for (size_t i = 0; i < chunks.size(); ++i) {
        const Chunk& chunk = chunks[i];
        CAPTURE(i);
        CHECK(chunk.chunk_id == 0);
        CHECK(chunk.file_id == 0);
        CHECK(chunk.start_frame == static_cast<int64_t>(i) * 44100);
        CHECK(chunk.frames == 88200);
        CHECK(chunk.start == doctest::Approx(static_cast<double>(i)));
        CHECK(chunk.duration == doctest::Approx(2.0));
        CHECK(chunk.flags == 0);
        CHECK(chunk.rms_db == doctest::Approx(sine_rms_db).epsilon(0.005));   // -9.03 dB
        CHECK(chunk.peak_db == doctest::Approx(half_db).epsilon(0.005));      // -6.02 dB
    }
}

TEST_CASE("chunk_file: with a recording asked for, the same chunks, and the file's audio kept when it fits") {
    TempFolder folder;
    std::string path = folder.file("sine.wav");
    constexpr int64_t frames = 44100 * 7 / 2;  // 3.5 s: an aligned last window measures by seeking back
    write_sine(path, wav16, 44100, 1, frames);
    ChunkProfile profile = audiosim::preset_profile("sample");
    profile.last = LastWindow::align;
    std::vector<Chunk> plain = audiosim::chunk_file(path, profile);
    std::shared_ptr<const audiosim::MonoRecording> recording;
    std::vector<Chunk> recorded = audiosim::chunk_file(path, profile, &recording, frames);
    REQUIRE(recorded.size() == plain.size());
    for (size_t i = 0; i < plain.size(); ++i) {
        CAPTURE(i);
        CHECK(recorded[i].start_frame == plain[i].start_frame);
        CHECK(recorded[i].frames == plain[i].frames);
        CHECK(recorded[i].rms_db == plain[i].rms_db);
        CHECK(recorded[i].peak_db == plain[i].peak_db);
        CHECK(recorded[i].flags == plain[i].flags);
    }
    REQUIRE(recording);
    audiosim::MonoReader reader(path);
    std::vector<float> all;
    reader.read(static_cast<size_t>(frames) + 10, all);
    CHECK(recording->samples == all);

    SUBCASE("a file longer than the frames allowed: not kept") {
        audiosim::chunk_file(path, profile, &recording, frames - 1);
        CHECK_FALSE(recording);
    }
    SUBCASE("first_seconds reads only the start: not kept") {
        ChunkProfile start_only = audiosim::preset_profile("oneshot");
        start_only.first_seconds = 1;
        audiosim::chunk_file(path, start_only, &recording, frames);
        CHECK_FALSE(recording);
    }
}

TEST_CASE("chunk_file: one sample") {
    TempFolder folder;
    std::string path = folder.file("one.wav");
    write_samples(path, wav_float, 44100, 1, {0.5f});
    for (const std::string& name : audiosim::preset_names()) {
        CAPTURE(name);
        auto chunks = audiosim::chunk_file(path, audiosim::preset_profile(name));
        REQUIRE(chunks.size() == 1);
        CHECK(chunks[0].start_frame == 0);
        CHECK(chunks[0].frames == 1);
        CHECK(chunks[0].duration == doctest::Approx(1.0 / 44100));
        CHECK(chunks[0].peak_db == doctest::Approx(half_db).epsilon(0.001));
        CHECK_FALSE(has_flag(chunks[0].flags, audiosim::chunk_empty));
        CHECK_FALSE(has_flag(chunks[0].flags, audiosim::chunk_silent));
    }
}

TEST_CASE("chunk_file: a file of zero frames is one empty chunk") {
    TempFolder folder;
    std::string path = folder.file("empty.wav");
    write_samples(path, wav16, 8000, 1, {});
    auto chunks = audiosim::chunk_file(path, audiosim::preset_profile("sample"));
    REQUIRE(chunks.size() == 1);
    CHECK(chunks[0].frames == 0);
    CHECK(chunks[0].duration == 0);
    CHECK(has_flag(chunks[0].flags, audiosim::chunk_empty));
}

TEST_CASE("chunk_file: digital silence is flagged silent") {
    TempFolder folder;
    std::string path = folder.file("silence.wav");
    write_samples(path, wav16, 8000, 1, std::vector<float>(8000 * 3, 0.0f));
    auto chunks = audiosim::chunk_file(path, audiosim::preset_profile("sample"));
    REQUIRE(chunks.size() == 2);
    for (const Chunk& chunk : chunks) {
        CHECK(has_flag(chunk.flags, audiosim::chunk_silent));
        CHECK_FALSE(has_flag(chunk.flags, audiosim::chunk_empty));
        CHECK(chunk.rms_db < -60);
        CHECK(chunk.peak_db < -60);
    }
}

TEST_CASE("chunk_file: a tone far below silence_db is silent") {
    TempFolder folder;
    std::string path = folder.file("quiet.wav");
    std::vector<float> samples(16000);
    for (size_t i = 0; i < samples.size(); ++i) samples[i] = sine(std::pow(10, -75 / 20.0), 440, static_cast<int64_t>(i), 16000);
    write_samples(path, wav_float, 16000, 1, samples);
    auto chunks = audiosim::chunk_file(path, audiosim::preset_profile("whole"));
    REQUIRE(chunks.size() == 1);
    CHECK(has_flag(chunks[0].flags, audiosim::chunk_silent));
    CHECK(chunks[0].peak_db == doctest::Approx(-75).epsilon(0.01));
}

TEST_CASE("chunk_file: a constant DC offset is flagged dc, not silent") {
    TempFolder folder;
    std::string path = folder.file("dc.wav");
    SUBCASE("bare DC") { write_samples(path, wav16, 8000, 1, std::vector<float>(8000 * 2, 0.5f)); }
    SUBCASE("DC with a trace of noise far below silence_db") {
        std::vector<float> samples = steady_noise(1e-4, 8000 * 2);  // -80 dBFS
        for (float& x : samples) x += 0.5f;
        write_samples(path, wav_float, 8000, 1, samples);
    }
    auto chunks = audiosim::chunk_file(path, audiosim::preset_profile("whole"));
    REQUIRE(chunks.size() == 1);
    CHECK(has_flag(chunks[0].flags, audiosim::chunk_dc));
    CHECK_FALSE(has_flag(chunks[0].flags, audiosim::chunk_silent));
    CHECK_FALSE(has_flag(chunks[0].flags, audiosim::chunk_noise_floor));
    CHECK(chunks[0].rms_db == doctest::Approx(half_db).epsilon(0.01));
    CHECK(chunks[0].peak_db == doctest::Approx(half_db).epsilon(0.01));
}

TEST_CASE("chunk_file: a tone on a DC offset is not dc") {
    TempFolder folder;
    std::string path = folder.file("offset_tone.wav");
    std::vector<float> samples(16000);
    for (size_t i = 0; i < samples.size(); ++i) samples[i] = 0.25f + sine(0.25, 440, static_cast<int64_t>(i), 8000);
    write_samples(path, wav_float, 8000, 1, samples);
    auto chunks = audiosim::chunk_file(path, audiosim::preset_profile("whole"));
    REQUIRE(chunks.size() == 1);
    CHECK(chunks[0].flags == 0);
}

TEST_CASE("chunk_file: a quiet steady noise is a noise floor") {
    TempFolder folder;
    std::string path = folder.file("hiss.wav");
    double peak = std::pow(10, -55 / 20.0);
    write_samples(path, wav_float, 16000, 1, steady_noise(peak, 16000 * 3));
    auto chunks = audiosim::chunk_file(path, audiosim::preset_profile("sample"));
    REQUIRE(chunks.size() == 2);
    for (const Chunk& chunk : chunks) {
        CHECK(chunk.flags == audiosim::chunk_noise_floor);
        CHECK(chunk.peak_db == doctest::Approx(-55).epsilon(0.01));
        CHECK(chunk.rms_db > -60);
        CHECK(chunk.rms_db < -55);
    }
}

TEST_CASE("chunk_file: quiet noise that is not steady, or with a loud click, is no noise floor") {
    TempFolder folder;
    std::string path = folder.file("quiet.wav");
    std::vector<float> samples = steady_noise(std::pow(10, -50 / 20.0), 16000 * 2);
    SUBCASE("bursts: 50 ms of noise, 50 ms of nothing") {
        for (size_t i = 0; i < samples.size(); ++i)
            if ((i / 800) % 2 == 1) samples[i] = 0;
    }
    SUBCASE("a click at -20 dBFS") { samples[12345] = 0.1f; }
    write_samples(path, wav_float, 16000, 1, samples);
    auto chunks = audiosim::chunk_file(path, audiosim::preset_profile("whole"));
    REQUIRE(chunks.size() == 1);
    CHECK(chunks[0].flags == 0);
}

TEST_CASE("chunk_file: levels are measured per window") {
    // 1 s of tone, then 3 s of silence: windows at 0, 1 and 2 s.
    TempFolder folder;
    std::string path = folder.file("tone_then_silence.wav");
    std::vector<float> samples(8000 * 4, 0.0f);
    for (int64_t i = 0; i < 8000; ++i) samples[static_cast<size_t>(i)] = sine(0.5, 200, i, 8000);
    write_samples(path, wav_float, 8000, 1, samples);
    auto chunks = audiosim::chunk_file(path, audiosim::preset_profile("sample"));
    REQUIRE(chunks.size() == 3);
    CHECK(chunks[0].flags == 0);
    CHECK(chunks[0].rms_db == doctest::Approx(sine_rms_db - db(std::sqrt(2.0))).epsilon(0.005));  // half the window
    CHECK(chunks[0].peak_db == doctest::Approx(half_db).epsilon(0.005));
    CHECK(has_flag(chunks[1].flags, audiosim::chunk_silent));
    CHECK(has_flag(chunks[2].flags, audiosim::chunk_silent));
    CHECK(chunks[2].start == doctest::Approx(2.0));
}

TEST_CASE("chunk_file: levels are measured per window at rates whose windows fall between 10 ms blocks") {
    // 1 s of tone, then 3 s of digital silence, at 22050 and 11025 Hz: the window from 1 to 3 s
    // holds only zeros, so it is silent, whatever blocks the chunker measures levels in.
    for (int rate : {22050, 11025, 44100}) {
        CAPTURE(rate);
        TempFolder folder;
        std::string path = folder.file("tone_then_silence.wav");
        std::vector<float> samples(static_cast<size_t>(rate) * 4, 0.0f);
        for (int64_t i = 0; i < rate; ++i) samples[static_cast<size_t>(i)] = sine(0.5, 200, i, rate);
        write_samples(path, wav_float, rate, 1, samples);
        auto chunks = audiosim::chunk_file(path, audiosim::preset_profile("sample"));
        REQUIRE(chunks.size() == 3);
        CHECK(chunks[1].start_frame == rate);
        CHECK(chunks[0].rms_db == doctest::Approx(sine_rms_db - db(std::sqrt(2.0))).epsilon(0.005));
        CHECK(has_flag(chunks[1].flags, audiosim::chunk_silent));
        CHECK(chunks[1].rms_db < -60);
        CHECK(chunks[1].peak_db < -60);
        CHECK(has_flag(chunks[2].flags, audiosim::chunk_silent));
    }
}

TEST_CASE("chunk_file: an aligned last window's levels are its own") {
    // 8 kHz, 2 s windows and hop, align: 34010 frames give windows at 0, 16000 and 18010 (the
    // last moved back to end at the end). A tone up to frame 18010, zeros from there: the aligned
    // window holds only zeros.
    TempFolder folder;
    std::string path = folder.file("tone_then_silence.wav");
    std::vector<float> samples(34010, 0.0f);
    for (int64_t i = 0; i < 18010; ++i) samples[static_cast<size_t>(i)] = sine(0.5, 200, i, 8000);
    write_samples(path, wav_float, 8000, 1, samples);
    auto chunks = audiosim::chunk_file(path, profile_of(2, 2, 0.5, LastWindow::align));
    REQUIRE(chunks.size() == 3);
    REQUIRE(chunks[2].start_frame == 18010);
    CHECK(chunks[2].frames == 16000);
    CHECK(chunks[2].peak_db < -60);
    CHECK(chunks[2].rms_db < -60);
    CHECK(has_flag(chunks[2].flags, audiosim::chunk_silent));
    CHECK(chunks[1].flags == 0);
}

TEST_CASE("chunk_file: 8 channels are mixed to mono") {
    TempFolder folder;
    std::string path = folder.file("eight.wav");
    SUBCASE("the same tone in every channel: the levels of one") {
        write_sine(path, wav16, 48000, 8, 48000);
        auto chunks = audiosim::chunk_file(path, audiosim::preset_profile("whole"));
        REQUIRE(chunks.size() == 1);
        CHECK(chunks[0].frames == 48000);
        CHECK(chunks[0].rms_db == doctest::Approx(sine_rms_db).epsilon(0.005));
        CHECK(chunks[0].peak_db == doctest::Approx(half_db).epsilon(0.005));
    }
    SUBCASE("a tone in one channel of 8: an eighth of it") {
        std::vector<float> samples(48000 * 8, 0.0f);
        for (int64_t i = 0; i < 48000; ++i) samples[static_cast<size_t>(i * 8 + 3)] = sine(0.5, 440, i, 48000);
        write_samples(path, wav_float, 48000, 8, samples);
        auto chunks = audiosim::chunk_file(path, audiosim::preset_profile("whole"));
        REQUIRE(chunks.size() == 1);
        CHECK(chunks[0].peak_db == doctest::Approx(half_db - db(8)).epsilon(0.005));  // -24.08 dB
        CHECK(chunks[0].rms_db == doctest::Approx(sine_rms_db - db(8)).epsilon(0.005));
    }
}

TEST_CASE("chunk_file: stereo channels that cancel are silent in the mono mix") {
    TempFolder folder;
    std::string path = folder.file("cancel.wav");
    std::vector<float> samples(44100 * 2);
    for (int64_t i = 0; i < 44100; ++i) {
        float x = sine(0.5, 440, i, 44100);
        samples[static_cast<size_t>(2 * i)] = x;
        samples[static_cast<size_t>(2 * i + 1)] = -x;
    }
    write_samples(path, wav_float, 44100, 2, samples);
    auto chunks = audiosim::chunk_file(path, audiosim::preset_profile("whole"));
    REQUIRE(chunks.size() == 1);
    CHECK(has_flag(chunks[0].flags, audiosim::chunk_silent));
}

TEST_CASE("chunk_file: 192 kHz") {
    TempFolder folder;
    std::string path = folder.file("hires.wav");
    write_sine(path, SF_FORMAT_WAV | SF_FORMAT_PCM_24, 192000, 1, 192000 * 3, 1000);
    auto chunks = audiosim::chunk_file(path, audiosim::preset_profile("sample"));
    REQUIRE(chunks.size() == 2);
    CHECK(chunks[0].start_frame == 0);
    CHECK(chunks[0].frames == 384000);
    CHECK(chunks[1].start_frame == 192000);
    CHECK(chunks[1].start == doctest::Approx(1.0));
    CHECK(chunks[1].duration == doctest::Approx(2.0));
    for (const Chunk& chunk : chunks) {
        CHECK(chunk.flags == 0);
        CHECK(chunk.rms_db == doctest::Approx(sine_rms_db).epsilon(0.005));
    }
}

TEST_CASE("chunk_file: 8-bit unsigned and float WAV") {
    TempFolder folder;
    for (int format : {wav_u8, wav_float, SF_FORMAT_FLAC | SF_FORMAT_PCM_16}) {
        CAPTURE(format);
        std::string path = folder.file(format == wav_u8 ? "u8.wav" : format == wav_float ? "float.wav" : "x.flac");
        write_sine(path, format, 22050, 1, 22050 * 2);
        auto chunks = audiosim::chunk_file(path, audiosim::preset_profile("whole"));
        REQUIRE(chunks.size() == 1);
        CHECK(chunks[0].frames == 44100);
        CHECK(chunks[0].flags == 0);
        CHECK(chunks[0].rms_db == doctest::Approx(sine_rms_db).epsilon(0.02));
        CHECK(chunks[0].peak_db == doctest::Approx(half_db).epsilon(0.02));
    }
}

TEST_CASE("chunk_file: first_seconds measures the first seconds of a long file") {
    // 60 s: a tone for the first 10 s, then silence.
    TempFolder folder;
    std::string path = folder.file("long.wav");
    std::vector<float> samples(8000 * 60, 0.0f);
    for (int64_t i = 0; i < 80000; ++i) samples[static_cast<size_t>(i)] = sine(0.5, 300, i, 8000);
    write_samples(path, wav16, 8000, 1, samples);
    auto chunks = audiosim::chunk_file(path, audiosim::preset_profile("oneshot"));
    REQUIRE(chunks.size() == 1);
    CHECK(chunks[0].start_frame == 0);
    CHECK(chunks[0].frames == 80000);
    CHECK(chunks[0].duration == doctest::Approx(10.0));
    CHECK(chunks[0].flags == 0);
    CHECK(chunks[0].rms_db == doctest::Approx(sine_rms_db).epsilon(0.005));
    // The whole file, for contrast: 1/6 of the energy.
    auto whole = audiosim::chunk_file(path, audiosim::preset_profile("whole"));
    REQUIRE(whole.size() == 1);
    CHECK(whole[0].frames == 8000 * 60);
    CHECK(whole[0].rms_db == doctest::Approx(sine_rms_db - 10 * std::log10(6.0)).epsilon(0.005));
}

TEST_CASE("chunk_file: first_seconds does not decode past the first seconds") {
    // A FLAC file whose second half is garbage: only a reader that goes past the first seconds
    // meets it.
    TempFolder folder;
    std::string path = folder.file("damaged.flac");
    write_sine(path, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 8000, 1, 8000 * 60);
    std::string bytes;
    {
        std::FILE* file = std::fopen(path.c_str(), "rb");
        REQUIRE(file != nullptr);
        char buffer[65536];
        size_t got;
        while ((got = std::fread(buffer, 1, sizeof buffer, file)) > 0) bytes.append(buffer, got);
        std::fclose(file);
    }
    for (size_t i = bytes.size() / 2; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 7919) & 0xff);
    write_bytes(path, bytes);
    auto chunks = audiosim::chunk_file(path, audiosim::preset_profile("oneshot"));
    REQUIRE(chunks.size() == 1);
    CHECK(chunks[0].frames == 80000);
    CHECK(chunks[0].rms_db == doctest::Approx(sine_rms_db).epsilon(0.005));
    // Whereas the whole file meets the damage: a decoding error mid-stream is Error(input).
    auto [kind, message] = error_of([&] { audiosim::chunk_file(path, audiosim::preset_profile("whole")); });
    CHECK(kind == ErrorKind::input);
    CHECK(contains(message, path));
}

TEST_CASE("chunk_file: a file that cannot be decoded is Error(input) naming it") {
    TempFolder folder;
    SUBCASE("garbage") {
        std::string path = folder.file("garbage file.wav");
        write_bytes(path, std::string(4000, 'g'));
        auto [kind, message] = error_of([&] { audiosim::chunk_file(path, audiosim::preset_profile("sample")); });
        CHECK(kind == ErrorKind::input);
        CHECK(contains(message, path));
    }
    SUBCASE("zero bytes") {
        std::string path = folder.file("zero.wav");
        write_bytes(path, "");
        auto [kind, message] = error_of([&] { audiosim::chunk_file(path, audiosim::preset_profile("oneshot")); });
        CHECK(kind == ErrorKind::input);
        CHECK(contains(message, path));
    }
    SUBCASE("missing") {
        std::string path = folder.file("missing.wav");
        auto [kind, message] = error_of([&] { audiosim::chunk_file(path, audiosim::preset_profile("whole")); });
        CHECK(kind == ErrorKind::input);
        CHECK(contains(message, path));
    }
}

TEST_SUITE_END();
