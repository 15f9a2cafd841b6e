#include "stage/chunking.hpp"

#include <chrono>
#include <memory>
#include <mutex>

#include <fmt/format.h>

#include "audio/decode.hpp"
#include "audio/resample.hpp"
#include "model/backend.hpp"
#include "model/spec.hpp"
#include "stage/stage.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/ordered_pool.hpp"

namespace audiosim {

nlohmann::json ChunkSummary::to_json() const {
    return {{"files_chunked", files_chunked}, {"files_up_to_date", files_up_to_date}, {"files_failed", files_failed},
            {"files_failed_before", files_failed_before}, {"files_dropped", files_dropped}, {"chunks", chunks},
            {"flagged", flagged}, {"audio_seconds", audio_seconds}, {"elapsed_seconds", elapsed_seconds},
            {"commits", commits}, {"interrupted", interrupted}};
}

namespace {

using Clock = std::chrono::steady_clock;

const char* const speech_preset_model = "silero-vad";

ChunkedFile chunk_one(const FileRecord* file, const std::string& root, const ChunkProfile& profile,
                      SpeechActivity* speech, RecordingCache* recordings) {
    ChunkedFile result;
    result.file = file;
    std::string path = library_path(root, file->path);
    try {
        std::shared_ptr<const MonoRecording> recording;
        // a quarter of the budget at most per file, so that one long file does not take it all
        size_t record_frames = recordings ? recordings->budget_bytes() / sizeof(float) / 4 : 0;
        result.chunks = chunk_file(path, profile, recordings ? &recording : nullptr, record_frames);
        if (speech) speech->flag(path, result.chunks);
        if (recording) recordings->put(file->file_id, std::move(recording));
        for (Chunk& chunk : result.chunks) chunk.file_id = file->file_id;
    } catch (const Error& error) {  // a speech model failing on a file fails that file, like its decoding
        result.error = cause_of(error.what(), path);
    }
    return result;
}

}  // namespace

SpeechActivity::SpeechActivity(const ChunkProfile& profile, unsigned threads) : min_speech_(profile.min_speech) {
    spec_ = find_model(profile.speech_model);
    if (spec_.id() != profile.speech_model_id)
        throw Error(ErrorKind::model,
                    fmt::format("profile {}: its chunks were flagged by the speech model {}, but {} is {} now; chunk "
                                "under another --name to use it",
                                profile.name, profile.speech_model_id, profile.speech_model, spec_.id()));
    model_ = torch_backend("cpu").load(spec_.weights_path, "cpu", static_cast<int>(threads), "fp32");
}

SpeechActivity::~SpeechActivity() = default;

void SpeechActivity::flag(const std::string& path, std::vector<Chunk>& chunks) {
    MonoReader reader(path);
    std::vector<float> mono;
    std::vector<std::vector<float>> waves;
    std::vector<Chunk*> measured;
    for (Chunk& chunk : chunks) {
        if (chunk.flags) continue;
        reader.seek(chunk.start_frame);
        reader.read(static_cast<size_t>(chunk.frames), mono);
        Resampler resampler(reader.sample_rate(), spec_.sample_rate, ResampleQuality::fast);
        std::vector<float>& wave = waves.emplace_back();
        resampler.process(mono.data(), mono.size(), wave);
        resampler.finish(wave);
        if (wave.empty()) wave.push_back(0.0f);
        measured.push_back(&chunk);
        // A few chunks' audio at a time: an hours-long file never holds all of it at once.
        if (measured.size() == rows_per_call) flag_measured(waves, measured);
    }
    flag_measured(waves, measured);
}

void SpeechActivity::flag_measured(std::vector<std::vector<float>>& waves, std::vector<Chunk*>& measured) {
    if (measured.empty()) return;
    std::vector<float> rows;
    size_t samples = 0;
    for (const auto& wave : waves) samples = std::max(samples, wave.size());
    rows.assign(waves.size() * samples, 0.0f);
    std::vector<int64_t> lengths;
    for (size_t r = 0; r < waves.size(); ++r) {
        std::copy(waves[r].begin(), waves[r].end(), rows.begin() + static_cast<std::ptrdiff_t>(r * samples));
        lengths.push_back(static_cast<int64_t>(waves[r].size()));
    }
    std::vector<float> speech;
    {
        std::lock_guard<std::mutex> turn(mutex_);
        speech = model_->embed(rows, static_cast<int64_t>(waves.size()), static_cast<int64_t>(samples), lengths, 1);
    }
    for (size_t r = 0; r < measured.size(); ++r)
        if (!(speech[r] >= min_speech_)) measured[r]->flags |= chunk_no_speech;
    waves.clear();
    measured.clear();
}

void use_speech_model(ChunkProfile& profile, const std::string& model) {
    ModelSpec spec = find_model(model);
    if (spec.role != "speech-activity" || spec.embedding_dim != 1)
        throw Error(ErrorKind::usage, fmt::format("{} is not a speech-activity model (its sidecar's role is {}; "
                                                  "scripts/install-model.sh silero-vad installs one)",
                                                  model, spec.role));
    profile.speech_model = model;
    profile.speech_model_id = spec.id();
}

ChunkProfile chunking_preset(const std::string& name) {
    ChunkProfile profile = preset_profile(name);
    if (name != "speech") return profile;
    try {
        use_speech_model(profile, speech_preset_model);
    } catch (const Error& error) {
        if (error.kind() != ErrorKind::model) throw;  // not installed: the preset without it
    }
    return profile;
}

ChunkProfile chunking_profile(const Manifest& manifest, const std::string& name) {
    ChunkProfile profile = stored_or_preset_profile(manifest, name);  // Error(usage) naming presets and stored ones
    return manifest.chunk_sets.count(name) ? profile : chunking_preset(name);
}

ChunkSummary chunk_files(StoreWriter& store, const ChunkRunOptions& options,
                         const std::function<void(const ChunkedFile&)>& on_file,
                         const std::function<void(size_t done, size_t total)>& on_progress) {
    options.profile.validate();
    store.check_profile(options.profile);
    auto start = Clock::now();
    ChunkSummary summary;
    ChunkTable table = store.load_chunks(options.profile.name);

    StagePlan plan = plan_chunking(store.catalog(), table, options.retry_failed);
    const std::vector<const FileRecord*>& todo = plan.todo;
    summary.files_up_to_date = plan.up_to_date.size();
    summary.files_failed_before = plan.failed_before;
    summary.files_dropped = plan.dropped.size();
    ChunkDelta pending;
    pending.dropped_file_ids = plan.removals();

    CommitCadence cadence(options.commit_interval_seconds, options.commit_every_files);
    size_t pending_files = 0;
    auto commit = [&] {
        if (pending.empty()) return;
        store.commit_chunks(options.profile, std::move(pending));
        pending = {};
        pending_files = 0;
        ++summary.commits;
        cadence.committed();
    };
    const std::string& root = store.manifest().library_root;
    std::unique_ptr<SpeechActivity> speech;
    if (!options.profile.speech_model.empty() && !todo.empty()) speech = std::make_unique<SpeechActivity>(options.profile, options.threads);
    if (on_progress && !todo.empty()) on_progress(0, todo.size());
    {
        OrderedPool<ChunkedFile> pool(todo.size(), options.threads,
                                      [&](size_t i) { return chunk_one(todo[i], root, options.profile, speech.get(), options.recordings); },
                                      options.cancel);
        for (size_t i = 0; i < todo.size() && !(options.cancel && options.cancel->load()); ++i) {
            std::optional<ChunkedFile> result = pool.take(i);
            if (!result) break;
            if (on_file) on_file(*result);
            ++pending_files;
            if (!result->error.empty()) {
                ++summary.files_failed;
                pending.failed.push_back({result->file->file_id, result->error});
            } else {
                ++summary.files_chunked;
                for (const Chunk& chunk : result->chunks) {
                    ++summary.chunks;
                    summary.audio_seconds += chunk.duration;
                    if (chunk.flags) ++summary.flagged[chunk_flag_names(chunk.flags)];
                }
                pending.chunks.insert(pending.chunks.end(), result->chunks.begin(), result->chunks.end());
            }
            if (on_progress) on_progress(i + 1, todo.size());
            if (cadence.due(pending_files)) commit();
        }
    }
    summary.interrupted = options.cancel && options.cancel->load();
    commit();
    summary.elapsed_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    store.finish_run("chunk", summary.to_json());
    if (!summary.interrupted) store.compact_if_needed();
    return summary;
}

}  // namespace audiosim
