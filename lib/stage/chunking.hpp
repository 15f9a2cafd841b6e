// `audiosim chunk`: cut every stored file that has no chunks of the profile yet, drop chunks of
// files that changed or left the catalog, and commit as it goes (killed runs keep their commits).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chunk/chunker.hpp"
#include "model/backend.hpp"
#include "model/spec.hpp"
#include "store/store.hpp"

namespace audiosim {

struct ChunkRunOptions {
    ChunkProfile profile;
    unsigned threads = 1;
    double commit_interval_seconds = 30;
    size_t commit_every_files = 0;
    bool retry_failed = false;  // files whose chunking failed before are tried again (else: until they change)
    const std::atomic<bool>* cancel = nullptr;
    RecordingCache* recordings = nullptr;  // keeps the decoded audio of files that fit, by file id
};

// One file's outcome: its chunks, or the one-line reason it could not be decoded (the cause
// alone: the caller names the file).
struct ChunkedFile {
    const FileRecord* file = nullptr;
    std::vector<Chunk> chunks;
    std::string error;
};

struct ChunkSummary {
    size_t files_chunked = 0;
    size_t files_up_to_date = 0;
    size_t files_failed = 0;
    size_t files_failed_before = 0;  // failed in an earlier run, unchanged since: not tried again
    size_t files_dropped = 0;  // chunks removed: the file changed or left the catalog
    size_t chunks = 0;
    std::map<std::string, size_t> flagged;  // chunks by flag name
    double audio_seconds = 0;
    double elapsed_seconds = 0;
    size_t commits = 0;
    bool interrupted = false;
    nlohmann::json to_json() const;
};

// The profile `name` as a command that chunks takes it: the store's own when it has chunks of it
// (stored_or_preset_profile), else the preset, which for `speech` includes speech activity by
// silero-vad when that model is installed (scripts/install-model.sh silero-vad).
ChunkProfile chunking_profile(const Manifest& manifest, const std::string& name);
// The preset `name` as a store that has no chunks of it takes it (the speech preset with
// silero-vad when installed). Error(usage) listing the presets.
ChunkProfile chunking_preset(const std::string& name);
// Turns on speech activity by `model` (a name or sidecar path) for `profile`: Error(model) when
// it is not found, Error(usage) when it is not a speech-activity model.
void use_speech_model(ChunkProfile& profile, const std::string& model);

// A profile's speech activity: its model gives each chunk the share of its time that is speech.
// One model for a run; threads decode and resample on their own and take turns at the model.
class SpeechActivity {
public:
    // Loads the profile's speech model on the CPU. Error(model) when it is not found, or when it
    // is not the one the profile's chunks were flagged with (its id).
    SpeechActivity(const ChunkProfile& profile, unsigned threads);
    ~SpeechActivity();
    SpeechActivity(const SpeechActivity&) = delete;
    SpeechActivity& operator=(const SpeechActivity&) = delete;
    // Flags `path`'s chunks with less speech than min_speech (chunks flagged already are left);
    // Error(input) when the file cannot be decoded again, Error(model) when the model fails.
    void flag(const std::string& path, std::vector<Chunk>& chunks);

private:
    static constexpr size_t rows_per_call = 32;
    // Runs the model on `waves` (one per chunk of `measured`), flags those chunks, empties both.
    void flag_measured(std::vector<std::vector<float>>& waves, std::vector<Chunk*>& measured);

    ModelSpec spec_;
    double min_speech_;
    std::unique_ptr<EmbeddingModel> model_;
    std::mutex mutex_;
};

// With a profile's speech activity on, every chunk that is not flagged already is decoded again,
// resampled to the speech model's rate and flagged no_speech below the profile's min_speech.
// Error(model) when the installed model is not the one the profile's chunks were flagged with.
ChunkSummary chunk_files(StoreWriter& store, const ChunkRunOptions& options,
                         const std::function<void(const ChunkedFile&)>& on_file,
                         const std::function<void(size_t done, size_t total)>& on_progress);

}  // namespace audiosim
