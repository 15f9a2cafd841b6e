// lib/audio/decode: MonoReader streams a file block by block, its channels averaged to mono.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <sys/stat.h>

#include <doctest/doctest.h>
#include <sndfile.h>

#include "audio/decode.hpp"
#include "support.hpp"
#include "util/error.hpp"

using audiosim::ErrorKind;
using audiosim::MonoReader;
using audiosim::MonoRecording;
using audiosim::RecordingCache;
using audiosim::test::contains;
using audiosim::test::error_of;
using audiosim::test::TempFolder;
using audiosim::test::write_bytes;
using audiosim::test::write_sine;

using audiosim::test::write_samples;

namespace {

constexpr int wav_float = SF_FORMAT_WAV | SF_FORMAT_FLOAT;

// A signal with no repeats, so that a misplaced block shows.
float signal_at(size_t i) {
    return static_cast<float>(0.8 * std::sin(0.013 * static_cast<double>(i)) * std::cos(0.0007 * static_cast<double>(i)));
}

// Reads the whole file in blocks of the given sizes (cycled).
std::vector<float> read_all(MonoReader& reader, const std::vector<size_t>& sizes) {
    std::vector<float> all, block;
    for (size_t n = 0;; ++n) {
        size_t want = sizes[n % sizes.size()];
        size_t got = reader.read(want, block);
        CHECK(got <= want);
        CHECK(block.size() == got);
        if (got == 0) break;
        all.insert(all.end(), block.begin(), block.end());
    }
    return all;
}

}  // namespace

TEST_SUITE_BEGIN("audio/decode");

TEST_CASE("a mono file is read as it is") {
    TempFolder folder;
    std::string path = folder.file("mono.wav");
    std::vector<float> samples(5000);
    for (size_t i = 0; i < samples.size(); ++i) samples[i] = signal_at(i);
    write_samples(path, wav_float, 32000, 1, samples);
    MonoReader reader(path);
    CHECK(reader.sample_rate() == 32000);
    CHECK(reader.channels() == 1);
    std::vector<float> all = read_all(reader, {1024});
    CHECK(all == samples);
}

TEST_CASE("channels are averaged") {
    TempFolder folder;
    std::string path = folder.file("stereo.wav");
    SUBCASE("left only: half of it") {
        std::vector<float> samples(2 * 3000);
        for (size_t i = 0; i < 3000; ++i) {
            samples[2 * i] = signal_at(i);
            samples[2 * i + 1] = 0;
        }
        write_samples(path, wav_float, 44100, 2, samples);
        MonoReader reader(path);
        CHECK(reader.channels() == 2);
        std::vector<float> all = read_all(reader, {4096});
        REQUIRE(all.size() == 3000);
        for (size_t i = 0; i < all.size(); ++i) {
            CAPTURE(i);
            CHECK(all[i] == doctest::Approx(0.5 * signal_at(i)).epsilon(1e-6));
        }
    }
    SUBCASE("8 channels of different content") {
        constexpr size_t channels = 8, frames = 2000;
        std::vector<float> samples(channels * frames);
        for (size_t i = 0; i < frames; ++i)
            for (size_t c = 0; c < channels; ++c) samples[i * channels + c] = signal_at(i * 3 + c * 1000) * 0.9f;
        write_samples(path, wav_float, 48000, static_cast<int>(channels), samples);
        MonoReader reader(path);
        CHECK(reader.channels() == channels);
        std::vector<float> all = read_all(reader, {333});
        REQUIRE(all.size() == frames);
        for (size_t i = 0; i < frames; ++i) {
            double sum = 0;
            for (size_t c = 0; c < channels; ++c) sum += samples[i * channels + c];
            CAPTURE(i);
            CHECK(all[i] == doctest::Approx(sum / channels).epsilon(1e-5));
        }
    }
    SUBCASE("opposite channels cancel") {
        std::vector<float> samples(2 * 1000);
        for (size_t i = 0; i < 1000; ++i) {
            samples[2 * i] = signal_at(i);
            samples[2 * i + 1] = -signal_at(i);
        }
        write_samples(path, wav_float, 8000, 2, samples);
        MonoReader reader(path);
        for (float x : read_all(reader, {100})) CHECK(x == 0.0f);
    }
}

TEST_CASE("blocks of any size concatenate to the whole signal, then 0 at the end") {
    TempFolder folder;
    std::string path = folder.file("stereo.wav");
    constexpr size_t frames = 20011;
    std::vector<float> samples(2 * frames), expected(frames);
    for (size_t i = 0; i < frames; ++i) {
        samples[2 * i] = signal_at(i);
        samples[2 * i + 1] = signal_at(i + 7);
        expected[i] = (samples[2 * i] + samples[2 * i + 1]) / 2;
    }
    write_samples(path, wav_float, 22050, 2, samples);
    for (const std::vector<size_t>& sizes :
         {std::vector<size_t>{1}, {7, 1000, 3}, {65536}, {frames}, {frames - 1}, {frames + 1}, {4096, 1, 13}}) {
        CAPTURE(sizes.front());
        MonoReader reader(path);
        std::vector<float> all = read_all(reader, sizes);
        REQUIRE(all.size() == frames);
        for (size_t i = 0; i < frames; ++i)
            if (std::fabs(all[i] - expected[i]) > 1e-6f) {
                CAPTURE(i);
                CHECK(all[i] == doctest::Approx(expected[i]));
                break;
            }
        // Still 0 on further reads, with an empty block.
        std::vector<float> block(10, 1.0f);
        CHECK(reader.read(100, block) == 0);
        CHECK(block.empty());
    }
}

TEST_CASE("a block read replaces the vector's contents") {
    TempFolder folder;
    std::string path = folder.file("mono.wav");
    write_sine(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 1, 100);
    MonoReader reader(path);
    std::vector<float> block(500, 9.0f);
    CHECK(reader.read(30, block) == 30);
    CHECK(block.size() == 30);
    CHECK(reader.read(1000, block) == 70);
    CHECK(block.size() == 70);
    for (float x : block) CHECK(std::fabs(x) <= 0.5f + 1e-4f);
}

TEST_CASE("a file of zero frames reads 0 at once") {
    TempFolder folder;
    std::string path = folder.file("empty.wav");
    write_samples(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 2, {});
    MonoReader reader(path);
    CHECK(reader.sample_rate() == 8000);
    CHECK(reader.channels() == 2);
    std::vector<float> block;
    CHECK(reader.read(1024, block) == 0);
    CHECK(block.empty());
}

TEST_CASE("integer formats are scaled to [-1, 1]") {
    TempFolder folder;
    for (int format : {SF_FORMAT_WAV | SF_FORMAT_PCM_U8, SF_FORMAT_WAV | SF_FORMAT_PCM_16, SF_FORMAT_WAV | SF_FORMAT_PCM_24,
                       SF_FORMAT_FLAC | SF_FORMAT_PCM_16}) {
        CAPTURE(format);
        std::string path = folder.file("f" + std::to_string(format) + ((format & SF_FORMAT_FLAC) ? ".flac" : ".wav"));
        write_sine(path, format, 16000, 1, 16000, 100);
        MonoReader reader(path);
        std::vector<float> all = read_all(reader, {4000});
        REQUIRE(all.size() == 16000);
        float peak = 0;
        for (float x : all) peak = std::max(peak, std::fabs(x));
        CHECK(peak == doctest::Approx(0.5).epsilon(0.02));
    }
}

TEST_CASE("a file that cannot be opened is Error(input) naming it") {
    TempFolder folder;
    SUBCASE("garbage") {
        std::string path = folder.file("not audio.wav");
        write_bytes(path, std::string(3000, 'x'));
        auto [kind, message] = error_of([&] { MonoReader reader(path); });
        CHECK(kind == ErrorKind::input);
        CHECK(contains(message, path));
    }
    SUBCASE("zero bytes") {
        std::string path = folder.file("zero.wav");
        write_bytes(path, "");
        auto [kind, message] = error_of([&] { MonoReader reader(path); });
        CHECK(kind == ErrorKind::input);
        CHECK(contains(message, path));
    }
    SUBCASE("a FIFO, refused before it is opened (opening it would block)") {
        std::string path = folder.file("pipe.wav");
        REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
        auto [kind, message] = error_of([&] { MonoReader reader(path); });
        CHECK(kind == ErrorKind::input);
        CHECK(message == path + ": is a FIFO, not a regular file");
    }
    SUBCASE("missing") {
        std::string path = folder.file("missing.flac");
        auto [kind, message] = error_of([&] { MonoReader reader(path); });
        CHECK(kind == ErrorKind::input);
        CHECK(contains(message, path));
    }
    SUBCASE("a folder") {
        auto [kind, message] = error_of([&] { MonoReader reader(folder.path()); });
        CHECK(kind == ErrorKind::input);
        CHECK(contains(message, folder.path()));
    }
}

// A stereo float file of `frames` frames of signal_at; returns its path.
std::string write_stereo(TempFolder& folder, size_t frames) {
    std::string path = folder.file("stereo.wav");
    std::vector<float> samples(2 * frames);
    for (size_t i = 0; i < frames; ++i) {
        samples[2 * i] = signal_at(i);
        samples[2 * i + 1] = signal_at(i + 11);
    }
    write_samples(path, wav_float, 44100, 2, samples);
    return path;
}

TEST_CASE("a recording is what one pass from the start read, and reads, seeks and ends like the file") {
    TempFolder folder;
    constexpr size_t frames = 20011;
    std::string path = write_stereo(folder, frames);
    MonoReader recorder(path);
    recorder.record(frames);
    std::vector<float> read = read_all(recorder, {7, 1000, 3});
    std::shared_ptr<const MonoRecording> recording = recorder.recording();
    REQUIRE(recording);
    CHECK(recording->sample_rate == 44100);
    CHECK(recording->channels == 2);
    CHECK(recording->samples == read);  // the same bits

    MonoReader file(path), memory(path, recording);
    CHECK(memory.sample_rate() == 44100);
    CHECK(memory.channels() == 2);
    CHECK(read_all(memory, {65536}) == read_all(file, {4096, 1, 13}));
    for (int64_t frame : {int64_t{0}, int64_t{1}, int64_t{12345}, static_cast<int64_t>(frames)}) {
        CAPTURE(frame);
        file.seek(frame);
        memory.seek(frame);
        CHECK(read_all(memory, {333}) == read_all(file, {333}));
    }
    auto [kind, message] = error_of([&] { memory.seek(static_cast<int64_t>(frames) + 1); });
    CHECK(kind == ErrorKind::input);
    CHECK(contains(message, path));
}

TEST_CASE("a recording is kept only of a whole pass from the start, within its limit") {
    TempFolder folder;
    constexpr size_t frames = 5000;
    std::string path = write_stereo(folder, frames);
    std::vector<float> block;
    SUBCASE("exactly the limit: kept") {
        MonoReader reader(path);
        reader.record(frames);
        read_all(reader, {4096});
        CHECK(reader.recording());
    }
    SUBCASE("one frame over the limit: not kept") {
        MonoReader reader(path);
        reader.record(frames - 1);
        read_all(reader, {4096});
        CHECK_FALSE(reader.recording());
    }
    SUBCASE("not read to the end: not kept") {
        MonoReader reader(path);
        reader.record(frames);
        CHECK(reader.read(frames, block) == frames);  // every frame, but the end not yet seen
        CHECK_FALSE(reader.recording());
    }
    SUBCASE("a seek: not kept") {
        MonoReader reader(path);
        reader.record(frames);
        reader.read(100, block);
        reader.seek(0);
        read_all(reader, {4096});
        CHECK_FALSE(reader.recording());
    }
    SUBCASE("never asked for: none") {
        MonoReader reader(path);
        read_all(reader, {4096});
        CHECK_FALSE(reader.recording());
    }
}

TEST_CASE("RecordingCache keeps recordings up to its budget; take hands one over once and frees its room") {
    auto recording_of = [](size_t samples) {
        auto recording = std::make_shared<MonoRecording>();
        recording->samples.assign(samples, 0.5f);
        recording->samples.shrink_to_fit();
        return std::shared_ptr<const MonoRecording>(recording);
    };
    RecordingCache cache(1000 * sizeof(float));
    auto first = recording_of(600);
    CHECK(cache.put(1, first));
    CHECK_FALSE(cache.put(2, recording_of(401)));  // over the budget: not kept
    CHECK_FALSE(cache.put(1, recording_of(10)));   // one per key
    CHECK(cache.put(3, recording_of(400)));
    CHECK(cache.take(2) == nullptr);
    CHECK(cache.take(1) == first);
    CHECK(cache.take(1) == nullptr);
    CHECK(cache.put(4, recording_of(600)));  // the room of the one taken
}

TEST_SUITE_END();
