// lib/chunk/profile: presets, validation, the JSON stored with chunks, and last-window policies.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "chunk/profile.hpp"
#include "support.hpp"
#include "util/error.hpp"

using audiosim::ChunkProfile;
using audiosim::ErrorKind;
using audiosim::LastWindow;
using audiosim::test::contains;
using audiosim::test::error_of;

namespace {

constexpr double nan_value = std::numeric_limits<double>::quiet_NaN();
constexpr double inf_value = std::numeric_limits<double>::infinity();

// A valid windowed profile that tests change one value of.
ChunkProfile windowed() {
    ChunkProfile profile;
    profile.name = "test-1_a";
    profile.window_seconds = 2;
    profile.hop_seconds = 1;
    profile.min_seconds = 0.5;
    return profile;
}

// Validates `profile`, expecting Error(usage); returns its message.
std::string usage_error(const ChunkProfile& profile) {
    auto [kind, message] = error_of([&] { profile.validate(); });
    CHECK(kind == ErrorKind::usage);
    return message;
}

void check_same(const ChunkProfile& a, const ChunkProfile& b) {
    CHECK(a.name == b.name);
    CHECK(a.window_seconds == b.window_seconds);
    CHECK(a.hop_seconds == b.hop_seconds);
    CHECK(a.min_seconds == b.min_seconds);
    CHECK(a.first_seconds == b.first_seconds);
    CHECK(a.whole_seconds == b.whole_seconds);
    CHECK(a.last == b.last);
    CHECK(a.silence_db == b.silence_db);
    CHECK(a.floor_db == b.floor_db);
    CHECK(a.speech_model == b.speech_model);
    CHECK(a.speech_model_id == b.speech_model_id);
    CHECK(a.min_speech == b.min_speech);
}

}  // namespace

TEST_SUITE_BEGIN("chunk/profile");

TEST_CASE("every preset exists under its name and validates") {
    std::vector<std::string> names = audiosim::preset_names();
    for (const char* documented : {"oneshot", "sample", "music", "speech", "whole"})
        CHECK(std::find(names.begin(), names.end(), documented) != names.end());
    for (const std::string& name : names) {
        CAPTURE(name);
        ChunkProfile profile = audiosim::preset_profile(name);
        CHECK(profile.name == name);
        CHECK_NOTHROW(profile.validate());
    }
}

TEST_CASE("presets have the documented shapes") {
    ChunkProfile oneshot = audiosim::preset_profile("oneshot");
    CHECK(oneshot.first_seconds == 10);
    ChunkProfile sample = audiosim::preset_profile("sample");
    CHECK(sample.first_seconds == 0);
    CHECK(sample.window_seconds == 2);
    CHECK(sample.hop_seconds == 1);
    ChunkProfile music = audiosim::preset_profile("music");
    CHECK(music.first_seconds == 0);
    CHECK(music.window_seconds == 10);
    CHECK(music.hop_seconds == 5);
    ChunkProfile speech = audiosim::preset_profile("speech");
    CHECK(speech.first_seconds == 0);
    CHECK(speech.window_seconds == 4);
    CHECK(speech.hop_seconds == 2);
    ChunkProfile whole = audiosim::preset_profile("whole");
    CHECK(whole.first_seconds == 0);
    CHECK(whole.window_seconds == 0);
}

TEST_CASE("an unknown preset is Error(usage) naming it and listing the presets") {
    auto [kind, message] = error_of([] { audiosim::preset_profile("podcast"); });
    CHECK(kind == ErrorKind::usage);
    CHECK(contains(message, "podcast"));
    for (const std::string& name : audiosim::preset_names()) CHECK(contains(message, name));
    CHECK(error_of([] { audiosim::preset_profile(""); }).first == ErrorKind::usage);
    CHECK(error_of([] { audiosim::preset_profile("Sample"); }).first == ErrorKind::usage);
}

TEST_CASE("validate accepts the edges of the valid range") {
    ChunkProfile profile = windowed();
    profile.hop_seconds = profile.window_seconds;  // no overlap
    CHECK_NOTHROW(profile.validate());
    profile.min_seconds = 0;
    CHECK_NOTHROW(profile.validate());
    profile.name = std::string("0123456789_-abcxyz");
    CHECK_NOTHROW(profile.validate());
    ChunkProfile whole = windowed();
    whole.window_seconds = 0;  // the whole file: the hop is unused
    whole.hop_seconds = 0;
    CHECK_NOTHROW(whole.validate());
    ChunkProfile first = windowed();
    first.first_seconds = 3;  // window and hop unused
    first.hop_seconds = 0;
    CHECK_NOTHROW(first.validate());
}

TEST_CASE("validate rejects bad names") {
    for (std::string name : {"", "Sample", "a/b", "a b", "caf\xc3\xa9", "..", "a.b", "x\n"}) {
        CAPTURE(name);
        ChunkProfile profile = windowed();
        profile.name = name;
        std::string message = usage_error(profile);
        if (!name.empty()) CHECK(contains(message, name));
    }
}

TEST_CASE("validate rejects bad windows and hops") {
    ChunkProfile profile = windowed();
    SUBCASE("a negative window") {
        profile.window_seconds = -1;
        CHECK(contains(usage_error(profile), "-1"));
    }
    SUBCASE("hop 0 when windowed") {
        profile.hop_seconds = 0;
        CHECK(contains(usage_error(profile), "hop"));
    }
    SUBCASE("a negative hop when windowed") {
        profile.hop_seconds = -0.5;
        CHECK(contains(usage_error(profile), "hop"));
    }
    SUBCASE("a hop longer than the window: samples between windows would be skipped") {
        profile.hop_seconds = 2.5;
        CHECK(contains(usage_error(profile), "2.5"));
    }
    SUBCASE("a negative min_seconds") {
        profile.min_seconds = -0.25;
        CHECK(contains(usage_error(profile), "-0.25"));
    }
    SUBCASE("a negative first_seconds") {
        profile.first_seconds = -2;
        CHECK(contains(usage_error(profile), "-2"));
    }
}

TEST_CASE("validate rejects levels at or above 0 dBFS") {
    ChunkProfile profile = windowed();
    SUBCASE("silence_db 0") {
        profile.silence_db = 0;
        usage_error(profile);
    }
    SUBCASE("silence_db above 0") {
        profile.silence_db = 6;
        CHECK(contains(usage_error(profile), "6"));
    }
    SUBCASE("floor_db 0") {
        profile.floor_db = 0;
        usage_error(profile);
    }
}

TEST_CASE("validate rejects non-finite values in every field") {
    // A stored profile is JSON, which has no NaN or infinity: one that validates must round trip.
    using Field = double ChunkProfile::*;
    const std::vector<std::pair<const char*, Field>> fields = {
        {"window_seconds", &ChunkProfile::window_seconds}, {"hop_seconds", &ChunkProfile::hop_seconds},
        {"min_seconds", &ChunkProfile::min_seconds},       {"first_seconds", &ChunkProfile::first_seconds},
        {"silence_db", &ChunkProfile::silence_db},         {"floor_db", &ChunkProfile::floor_db},
    };
    for (const char* base : {"sample", "whole", "oneshot"}) {
        for (const auto& [field_name, field] : fields) {
            for (double value : {nan_value, inf_value, -inf_value}) {
                ChunkProfile profile = audiosim::preset_profile(base);
                profile.*field = value;
                std::string where = std::string(base) + "." + field_name + " = " + std::to_string(value);
                CAPTURE(where);
                CHECK_THROWS_AS(profile.validate(), audiosim::Error);
            }
        }
    }
}

TEST_CASE("a profile that validates round trips through JSON text") {
    // What the store does with it: the manifest and every segment hold the profile as JSON text.
    for (const char* base : {"sample", "whole", "oneshot"}) {
        for (double hop : {inf_value, nan_value}) {
            ChunkProfile profile = audiosim::preset_profile(base);
            profile.hop_seconds = hop;
            std::string where = std::string(base) + " with hop_seconds = " + std::to_string(hop);
            CAPTURE(where);
            bool valid = true;
            try {
                profile.validate();
            } catch (const audiosim::Error&) {
                valid = false;
            }
            if (!valid) continue;
            std::string text = profile.to_json().dump();
            CAPTURE(text);
            CHECK_NOTHROW(ChunkProfile::from_json(nlohmann::json::parse(text)));
        }
    }
}

TEST_CASE("to_json and from_json round trip every field") {
    ChunkProfile profile;
    profile.name = "my_profile-2";
    profile.window_seconds = 3.3;
    profile.hop_seconds = 0.1;
    profile.min_seconds = 0.7;
    profile.first_seconds = 1.25;
    profile.whole_seconds = 12.5;
    profile.last = LastWindow::align;
    profile.silence_db = -72.5;
    profile.floor_db = -51.25;
    ChunkProfile back = ChunkProfile::from_json(profile.to_json());
    check_same(back, profile);
    // Through text too, as it is stored in the manifest and in segments.
    check_same(ChunkProfile::from_json(nlohmann::json::parse(profile.to_json().dump())), profile);

    for (LastWindow last : {LastWindow::keep, LastWindow::align, LastWindow::drop}) {
        profile.last = last;
        CHECK(ChunkProfile::from_json(nlohmann::json::parse(profile.to_json().dump())).last == last);
    }
    for (const std::string& name : audiosim::preset_names()) {
        ChunkProfile preset = audiosim::preset_profile(name);
        check_same(ChunkProfile::from_json(nlohmann::json::parse(preset.to_json().dump())), preset);
    }
}

TEST_CASE("speech activity is written only when a profile uses it, and round trips") {
    ChunkProfile profile = windowed();
    CHECK_FALSE(profile.to_json().contains("speech_activity"));  // the JSON profiles always had
    CHECK_FALSE(profile.to_json().contains("whole_seconds"));
    profile.speech_model = "silero-vad";
    profile.speech_model_id = "silero-vad-1-553f90ddb9b9";
    profile.min_speech = 0.25;
    const nlohmann::json json = profile.to_json();
    CHECK(json.at("speech_activity") ==
          nlohmann::json{{"model", "silero-vad"}, {"model_id", "silero-vad-1-553f90ddb9b9"}, {"min_speech", 0.25}});
    check_same(ChunkProfile::from_json(nlohmann::json::parse(json.dump())), profile);
    ChunkProfile without = ChunkProfile::from_json(windowed().to_json());
    CHECK(without.speech_model.empty());
    CHECK(without.min_speech == 0.1);

    nlohmann::json broken = json;
    broken["speech_activity"].erase("model_id");
    CHECK(error_of([&] { ChunkProfile::from_json(broken); }).first == ErrorKind::format);
    for (double bad : {-0.1, 1.5}) {
        profile.min_speech = bad;
        auto [kind, message] = error_of([&] { profile.validate(); });
        CHECK(kind == ErrorKind::usage);
        CHECK(audiosim::test::contains(message, "min-speech"));
    }
}

TEST_CASE("two profiles that differ in one field have different JSON") {
    ChunkProfile a = windowed();
    std::vector<std::function<void(ChunkProfile&)>> changes = {
        [](ChunkProfile& p) { p.name = "other"; },        [](ChunkProfile& p) { p.window_seconds = 3; },
        [](ChunkProfile& p) { p.hop_seconds = 0.5; },     [](ChunkProfile& p) { p.min_seconds = 1; },
        [](ChunkProfile& p) { p.first_seconds = 1; },     [](ChunkProfile& p) { p.last = LastWindow::drop; },
        [](ChunkProfile& p) { p.silence_db = -70; },      [](ChunkProfile& p) { p.floor_db = -40; },
        [](ChunkProfile& p) { p.speech_model = "vad"; },   [](ChunkProfile& p) { p.whole_seconds = 30; },
    };
    for (size_t i = 0; i < changes.size(); ++i) {
        CAPTURE(i);
        ChunkProfile b = a;
        changes[i](b);
        CHECK(a.to_json() != b.to_json());
    }
}

TEST_CASE("from_json of malformed JSON is Error(format)") {
    nlohmann::json good = windowed().to_json();
    auto format_error = [](const nlohmann::json& json) {
        auto [kind, message] = error_of([&] { ChunkProfile::from_json(json); });
        CHECK(kind == ErrorKind::format);
        return message;
    };
    SUBCASE("not an object") {
        format_error(nlohmann::json::array({1, 2}));
        format_error(nlohmann::json("sample"));
        format_error(nlohmann::json());
    }
    SUBCASE("a missing field") {
        for (const auto& item : good.items()) {
            CAPTURE(item.key());
            nlohmann::json json = good;
            json.erase(item.key());
            format_error(json);
        }
    }
    SUBCASE("a field of the wrong type") {
        nlohmann::json json = good;
        json["window_seconds"] = "2";
        format_error(json);
        json = good;
        json["name"] = 7;
        format_error(json);
        json = good;
        json["hop_seconds"] = nullptr;
        format_error(json);
    }
    SUBCASE("an unknown last-window policy") {
        nlohmann::json json = good;
        json["last"] = "stretch";
        CHECK(contains(format_error(json), "stretch"));
    }
}

TEST_CASE("parse_last_window and last_window_name") {
    for (LastWindow last : {LastWindow::keep, LastWindow::align, LastWindow::drop})
        CHECK(audiosim::parse_last_window(audiosim::last_window_name(last)) == last);
    CHECK(audiosim::parse_last_window("keep") == LastWindow::keep);
    CHECK(audiosim::parse_last_window("align") == LastWindow::align);
    CHECK(audiosim::parse_last_window("drop") == LastWindow::drop);
    for (std::string bad : {"", "Keep", "pad", "keep "}) {
        CAPTURE(bad);
        auto [kind, message] = error_of([&] { audiosim::parse_last_window(bad); });
        CHECK(kind == ErrorKind::usage);
        if (!bad.empty()) CHECK(contains(message, bad));
        CHECK(contains(message, "keep"));
        CHECK(contains(message, "align"));
        CHECK(contains(message, "drop"));
    }
}

TEST_CASE("a default profile with a name validates") {
    ChunkProfile profile;
    profile.name = "default";
    CHECK_NOTHROW(profile.validate());
    CHECK(profile.last == LastWindow::keep);
    CHECK(profile.silence_db < 0);
    CHECK(profile.floor_db < 0);
    CHECK(profile.silence_db < profile.floor_db);
}

TEST_SUITE_END();
