// Chunking profiles: how files are cut into windows before embedding. Named presets, overridable
// option by option; a profile's parameters are stored with its chunks (docs/FORMAT.md).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace audiosim {

enum class LastWindow {
    keep,   // a shorter last window is kept if at least min_seconds long (the model sees its true length)
    align,  // the last window is moved back to end at the file's end, so it is full length
    drop,   // only full windows
};

struct ChunkProfile {
    std::string name;            // [a-z0-9_-], the store's key for these chunks
    double window_seconds = 2;   // 0: the whole file is one chunk
    double hop_seconds = 1;
    double min_seconds = 0.5;    // shorter last windows follow `last`; a file shorter than a window is one chunk
    double first_seconds = 0;    // > 0: one chunk of the first N seconds (one-shots), window and hop unused
    double whole_seconds = 0;    // a file at most this long is one chunk, whole (notes, short loops)
    LastWindow last = LastWindow::keep;
    double silence_db = -60;     // chunk RMS below this (dBFS): silent
    double floor_db = -45;       // peak below this with a steady level: a near-constant noise floor
    // Speech activity (a model whose sidecar has role speech-activity, e.g. silero-vad): chunks
    // with less than min_speech of their time speech are flagged no_speech. Empty: not used. The
    // id is the model's when the profile first chunked: its chunks are flagged by that model only.
    std::string speech_model;
    std::string speech_model_id;
    double min_speech = 0.1;

    nlohmann::json to_json() const;
    static ChunkProfile from_json(const nlohmann::json& json);  // Error(format) if malformed
    void validate() const;                                       // Error(usage) naming the bad value
};

// Presets: oneshot (first 10 s), sample (2 s windows, 1 s hop: the default), music (10 s windows,
// 5 s hop, as in the chunk-and-vote approach), speech (4 s, 2 s hop), whole (one chunk per file).
ChunkProfile preset_profile(const std::string& name);  // Error(usage) listing the presets
std::vector<std::string> preset_names();
const char* last_window_name(LastWindow last);
LastWindow parse_last_window(const std::string& name);

}  // namespace audiosim
