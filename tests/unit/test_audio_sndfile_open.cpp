// lib/audio/sndfile_open: each failed open gets its own reason, whatever other threads open meanwhile.
#include <atomic>
#include <fcntl.h>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <doctest/doctest.h>
#include <sndfile.h>

#include "audio/sndfile_open.hpp"
#include "support.hpp"

using audiosim::open_sndfile;
using audiosim::SndfileOpened;
using audiosim::test::TempFolder;

TEST_CASE("open_sndfile: a good file opens, a text file is an unrecognised format, by path and by descriptor") {
    TempFolder folder;
    std::string good = folder.file("tone.wav"), text = folder.file("text.wav");
    audiosim::test::write_sine(good, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 1, 800);
    audiosim::test::write_bytes(text, "nope");

    SF_INFO info{};
    SndfileOpened opened = open_sndfile(good, info);
    REQUIRE(opened.file);
    CHECK(info.frames == 800);
    CHECK(opened.error_code == SF_ERR_NO_ERROR);

    info = {};
    opened = open_sndfile(text, info);
    CHECK_FALSE(opened.file);
    CHECK(opened.error_code == SF_ERR_UNRECOGNISED_FORMAT);
    CHECK(opened.error_message == "Format not recognised");

    int fd = ::open(text.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    info = {};
    opened = open_sndfile(::dup(fd), info);
    ::close(fd);
    CHECK_FALSE(opened.file);
    CHECK(opened.error_code == SF_ERR_UNRECOGNISED_FORMAT);
}

// Without the lock, a successful open on another thread resets libsndfile's shared error to
// "No Error" between the failed open and the read of its reason: ingest called such files corrupt.
TEST_CASE("open_sndfile: failed opens keep their reason while other threads open good files") {
    TempFolder folder;
    std::string good = folder.file("tone.wav"), text = folder.file("text.wav");
    audiosim::test::write_sine(good, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 1, 800);
    audiosim::test::write_bytes(text, "nope");

    constexpr int rounds = 2000;
    std::atomic<int> wrong_reasons{0}, good_failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            const std::string& path = t % 2 == 0 ? text : good;
            for (int i = 0; i < rounds; ++i) {
                SF_INFO info{};
                SndfileOpened opened = open_sndfile(path, info);
                if (&path == &text && opened.error_code != SF_ERR_UNRECOGNISED_FORMAT) ++wrong_reasons;
                if (&path == &good && !opened.file) ++good_failures;
            }
        });
    for (auto& thread : threads) thread.join();
    CHECK(wrong_reasons == 0);
    CHECK(good_failures == 0);
}
