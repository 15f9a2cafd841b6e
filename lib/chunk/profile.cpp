#include "chunk/profile.hpp"

#include <cmath>

#include <fmt/format.h>

#include "util/error.hpp"

namespace audiosim {

namespace {

ChunkProfile make(const std::string& name, double window, double hop, double min, double first) {
    ChunkProfile profile;
    profile.name = name;
    profile.window_seconds = window;
    profile.hop_seconds = hop;
    profile.min_seconds = min;
    profile.first_seconds = first;
    return profile;
}

}  // namespace

std::vector<std::string> preset_names() { return {"oneshot", "sample", "music", "speech", "whole"}; }

ChunkProfile preset_profile(const std::string& name) {
    if (name == "oneshot") return make(name, 0, 0, 0, 10);
    if (name == "sample") return make(name, 2, 1, 0.5, 0);
    if (name == "music") return make(name, 10, 5, 5, 0);
    if (name == "speech") return make(name, 4, 2, 1, 0);
    if (name == "whole") return make(name, 0, 0, 0, 0);
    throw Error(ErrorKind::usage, fmt::format("unknown chunk profile '{}' (presets: oneshot, sample, music, speech, whole)", name));
}

const char* last_window_name(LastWindow last) {
    switch (last) {
        case LastWindow::keep: return "keep";
        case LastWindow::align: return "align";
        case LastWindow::drop: return "drop";
    }
    return "keep";
}

LastWindow parse_last_window(const std::string& name) {
    if (name == "keep") return LastWindow::keep;
    if (name == "align") return LastWindow::align;
    if (name == "drop") return LastWindow::drop;
    throw Error(ErrorKind::usage, fmt::format("unknown last-window policy '{}' (keep, align, drop)", name));
}

void ChunkProfile::validate() const {
    bool name_ok = !name.empty() && name.size() <= 64 &&
                   name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") == std::string::npos;
    if (!name_ok) throw Error(ErrorKind::usage, fmt::format("profile name '{}': use a-z, 0-9, _ and -", name));
    auto check = [](bool ok, const char* what, double value) {
        if (!ok || !std::isfinite(value)) throw Error(ErrorKind::usage, fmt::format("invalid {}: {}", what, value));
    };
    // Every field is stored in the manifest as JSON, which has no NaN or infinity: unused ones too.
    for (double value : {window_seconds, hop_seconds, min_seconds, first_seconds, whole_seconds, silence_db, floor_db,
                         min_speech})
        check(true, "value", value);
    check(window_seconds >= 0, "window", window_seconds);
    check(first_seconds >= 0, "first-seconds", first_seconds);
    check(min_seconds >= 0, "min-seconds", min_seconds);
    check(whole_seconds >= 0, "whole-seconds", whole_seconds);
    if (first_seconds == 0 && window_seconds > 0) check(hop_seconds > 0 && hop_seconds <= window_seconds, "hop", hop_seconds);
    check(silence_db < 0, "silence-db", silence_db);
    check(floor_db < 0, "floor-db", floor_db);
    check(min_speech >= 0 && min_speech <= 1, "min-speech", min_speech);
}

nlohmann::json ChunkProfile::to_json() const {
    nlohmann::json json = {{"name", name},          {"window_seconds", window_seconds}, {"hop_seconds", hop_seconds},
                           {"min_seconds", min_seconds}, {"first_seconds", first_seconds}, {"last", last_window_name(last)},
                           {"silence_db", silence_db},  {"floor_db", floor_db}};
    // Written only when used: profiles without them keep the JSON they always had.
    if (whole_seconds > 0) json["whole_seconds"] = whole_seconds;
    if (!speech_model.empty())
        json["speech_activity"] = {{"model", speech_model}, {"model_id", speech_model_id}, {"min_speech", min_speech}};
    return json;
}

ChunkProfile ChunkProfile::from_json(const nlohmann::json& json) {
    try {
        ChunkProfile profile;
        profile.name = json.at("name").get<std::string>();
        profile.window_seconds = json.at("window_seconds").get<double>();
        profile.hop_seconds = json.at("hop_seconds").get<double>();
        profile.min_seconds = json.at("min_seconds").get<double>();
        profile.first_seconds = json.at("first_seconds").get<double>();
        profile.last = parse_last_window(json.at("last").get<std::string>());
        profile.silence_db = json.at("silence_db").get<double>();
        profile.floor_db = json.at("floor_db").get<double>();
        profile.whole_seconds = json.value("whole_seconds", 0.0);
        if (json.contains("speech_activity")) {
            const nlohmann::json& speech = json.at("speech_activity");
            profile.speech_model = speech.at("model").get<std::string>();
            profile.speech_model_id = speech.at("model_id").get<std::string>();
            profile.min_speech = speech.at("min_speech").get<double>();
        }
        return profile;
    } catch (const nlohmann::json::exception& e) {
        throw Error(ErrorKind::format, fmt::format("malformed chunk profile: {}", e.what()));
    } catch (const Error& e) {
        throw Error(ErrorKind::format, fmt::format("malformed chunk profile: {}", e.what()));
    }
}

}  // namespace audiosim
