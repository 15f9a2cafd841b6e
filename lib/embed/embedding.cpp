#include "embed/embedding.hpp"

#include <algorithm>
#include <future>
#include <optional>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "audio/decode.hpp"
#include "stage/chunking.hpp"
#include "stage/stage.hpp"
#include "model/backend.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/ordered_pool.hpp"

namespace audiosim {

nlohmann::json EmbedSummary::to_json() const {
    return {{"model_id", model_id},           {"device", device},
            {"resamplers", resamplers},       {"files_embedded", files_embedded},
            {"files_up_to_date", files_up_to_date}, {"files_failed", files_failed},
            {"files_failed_before", files_failed_before},
            {"files_dropped", files_dropped}, {"files_decoded_once", files_decoded_once},
            {"chunks_embedded", chunks_embedded},
            {"chunks_flagged", chunks_flagged}, {"batch_size", batch_size}, {"batches", batches},
            {"audio_seconds", audio_seconds}, {"chunk_audio_seconds", chunk_audio_seconds},
            {"model_seconds", model_seconds},
            {"elapsed_seconds", elapsed_seconds}, {"commits", commits},
            {"interrupted", interrupted}};
}

void normalize_rows(std::vector<float>& vectors, size_t dim) {
    for (size_t row = 0; row * dim < vectors.size(); ++row) {
        float* v = vectors.data() + row * dim;
        double norm = 0;
        for (size_t i = 0; i < dim; ++i) norm += static_cast<double>(v[i]) * v[i];
        if (norm <= 0) continue;
        float scale = static_cast<float>(1.0 / std::sqrt(norm));
        for (size_t i = 0; i < dim; ++i) v[i] *= scale;
    }
}

namespace {

using Clock = std::chrono::steady_clock;

// A run of one file's chunks decoded together: bounded audio per unit keeps memory bounded.
struct WorkUnit {
    const FileRecord* file = nullptr;
    std::vector<Chunk> chunks;
    bool last_of_file = false;
    double seconds = 0;  // of its chunks
};

struct ChunkWave {
    uint64_t chunk_id = 0;
    uint64_t file_id = 0;
    std::vector<float> samples;  // mono, at the model's rate
};

struct DecodedUnit {
    std::vector<ChunkWave> waves;
    std::string error;
    std::string resampler;
    bool decoded_once = false;  // read from chunking's recording of the file
};

constexpr double unit_audio_seconds = 120;

// Decoded audio kept from chunking for embedding in the same run (mono float at the file's rate:
// ~11 min at 48 kHz). Two decodings of every MP3 were a third of the CPU of embedding MP3 notes.
constexpr size_t recording_budget_bytes = size_t{256} << 20;

size_t count_flagged(const std::vector<Chunk>& chunks) {
    return static_cast<size_t>(std::count_if(chunks.begin(), chunks.end(), [](const Chunk& c) { return c.flags != 0; }));
}

std::vector<WorkUnit> plan_units(const std::vector<const FileRecord*>& files, const ChunkTable& chunks, size_t& flagged) {
    std::vector<WorkUnit> units;
    for (const FileRecord* file : files) {
        WorkUnit unit{file, {}, false};
        for (const Chunk& chunk : *chunks.chunks_of(file->file_id)) {
            if (chunk.flags) {
                ++flagged;
                continue;
            }
            if (!unit.chunks.empty() && unit.seconds + chunk.duration > unit_audio_seconds) {
                units.push_back(std::move(unit));
                unit = WorkUnit{file, {}, false};
            }
            unit.chunks.push_back(chunk);
            unit.seconds += chunk.duration;
        }
        unit.last_of_file = true;
        units.push_back(std::move(unit));  // possibly without chunks: the file is still done
    }
    return units;
}

// How many units may be decoded ahead of the model: as many as hold the audio of 4 full units per
// thread, so that memory stays bounded as with full units while short files are decoded far ahead.
// With 8 units ahead whatever their length, the model waited on the decoders between batches of
// one-shots and embed used ~150 % of two cores (docs/PERFORMANCE.md).
size_t look_ahead(const std::vector<WorkUnit>& units, unsigned threads) {
    size_t full_units = std::max<size_t>(4, threads * 4);
    double longest = 0;
    for (const WorkUnit& unit : units) longest = std::max(longest, unit.seconds);
    if (longest <= 0) return full_units;
    return std::max(full_units, static_cast<size_t>(static_cast<double>(full_units) * unit_audio_seconds / longest));
}

// `recording`: the file's audio as chunking decoded it. It stands in for the file when the unit is
// read from the file's start: the same samples as a read without a seek.
DecodedUnit decode_unit(const WorkUnit& unit, const std::string& root, uint32_t model_rate, ResampleQuality quality,
                        std::shared_ptr<const MonoRecording> recording = nullptr) {
    DecodedUnit decoded;
    if (unit.chunks.empty()) return decoded;
    const std::string path = library_path(root, unit.file->path);
    try {
        if (recording && unit.chunks.front().start_frame > static_cast<int64_t>(recording->sample_rate / 50)) recording.reset();
        decoded.decoded_once = recording != nullptr;
        std::optional<MonoReader> opened;
        if (recording) opened.emplace(path, std::move(recording));
        else opened.emplace(path);
        MonoReader& reader = *opened;
        uint32_t source_rate = reader.sample_rate();
        // Start a little before the first chunk so the resampler's filter has its context, on a
        // multiple of the decimation factor so integer-ratio output samples stay on the grid.
        int64_t step = source_rate % model_rate == 0 ? source_rate / model_rate : 1;
        int64_t margin = source_rate / 50;
        int64_t first = std::max<int64_t>(0, unit.chunks.front().start_frame - margin);
        first -= first % step;
        int64_t end = 0;
        for (const Chunk& chunk : unit.chunks) end = std::max(end, chunk.start_frame + chunk.frames);
        if (first > 0) reader.seek(first);
        Resampler resampler(source_rate, model_rate, quality);
        decoded.resampler = resampler.method();
        std::vector<float> block, resampled;
        for (int64_t position = first; position < end + margin;) {
            size_t got = reader.read(static_cast<size_t>(std::min<int64_t>(65536, end + margin - position)), block);
            if (got == 0) break;
            resampler.process(block.data(), got, resampled);
            position += static_cast<int64_t>(got);
        }
        resampler.finish(resampled);
        double ratio = static_cast<double>(model_rate) / source_rate;
        int64_t origin = std::llround(static_cast<double>(first) * ratio);  // model-rate index of resampled[0]
        for (const Chunk& chunk : unit.chunks) {
            int64_t start = std::llround(static_cast<double>(chunk.start_frame) * ratio) - origin;
            int64_t length = std::max<int64_t>(1, std::llround(static_cast<double>(chunk.frames) * ratio));
            start = std::clamp<int64_t>(start, 0, static_cast<int64_t>(resampled.size()));
            int64_t stop = std::min<int64_t>(start + length, static_cast<int64_t>(resampled.size()));
            ChunkWave wave{chunk.chunk_id, chunk.file_id, {}};
            wave.samples.assign(resampled.begin() + start, resampled.begin() + stop);
            if (wave.samples.empty()) wave.samples.push_back(0.0f);  // a chunk past a stream shorter than its header said
            decoded.waves.push_back(std::move(wave));
        }
    } catch (const Error& error) {
        decoded.error = cause_of(error.what(), path);
    }
    return decoded;
}

// Runs the model over batches of chunk waves, padding each batch to its longest row.
class Batcher {
public:
    Batcher(EmbeddingModel& model, size_t dim, size_t batch_size) : model_(model), dim_(dim), batch_size_(batch_size) {}

    void add(ChunkWave wave) { waiting_.push_back(std::move(wave)); }
    bool full() const { return waiting_.size() >= batch_size_; }
    size_t waiting() const { return waiting_.size(); }

    // Embeds everything waiting; appends to delta. Returns seconds spent in the model.
    double flush(EmbeddingDelta& delta) {
        if (waiting_.empty()) return 0;
        size_t rows = waiting_.size(), samples = 0;
        for (const ChunkWave& wave : waiting_) samples = std::max(samples, wave.samples.size());
        std::vector<float> input(rows * samples, 0.0f);
        std::vector<int64_t> lengths(rows);
        for (size_t r = 0; r < rows; ++r) {
            std::copy(waiting_[r].samples.begin(), waiting_[r].samples.end(), input.begin() + static_cast<std::ptrdiff_t>(r * samples));
            lengths[r] = static_cast<int64_t>(waiting_[r].samples.size());
        }
        auto start = Clock::now();
        std::vector<float> vectors = model_.embed(input, static_cast<int64_t>(rows), static_cast<int64_t>(samples), lengths,
                                                  static_cast<int64_t>(dim_));
        double seconds = std::chrono::duration<double>(Clock::now() - start).count();
        for (float value : vectors)
            if (!std::isfinite(value)) throw Error(ErrorKind::model, "the model returned a non-finite value");
        normalize_rows(vectors, dim_);
        for (const ChunkWave& wave : waiting_) {
            delta.chunk_ids.push_back(wave.chunk_id);
            delta.file_ids.push_back(wave.file_id);
        }
        delta.vectors.insert(delta.vectors.end(), vectors.begin(), vectors.end());
        waiting_.clear();
        ++batches_;
        return seconds;
    }

    size_t batches() const { return batches_; }

private:
    EmbeddingModel& model_;
    size_t dim_;
    size_t batch_size_;
    std::vector<ChunkWave> waiting_;
    size_t batches_ = 0;
};

// Removes the vectors of `file_id`, which are the last rows of `delta`.
void drop_last_file(EmbeddingDelta& delta, uint64_t file_id) {
    size_t keep = static_cast<size_t>(std::find(delta.file_ids.begin(), delta.file_ids.end(), file_id) - delta.file_ids.begin());
    delta.chunk_ids.resize(keep);
    delta.file_ids.resize(keep);
    delta.vectors.resize(keep * delta.dim);
}

nlohmann::json model_json(const ModelSpec& spec) {
    return {{"name", spec.name},
            {"version", spec.version},
            {"sample_rate", spec.sample_rate},
            {"window_seconds", spec.window_seconds},
            {"embedding_dim", spec.embedding_dim},
            {"normalized", spec.normalized},
            {"license", spec.license},
            {"source", spec.source},
            {"sidecar", spec.sidecar_path}};
}

}  // namespace

EmbeddedAudio embed_audio_file(const std::string& path, const ChunkProfile& profile, const ModelSpec& spec,
                               EmbeddingModel& model, size_t batch_size, ResampleQuality quality,
                               SpeechActivity* speech) {
    constexpr uint64_t query_file_id = 1;
    std::vector<Chunk> chunks = chunk_file(path, profile);
    if (speech) speech->flag(path, chunks);
    uint64_t next_id = 1;
    for (Chunk& chunk : chunks) {
        chunk.chunk_id = next_id++;
        chunk.file_id = query_file_id;
    }
    ChunkTable table;
    table.apply({chunks, {}});
    FileRecord file;
    file.file_id = query_file_id;
    file.path = absolute_path(path);
    size_t flagged = 0;
    EmbeddedAudio result;
    EmbeddingDelta delta;
    delta.dim = static_cast<size_t>(spec.embedding_dim);
    Batcher batcher(model, delta.dim, std::max<size_t>(batch_size, 1));
    for (const WorkUnit& unit : plan_units({&file}, table, flagged)) {
        DecodedUnit decoded = decode_unit(unit, "/", spec.sample_rate, quality);
        if (!decoded.error.empty()) throw Error(ErrorKind::input, fmt::format("{}: {}", path, decoded.error));
        for (ChunkWave& wave : decoded.waves) {
            batcher.add(std::move(wave));
            if (batcher.full()) batcher.flush(delta);
        }
        result.chunks.insert(result.chunks.end(), unit.chunks.begin(), unit.chunks.end());
    }
    batcher.flush(delta);
    result.vectors = std::move(delta.vectors);
    return result;
}

size_t default_batch_size(const std::string& device) { return device == "cpu" ? 32 : 64; }

void validate_embed_options(const EmbedOptions& options) {
    validate_device(options.device);
    const std::string& precision = options.precision;
    if (precision != "fp32" && precision != "bf16" && precision != "fp16")
        throw Error(ErrorKind::usage, fmt::format("unknown precision '{}' (fp32, bf16, fp16)", precision));
    if (precision == "fp16" && options.device == "cpu")
        throw Error(ErrorKind::usage, "--precision fp16 needs a CUDA device (bf16 runs on the CPU too)");
}

EmbedSummary embed_files(StoreWriter& store, const ModelSpec& model, const EmbedOptions& options,
                         const std::function<void(const EmbeddedFile&)>& on_file,
                         const std::function<void(size_t done, size_t total, double audio_seconds)>& on_progress) {
    validate_embed_options(options);
    require_embedding_model(model);
    auto start = Clock::now();
    EmbedSummary summary;
    summary.model_id = model.id();

    // Loading torch and the model takes ~0.3 s on the CPU: it runs beside the first decoding of
    // this run (chunking, else embedding), and only when there is work, so a run with nothing to
    // do never loads torch. The environment is set before any thread of the run starts.
    prepare_torch_environment();
    std::future<std::unique_ptr<EmbeddingModel>> model_loading;
    auto load_model = [&] {
        if (model_loading.valid()) return;
        model_loading = std::async(std::launch::async, [&] {
            return torch_backend(options.device).load(model.weights_path, options.device, options.torch_threads, options.precision);
        });
    };

    // Files without chunks of the profile are chunked first, in the same run; the audio of those
    // that fit in recording_budget_bytes is kept and embedded without decoding them again.
    RecordingCache recordings(recording_budget_bytes);
    ChunkRunOptions chunking{options.profile, options.decode_threads, options.commit_interval_seconds,
                             options.commit_every_files, options.retry_failed, options.cancel, &recordings};
    auto report_chunk_failure = [&](const ChunkedFile& result) {
        if (!result.error.empty() && on_file) on_file(EmbeddedFile{result.file, 0, result.error});
    };
    ChunkSummary chunked = chunk_files(store, chunking, report_chunk_failure, [&](size_t done, size_t total) {
        if (done == 0 && total > 0) load_model();  // files to chunk are files to embed
    });
    summary.files_failed += chunked.files_failed;
    summary.files_failed_before += chunked.files_failed_before;

    EmbeddingSet set{model.id(), options.profile.name, model.embedding_dim, model_json(model), {}};
    ChunkTable chunks = store.load_chunks(options.profile.name);
    EmbeddingTable existing = store.load_embeddings(set.key());
    StagePlan plan = plan_embedding(store.catalog(), chunks, existing, options.retry_failed);
    const std::vector<const FileRecord*>& todo = plan.todo;
    summary.files_up_to_date = plan.up_to_date.size();
    for (const FileRecord* file : plan.up_to_date) summary.chunks_flagged += count_flagged(*chunks.chunks_of(file->file_id));
    summary.files_failed_before += plan.failed_before;
    summary.files_dropped = plan.dropped.size();
    EmbeddingDelta pending;
    pending.dim = static_cast<size_t>(model.embedding_dim);
    pending.dropped_file_ids = plan.removals();

    std::vector<WorkUnit> units = plan_units(todo, chunks, summary.chunks_flagged);
    if (units.empty() && pending.empty()) {  // nothing to embed: torch loaded only if files were chunked
        summary.elapsed_seconds = std::chrono::duration<double>(Clock::now() - start).count();
        store.finish_run("embed", summary.to_json());
        return summary;
    }
    std::unique_ptr<EmbeddingModel> runner;
    std::optional<Batcher> batcher;

    CommitCadence cadence(options.commit_interval_seconds, options.commit_every_files);
    size_t files_since_commit = 0;
    size_t complete_file_vectors = 0;  // pending rows that belong to finished files
    auto commit = [&] {
        summary.model_seconds += batcher->flush(pending);
        if (pending.empty()) return;
        store.commit_embeddings(set, std::move(pending));
        pending = EmbeddingDelta{};
        pending.dim = static_cast<size_t>(model.embedding_dim);
        files_since_commit = 0;
        complete_file_vectors = 0;
        ++summary.commits;
        cadence.committed();
    };
    const std::string& root = store.manifest().library_root;
    {
        OrderedPool<DecodedUnit> pool(
            units.size(), options.decode_threads,
            [&](size_t i) {
                return decode_unit(units[i], root, model.sample_rate, options.quality, recordings.take(units[i].file->file_id));
            },
            options.cancel,
            look_ahead(units, options.decode_threads));
        load_model();
        runner = model_loading.get();
        summary.device = runner->device();
        summary.batch_size = options.batch_size ? options.batch_size : default_batch_size(summary.device);
        batcher.emplace(*runner, pending.dim, summary.batch_size);
        EmbeddedFile current;  // the file whose units are being taken
        bool current_failed = false;
        size_t files_done = 0;
        for (size_t i = 0; i < units.size() && !(options.cancel && options.cancel->load()); ++i) {
            std::optional<DecodedUnit> decoded = pool.take(i);
            if (!decoded) break;
            const WorkUnit& unit = units[i];
            current.file = unit.file;
            if (!decoded->resampler.empty()) ++summary.resamplers[decoded->resampler];
            if (decoded->decoded_once) ++summary.files_decoded_once;
            if (!decoded->error.empty()) {
                current.error = decoded->error;
                current_failed = true;
            }
            for (ChunkWave& wave : decoded->waves) {
                summary.chunk_audio_seconds += static_cast<double>(wave.samples.size()) / model.sample_rate;
                ++current.chunks;
                batcher->add(std::move(wave));
                if (batcher->full()) summary.model_seconds += batcher->flush(pending);
            }
            if (!unit.last_of_file) continue;
            // A file's vectors are committed together: a failed file leaves none behind.
            if (current_failed) {
                ++summary.files_failed;
                summary.model_seconds += batcher->flush(pending);
                drop_last_file(pending, unit.file->file_id);
                pending.failed.push_back({unit.file->file_id, current.error});  // not tried again until it changes
            } else {
                ++summary.files_embedded;
                summary.audio_seconds += unit.file->audio.duration;
                summary.chunks_embedded += current.chunks;
            }
            ++files_since_commit;
            if (on_file) on_file(current);
            current = EmbeddedFile{};
            current_failed = false;
            complete_file_vectors = pending.chunk_ids.size() + batcher->waiting();  // rows reach pending in order
            if (on_progress) on_progress(++files_done, todo.size(), summary.audio_seconds);
            if (cadence.due(files_since_commit)) commit();
        }
    }
    summary.interrupted = options.cancel && options.cancel->load();
    if (summary.interrupted) {
        // Whole files are kept; the vectors of a file cut off mid-way are dropped (redone next run).
        summary.model_seconds += batcher->flush(pending);
        pending.chunk_ids.resize(complete_file_vectors);
        pending.file_ids.resize(complete_file_vectors);
        pending.vectors.resize(complete_file_vectors * pending.dim);
    }
    commit();
    summary.batches = batcher->batches();
    summary.elapsed_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    store.finish_run("embed", summary.to_json());
    if (!summary.interrupted) store.compact_if_needed();
    return summary;
}

}  // namespace audiosim
