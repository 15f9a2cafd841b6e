// lib/util/system: glob matching, timestamps, process facts.
#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "util/system.hpp"

TEST_SUITE_BEGIN("util/system");

TEST_CASE("glob_match: '*' and '?' do not cross '/'") {
    CHECK(audiosim::glob_match("*.wav", "kick.wav"));
    CHECK_FALSE(audiosim::glob_match("*.wav", "drums/kick.wav"));
    CHECK(audiosim::glob_match("*/*.wav", "drums/kick.wav"));
    CHECK_FALSE(audiosim::glob_match("*/*.wav", "a/b/kick.wav"));
    CHECK_FALSE(audiosim::glob_match("a?b", "a/b"));
    CHECK(audiosim::glob_match("a?b", "axb"));
    CHECK(audiosim::glob_match("drums/*", "drums/kick.wav"));
}

TEST_CASE("glob_match: a leading dot needs an explicit match") {
    CHECK_FALSE(audiosim::glob_match("*", ".hidden"));
    CHECK_FALSE(audiosim::glob_match("?hidden", ".hidden"));
    CHECK(audiosim::glob_match(".*", ".hidden"));
    CHECK_FALSE(audiosim::glob_match("a/*", "a/.hidden"));  // after a '/' too
    CHECK(audiosim::glob_match("a/.*", "a/.hidden"));
    CHECK(audiosim::glob_match("*", "not.hidden"));
}

TEST_CASE("glob_match: brackets, exact names, case") {
    CHECK(audiosim::glob_match("kick[0-9].wav", "kick7.wav"));
    CHECK_FALSE(audiosim::glob_match("kick[0-9].wav", "kickx.wav"));
    CHECK(audiosim::glob_match("a.wav", "a.wav"));
    CHECK_FALSE(audiosim::glob_match("a.wav", "a.WAV"));
    CHECK_FALSE(audiosim::glob_match("a.wav", "xa.wav"));
}

TEST_CASE("utc_timestamp: ISO 8601 UTC with a Z, seconds precision") {
    CHECK(audiosim::utc_timestamp(0) == "1970-01-01T00:00:00Z");
    CHECK(audiosim::utc_timestamp(int64_t{1700000000} * 1000000000) == "2023-11-14T22:13:20Z");
    CHECK(audiosim::utc_timestamp(int64_t{951782400} * 1000000000 + 999999999) == "2000-02-29T00:00:00Z");  // leap day
    CHECK(audiosim::utc_timestamp(int64_t{4102444799} * 1000000000) == "2099-12-31T23:59:59Z");
}

TEST_CASE("utc_timestamp(now_unix_ns()) is a current time") {
    int64_t now = audiosim::now_unix_ns();
    std::string text = audiosim::utc_timestamp(now);
    REQUIRE(text.size() == 20);
    std::tm parsed{};
    REQUIRE(::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &parsed) != nullptr);
    int64_t seconds = static_cast<int64_t>(::timegm(&parsed));
    CHECK(seconds == now / 1000000000);
    CHECK(seconds > 1700000000);  // after 2023
}

TEST_CASE("peak_rss_bytes is plausible") {
    uint64_t rss = audiosim::peak_rss_bytes();
    CHECK(rss > (1u << 20));      // more than 1 MiB
    CHECK(rss < (uint64_t{1} << 40));  // less than 1 TiB
}

TEST_SUITE_END();
