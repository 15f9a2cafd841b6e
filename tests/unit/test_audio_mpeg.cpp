// lib/audio/mpeg: the length of an MP3 from its headers equals what a full decode through
// libsndfile gives (the count `ingest --verify` records).
#include <cmath>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <doctest/doctest.h>
#include <sndfile.h>

#include "audio/mpeg.hpp"
#include "audio/probe.hpp"
#include "support.hpp"
#include "util/fs.hpp"

using audiosim::MpegLength;
using audiosim::test::TempFolder;
using audiosim::test::write_bytes;
using audiosim::test::write_sine;

namespace {

constexpr int mp3 = SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III;

MpegLength length_of(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    MpegLength length = audiosim::mpeg_length(fd);
    ::close(fd);
    return length;
}

// What --verify counts: every frame libsndfile decodes.
int64_t decoded_frames(const std::string& path) {
    SF_INFO info{};
    SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
    REQUIRE(file != nullptr);
    std::vector<float> buffer(4096 * static_cast<size_t>(info.channels));
    int64_t frames = 0;
    for (sf_count_t got; (got = sf_readf_float(file, buffer.data(), 4096)) > 0;) frames += got;
    sf_close(file);
    return frames;
}

// A constant-bitrate MP3 (its first frame an Info frame) of a half-scale sine.
void write_cbr_mp3(const std::string& path, int rate, int channels, long frames) {
    SF_INFO info{};
    info.samplerate = rate;
    info.channels = channels;
    info.format = mp3;
    SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
    REQUIRE(file != nullptr);
    int mode = SF_BITRATE_MODE_CONSTANT;
    sf_command(file, SFC_SET_BITRATE_MODE, &mode, sizeof mode);  // its return value says nothing (libsndfile 1.2.0)
    std::vector<float> samples(static_cast<size_t>(frames * channels));
    for (size_t i = 0; i < samples.size(); ++i)
        samples[i] = static_cast<float>(0.5 * std::sin(0.06 * static_cast<double>(i / static_cast<size_t>(channels))));
    CHECK(sf_writef_float(file, samples.data(), frames) == frames);
    sf_close(file);
}

// The bytes of an MPEG-1 Layer III frame whose header starts at `at` (libsndfile writes MPEG-1 at 44.1 kHz).
size_t layer3_frame_bytes(const std::string& bytes, size_t at) {
    static const int kbps[15] = {0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320};
    auto b2 = static_cast<unsigned char>(bytes[at + 2]);
    REQUIRE(static_cast<unsigned char>(bytes[at]) == 0xFF);
    return static_cast<size_t>(144 * kbps[b2 >> 4] * 1000 / 44100 + ((b2 >> 1) & 1));
}

}  // namespace

TEST_SUITE_BEGIN("audio/mpeg");

TEST_CASE("the Xing/Info frame count less the LAME delay and padding is the decoded length") {
    TempFolder folder;
    struct Case {
        int rate, channels;
        long frames;
    };
    for (Case c : {Case{44100, 2, 50000}, Case{44100, 1, 44100}, Case{22050, 1, 30000}, Case{22050, 2, 12345}}) {
        CAPTURE(c.rate);
        CAPTURE(c.channels);
        std::string path = folder.file("tone.mp3");
        write_sine(path, mp3, c.rate, c.channels, c.frames);
        MpegLength length = length_of(path);
        CHECK(length.source == "xing");
        CHECK(length.frames == c.frames);
        CHECK(length.frames == decoded_frames(path));
    }
}

TEST_CASE("without an Info frame the frames are walked: ID3v2 before, a tag and zeros after") {
    TempFolder folder;
    std::string path = folder.file("tone.mp3");
    write_cbr_mp3(path, 44100, 2, 44100);
    std::string bytes = audiosim::read_text_file(path);
    REQUIRE(bytes.substr(36, 4) == "Info");
    std::string stream = bytes.substr(layer3_frame_bytes(bytes, 0));  // the Info frame dropped
    // An ID3v2.4 tag of 20 bytes (syncsafe size), with 0xFF bytes in it that are no frame.
    std::string id3 = std::string("ID3\x04\x00\x00\x00\x00\x00\x14", 10) + std::string(20, '\xff');
    std::string trailer = "TAG" + std::string(125, 'x') + std::string(300, '\0');
    write_bytes(path, id3 + stream + trailer);
    MpegLength length = length_of(path);
    CHECK(length.source == "frames");
    CHECK(length.frames == decoded_frames(path));
    CHECK(length.frames % 1152 == 0);
    CHECK(length.frames > 44100);  // the encoder delay and padding are decoded: no LAME tag says to trim them
}

TEST_CASE("a cut stream: a stated count that the file cannot hold is walked instead") {
    TempFolder folder;
    std::string path = folder.file("cut.mp3");
    write_sine(path, mp3, 44100, 2, 88200);
    std::string bytes = audiosim::read_text_file(path);
    for (double fraction : {0.3, 0.61, 0.97}) {
        CAPTURE(fraction);
        write_bytes(path, bytes.substr(0, static_cast<size_t>(static_cast<double>(bytes.size()) * fraction)));
        MpegLength length = length_of(path);
        CHECK(length.source == "frames");
        CHECK(length.frames == decoded_frames(path));
    }
}

TEST_CASE("damage past which no frame follows within 64 KiB leaves the length unknown") {
    TempFolder folder;
    std::string path = folder.file("damaged.mp3");
    write_sine(path, mp3, 44100, 1, 20000);
    std::string bytes = audiosim::read_text_file(path);
    std::string stream = bytes.substr(layer3_frame_bytes(bytes, 0));
    write_bytes(path, stream.substr(0, 2000) + std::string(70000, 'j') + stream.substr(2000));
    CHECK(length_of(path).source == "");
    CHECK(length_of(path).frames == 0);
    write_bytes(path, "not an mp3 at all");
    CHECK(length_of(path).source == "");
}

TEST_CASE("probe records the exact MP3 length without --verify, and marks an unknown one estimated") {
    TempFolder folder;
    std::string path = folder.file("tone.mp3");
    write_sine(path, mp3, 22050, 1, 30000);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    audiosim::ProbeResult quick = audiosim::probe_audio(fd, {});
    audiosim::ProbeResult verified = audiosim::probe_audio(fd, {true, false});
    ::close(fd);
    CHECK(quick.status == audiosim::FileStatus::ok);
    CHECK(quick.info.frames == 30000);
    CHECK(quick.info.frames == verified.info.frames);
    CHECK_FALSE(quick.info.frames_estimated);
    CHECK(quick.warning == "");

    write_cbr_mp3(path, 44100, 1, 30000);  // damaged past a walk, and no Info frame to say the length
    std::string bytes = audiosim::read_text_file(path);
    std::string stream = bytes.substr(layer3_frame_bytes(bytes, 0));
    write_bytes(path, stream.substr(0, 2000) + std::string(70000, 'j') + stream.substr(2000));
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    audiosim::ProbeResult damaged = audiosim::probe_audio(fd, {});
    ::close(fd);
    CHECK(damaged.status == audiosim::FileStatus::ok);
    CHECK(damaged.info.frames_estimated);
}

TEST_CASE("a VBR stream without its Xing frame: libsndfile decodes only its estimate, and probe says so") {
    TempFolder folder;
    std::string path = folder.file("vbr.mp3");
    write_sine(path, mp3, 44100, 2, 44100);  // libsndfile writes VBR by default
    std::string bytes = audiosim::read_text_file(path);
    REQUIRE(bytes.substr(36, 4) == "Xing");
    write_bytes(path, bytes.substr(layer3_frame_bytes(bytes, 0)));
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    audiosim::ProbeResult probe = audiosim::probe_audio(fd, {});
    ::close(fd);
    MpegLength walked = length_of(path);
    CHECK(walked.source == "frames");
    int64_t decoded = decoded_frames(path);
    CHECK(decoded < walked.frames);  // libsndfile stops at its estimate from the first frame's bitrate
    CHECK(probe.info.frames == decoded);
    CHECK(probe.warning == "short decode: libsndfile decodes " + std::to_string(decoded) + " of the stream's " +
                               std::to_string(walked.frames) +
                               " frames (it reads a VBR MP3 without a Xing header only as far as its length estimate)");
}

TEST_SUITE_END();
