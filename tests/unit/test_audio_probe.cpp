// lib/audio/probe: what libsndfile says about a file, without decoding it whole (unless verifying).
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <doctest/doctest.h>
#include <sndfile.h>

#include "audio/probe.hpp"
#include "support.hpp"

using audiosim::FileStatus;
using audiosim::ProbeResult;
using audiosim::test::TempFolder;
using audiosim::test::write_bytes;
using audiosim::test::write_sine;

namespace {

ProbeResult probe_file(const std::string& path, bool verify = false, bool strict = false) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    ProbeResult result = audiosim::probe_audio(fd, {verify, strict});
    ::close(fd);
    return result;
}

int64_t file_size(const std::string& path) {
    struct stat st;
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return static_cast<int64_t>(st.st_size);
}

void put_u16(std::string& bytes, uint16_t value) {
    bytes += static_cast<char>(value & 0xff);
    bytes += static_cast<char>(value >> 8);
}

void put_u32(std::string& bytes, uint32_t value) {
    for (int shift = 0; shift < 32; shift += 8) bytes += static_cast<char>((value >> shift) & 0xff);
}

// A canonical 44-byte-header WAV, built by hand rather than by libsndfile.
std::string handmade_wav(uint16_t format_tag, uint16_t channels, uint32_t rate, uint16_t bits,
                         const std::string& data, uint32_t claimed_data_size) {
    std::string bytes = "RIFF";
    put_u32(bytes, 36 + claimed_data_size);
    bytes += "WAVEfmt ";
    put_u32(bytes, 16);
    put_u16(bytes, format_tag);
    put_u16(bytes, channels);
    put_u32(bytes, rate);
    uint16_t block_align = static_cast<uint16_t>(channels * bits / 8);
    put_u32(bytes, rate * block_align);
    put_u16(bytes, block_align);
    put_u16(bytes, bits);
    bytes += "data";
    put_u32(bytes, claimed_data_size);
    return bytes + data;
}

void check_ok(const ProbeResult& result, const char* container, const char* codec, uint32_t rate, uint32_t channels,
              int64_t frames) {
    CHECK(result.status == FileStatus::ok);
    CHECK(result.error == "");
    CHECK(result.info.container == container);
    CHECK(result.info.codec == codec);
    CHECK(result.info.sample_rate == rate);
    CHECK(result.info.channels == channels);
    CHECK(result.info.frames == frames);
    CHECK(result.info.duration == doctest::Approx(static_cast<double>(frames) / rate));
}

}  // namespace

TEST_SUITE_BEGIN("audio/probe");

TEST_CASE("PCM WAV variants") {
    TempFolder folder;
    std::string path = folder.file("a.wav");
    SUBCASE("16-bit") {
        write_sine(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 2, 10000);
        check_ok(probe_file(path), "WAV", "PCM_16", 44100, 2, 10000);
    }
    SUBCASE("24-bit") {
        write_sine(path, SF_FORMAT_WAV | SF_FORMAT_PCM_24, 48000, 1, 7000);
        check_ok(probe_file(path), "WAV", "PCM_24", 48000, 1, 7000);
    }
    SUBCASE("32-bit float") {
        write_sine(path, SF_FORMAT_WAV | SF_FORMAT_FLOAT, 22050, 1, 5000);
        check_ok(probe_file(path), "WAV", "FLOAT", 22050, 1, 5000);
    }
    SUBCASE("8-bit unsigned") {
        write_sine(path, SF_FORMAT_WAV | SF_FORMAT_PCM_U8, 8000, 1, 3000);
        check_ok(probe_file(path), "WAV", "PCM_U8", 8000, 1, 3000);
    }
    SUBCASE("8 channels") {
        write_sine(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 48000, 8, 4800);
        check_ok(probe_file(path), "WAV", "PCM_16", 48000, 8, 4800);
    }
    SUBCASE("192 kHz") {
        write_sine(path, SF_FORMAT_WAV | SF_FORMAT_PCM_24, 192000, 2, 19200);
        check_ok(probe_file(path), "WAV", "PCM_24", 192000, 2, 19200);
        CHECK(probe_file(path).info.duration == doctest::Approx(0.1));
    }
    SUBCASE("exactly one sample") {
        write_sine(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, 1);
        check_ok(probe_file(path), "WAV", "PCM_16", 16000, 1, 1);
        check_ok(probe_file(path, true), "WAV", "PCM_16", 16000, 1, 1);
    }
    SUBCASE("a block and a bit (the tail check starts after the first block)") {
        write_sine(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, 4097);
        check_ok(probe_file(path), "WAV", "PCM_16", 16000, 1, 4097);
    }
}

TEST_CASE("other containers: FLAC, AIFF, OGG Vorbis, OGG Opus") {
    TempFolder folder;
    SUBCASE("FLAC") {
        std::string path = folder.file("a.flac");
        write_sine(path, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 44100, 2, 20000);
        check_ok(probe_file(path), "FLAC", "PCM_16", 44100, 2, 20000);
        check_ok(probe_file(path, true), "FLAC", "PCM_16", 44100, 2, 20000);
    }
    SUBCASE("AIFF") {
        std::string path = folder.file("a.aiff");
        write_sine(path, SF_FORMAT_AIFF | SF_FORMAT_PCM_16, 32000, 1, 3200);
        check_ok(probe_file(path), "AIFF", "PCM_16", 32000, 1, 3200);
    }
    SUBCASE("OGG Vorbis") {
        std::string path = folder.file("a.ogg");
        write_sine(path, SF_FORMAT_OGG | SF_FORMAT_VORBIS, 44100, 2, 44100);
        check_ok(probe_file(path), "OGG", "VORBIS", 44100, 2, 44100);
        check_ok(probe_file(path, true), "OGG", "VORBIS", 44100, 2, 44100);
    }
    SUBCASE("OGG Opus") {
        std::string path = folder.file("a.opus");
        write_sine(path, SF_FORMAT_OGG | SF_FORMAT_OPUS, 48000, 1, 48000);
        ProbeResult result = probe_file(path, true);
        CHECK(result.status == FileStatus::ok);
        CHECK(result.info.container == "OGG");
        CHECK(result.info.codec == "OPUS");
        CHECK(result.info.sample_rate == 48000);
        CHECK(result.info.frames == 48000);
    }
}

TEST_CASE("a file of 0 frames (a header only) is ok with no frames") {
    TempFolder folder;
    std::string path = folder.file("empty.wav");
    write_sine(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 1, 0);
    REQUIRE(file_size(path) > 0);
    for (bool verify : {false, true}) {
        CAPTURE(verify);
        ProbeResult result = probe_file(path, verify);
        CHECK(result.status == FileStatus::ok);
        CHECK(result.info.frames == 0);
        CHECK(result.info.duration == 0);
        CHECK(result.info.sample_rate == 44100);
    }
}

TEST_CASE("a hand-made WAV is read from its header") {
    TempFolder folder;
    std::string path = folder.file("hand.wav");
    std::string data(2 * 2 * 1234, '\0');  // 1234 frames of 16-bit stereo silence
    write_bytes(path, handmade_wav(1, 2, 11025, 16, data, static_cast<uint32_t>(data.size())));
    check_ok(probe_file(path), "WAV", "PCM_16", 11025, 2, 1234);
    check_ok(probe_file(path, true), "WAV", "PCM_16", 11025, 2, 1234);
}

TEST_CASE("garbage bytes are not_audio") {
    TempFolder folder;
    std::string path = folder.file("notes.wav");
    std::string text;
    for (int i = 0; i < 200; ++i) text += "this is a text file, not audio\n";
    write_bytes(path, text);
    for (bool verify : {false, true}) {
        ProbeResult result = probe_file(path, verify);
        CHECK(result.status == FileStatus::not_audio);
        CHECK(result.error != "");
        CHECK(result.error.find('\n') == std::string::npos);
    }
}

TEST_CASE("the caller's descriptor stays open when libsndfile cannot open the file (found by fuzzing)") {
    // libsndfile 1.2.0 closes it on a failed sf_open_fd even when told not to; ingest closes it
    // after probing, and a second close may hit another thread's file.
    TempFolder folder;
    std::string path = folder.file("notes.txt");
    write_bytes(path, "not audio at all\n");
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    CHECK(audiosim::probe_audio(fd, {}).status == FileStatus::not_audio);
    CHECK(::fcntl(fd, F_GETFD) != -1);
    CHECK(::close(fd) == 0);
}

TEST_CASE("a WAV header with a channel count of 0 is corrupt") {
    TempFolder folder;
    std::string path = folder.file("bad.wav");
    std::string data(400, '\0');
    write_bytes(path, handmade_wav(1, 0, 8000, 16, data, static_cast<uint32_t>(data.size())));
    ProbeResult result = probe_file(path);
    CHECK(result.status == FileStatus::corrupt);
    CHECK(result.error != "");
}

TEST_CASE("a WAV with an unknown format tag fails as not_audio or corrupt") {
    // libsndfile reports an unknown WAV format tag as a malformed 'fmt ' chunk, not as an
    // unsupported encoding, so probe cannot tell "cannot decode" from "malformed" here.
    TempFolder folder;
    std::string path = folder.file("odd.wav");
    std::string data(400, '\0');
    write_bytes(path, handmade_wav(0x4242, 1, 8000, 16, data, static_cast<uint32_t>(data.size())));
    ProbeResult result = probe_file(path);
    CHECK((result.status == FileStatus::not_audio || result.status == FileStatus::corrupt));
    CHECK(result.error != "");
}

namespace {

// A cut data chunk: ok, the frames that are there, a one-line "truncated" warning; strict refuses it.
void check_cut(const std::string& path, int64_t frames_present) {
    for (bool verify : {false, true}) {
        ProbeResult result = probe_file(path, verify);
        CHECK(result.status == FileStatus::ok);
        CHECK(result.error == "");
        CHECK(result.info.frames == frames_present);
        CHECK(result.warning.rfind("truncated: data chunk declares ", 0) == 0);
        CHECK(result.warning.find('\n') == std::string::npos);
        ProbeResult strict = probe_file(path, verify, true);
        CHECK(strict.status == FileStatus::truncated);
        CHECK(strict.error.rfind("data chunk declares ", 0) == 0);
    }
}

}  // namespace

TEST_CASE("a WAV or AIFF whose data chunk is cut short is read as far as it goes, with a warning") {
    TempFolder folder;
    SUBCASE("WAV, cut in the middle of a frame") {
        std::string path = folder.file("cut.wav");
        write_sine(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 1, 10000);
        REQUIRE(::truncate(path.c_str(), file_size(path) - 5001) == 0);
        check_cut(path, 10000 - 2501);  // the half sample at the cut is not a frame
    }
    SUBCASE("WAV, cut at a frame boundary") {
        std::string path = folder.file("cut.wav");
        write_sine(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 16000, 2, 10000);
        REQUIRE(::truncate(path.c_str(), file_size(path) - 4 * 100) == 0);
        check_cut(path, 10000 - 100);
    }
    SUBCASE("AIFF") {
        std::string path = folder.file("cut.aiff");
        write_sine(path, SF_FORMAT_AIFF | SF_FORMAT_PCM_16, 8000, 1, 8000);
        REQUIRE(::truncate(path.c_str(), file_size(path) - 3001) == 0);
        check_cut(path, 8000 - 1501);
    }
}

TEST_CASE("a hand-made WAV whose header claims more data than present is read as far as it goes") {
    TempFolder folder;
    std::string path = folder.file("claims.wav");
    std::string data(2 * 300, '\0');
    write_bytes(path, handmade_wav(1, 1, 8000, 16, data, 2 * 100000));
    check_cut(path, 300);
}

TEST_CASE("implausible headers are corrupt with a one-line cause, not hours of audio") {
    TempFolder folder;
    std::string path = folder.file("odd.wav");
    SUBCASE("1 Hz, 44,100 frames: 12 hours of audio by its header") {
        std::string data(2 * 44100, '\0');
        write_bytes(path, handmade_wav(1, 1, 1, 16, data, static_cast<uint32_t>(data.size())));
        ProbeResult result = probe_file(path);
        CHECK(result.status == FileStatus::corrupt);
        CHECK(result.error == "implausible header: 1 Hz (audio is 1000 Hz to 768 kHz)");
    }
    SUBCASE("100 channels") {
        std::string data(2 * 100 * 10, '\0');
        write_bytes(path, handmade_wav(1, 100, 8000, 16, data, static_cast<uint32_t>(data.size())));
        ProbeResult result = probe_file(path);
        CHECK(result.status == FileStatus::corrupt);
        CHECK(result.error == "implausible header: 100 channels (audio has 1 to 64)");
    }
    SUBCASE("the limits themselves are audio") {
        CHECK(audiosim::implausible_format(1000, 1) == "");
        CHECK(audiosim::implausible_format(768000, 64) == "");
        CHECK(audiosim::implausible_format(999, 1) != "");
        CHECK(audiosim::implausible_format(768001, 1) != "");
        CHECK(audiosim::implausible_format(44100, 65) != "");
        CHECK(audiosim::implausible_format(44100, 0) != "");
    }
}

TEST_CASE("a streamed WAV (data size 0xFFFFFFFF: unknown) is not truncated") {
    TempFolder folder;
    std::string path = folder.file("streamed.wav");
    std::string data(2 * 300, '\0');
    std::string bytes = handmade_wav(1, 1, 8000, 16, data, 0xFFFFFFFFu);
    bytes.replace(4, 4, std::string(4, '\xff'));  // the RIFF size is unknown too
    write_bytes(path, bytes);
    ProbeResult result = probe_file(path, true);
    CHECK(result.status == FileStatus::ok);
    CHECK(result.info.frames == 300);
}

TEST_CASE("a FLAC cut short is truncated or corrupt, never ok") {
    TempFolder folder;
    std::string path = folder.file("cut.flac");
    write_sine(path, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 44100, 2, 88200);
    REQUIRE(::truncate(path.c_str(), file_size(path) / 2) == 0);
    for (bool verify : {false, true}) {
        CAPTURE(verify);
        ProbeResult result = probe_file(path, verify);
        CHECK((result.status == FileStatus::truncated || result.status == FileStatus::corrupt));
        CHECK(result.error != "");
    }
}

TEST_CASE("an Ogg stream cut short is truncated or corrupt, and probing it ends") {
    TempFolder folder;
    SUBCASE("Vorbis") {
        std::string path = folder.file("cut.ogg");
        write_sine(path, SF_FORMAT_OGG | SF_FORMAT_VORBIS, 44100, 2, 88200);
        REQUIRE(::truncate(path.c_str(), file_size(path) / 2) == 0);
        for (bool verify : {false, true}) {
            CAPTURE(verify);
            ProbeResult result = probe_file(path, verify);
            CHECK((result.status == FileStatus::truncated || result.status == FileStatus::corrupt));
        }
    }
    SUBCASE("Opus") {
        std::string path = folder.file("cut.opus");
        write_sine(path, SF_FORMAT_OGG | SF_FORMAT_OPUS, 48000, 1, 96000);
        REQUIRE(::truncate(path.c_str(), file_size(path) / 2) == 0);
        for (bool verify : {false, true}) {
            CAPTURE(verify);
            ProbeResult result = probe_file(path, verify);
            CHECK((result.status == FileStatus::truncated || result.status == FileStatus::corrupt));
        }
    }
}

TEST_CASE("verify counts the frames by decoding them") {
    TempFolder folder;
    std::string path = folder.file("v.flac");
    write_sine(path, SF_FORMAT_FLAC | SF_FORMAT_PCM_24, 48000, 1, 12345);
    ProbeResult result = probe_file(path, true);
    CHECK(result.status == FileStatus::ok);
    CHECK(result.info.frames == 12345);
    CHECK(result.info.codec == "PCM_24");
}

TEST_CASE("probe reads from offset 0 whatever the fd's offset") {
    TempFolder folder;
    std::string path = folder.file("a.wav");
    write_sine(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 1, 800);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(::lseek(fd, 0, SEEK_END) > 0);
    ProbeResult result = audiosim::probe_audio(fd, {});
    ::close(fd);
    check_ok(result, "WAV", "PCM_16", 8000, 1, 800);
}

TEST_CASE("an unseekable fd (a pipe) is unreadable") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    REQUIRE(::write(fds[1], "RIFF", 4) == 4);
    ::close(fds[1]);
    ProbeResult result = audiosim::probe_audio(fds[0], {});
    ::close(fds[0]);
    CHECK(result.status == FileStatus::unreadable);
    CHECK(result.error != "");
}

TEST_CASE("audio_extensions: sorted, lowercase, the common ones, not raw") {
    const auto& extensions = audiosim::audio_extensions();
    CHECK(std::is_sorted(extensions.begin(), extensions.end()));
    CHECK(std::adjacent_find(extensions.begin(), extensions.end()) == extensions.end());
    auto has = [&](const std::string& e) { return std::binary_search(extensions.begin(), extensions.end(), e); };
    for (const char* e : {"wav", "flac", "mp3", "opus", "ogg", "aiff"}) {
        CAPTURE(e);
        CHECK(has(e));
    }
    CHECK_FALSE(has("raw"));
    CHECK_FALSE(has("txt"));
    for (const auto& e : extensions) {
        CAPTURE(e);
        CHECK(e.find('.') == std::string::npos);
        CHECK(std::none_of(e.begin(), e.end(), [](unsigned char c) { return std::isupper(c); }));
    }
}

TEST_CASE("file_status_names are indexed by value") {
    auto names = audiosim::file_status_names();
    REQUIRE(names.size() == 7);
    CHECK(names[static_cast<size_t>(FileStatus::ok)] == "ok");
    CHECK(names[static_cast<size_t>(FileStatus::truncated)] == "truncated");
    CHECK(names[static_cast<size_t>(FileStatus::vanished)] == "vanished");
    for (size_t i = 0; i < names.size(); ++i)
        CHECK(names[i] == audiosim::file_status_name(static_cast<FileStatus>(i)));
}

TEST_CASE("libsndfile_version names libsndfile") {
    CHECK(audiosim::libsndfile_version().find("libsndfile") != std::string::npos);
}

TEST_SUITE_END();
