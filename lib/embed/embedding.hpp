// `audiosim embed`: decode, mix to mono, resample to the model's rate, cut the stored chunks,
// batch, run the model, L2-normalize, store; incremental per model id, committing as it goes.
// Decoding runs on worker threads ahead of the model, so the model (on a GPU too) never waits on
// one decoder; memory is bounded by the batch and the look-ahead, not by file length.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "audio/resample.hpp"
#include "chunk/profile.hpp"
#include "model/backend.hpp"
#include "model/spec.hpp"
#include "stage/chunking.hpp"
#include "store/store.hpp"

namespace audiosim {

struct EmbedOptions {
    ChunkProfile profile;              // chunks of this profile are embedded (files without them are chunked first)
    std::string device = "auto";       // auto, cpu, cuda, cuda:N
    std::string precision = "fp32";    // fp32, bf16, fp16 (autocast)
    size_t batch_size = 0;             // 0: by device (32 on the CPU, 64 on CUDA; docs/PERFORMANCE.md)
    unsigned decode_threads = 1;
    int torch_threads = 1;
    ResampleQuality quality = ResampleQuality::fast;
    double commit_interval_seconds = 30;
    size_t commit_every_files = 0;
    bool retry_failed = false;  // files whose chunking or embedding failed before are tried again
    const std::atomic<bool>* cancel = nullptr;
};

struct EmbeddedFile {
    const FileRecord* file = nullptr;
    size_t chunks = 0;   // vectors made
    std::string error;   // one line, when the file could not be decoded or resampled (the cause: the caller names the file)
};

struct EmbedSummary {
    std::string model_id;
    std::string device;
    std::map<std::string, size_t> resamplers;  // converter -> files
    size_t files_embedded = 0;
    size_t files_up_to_date = 0;
    size_t files_failed = 0;         // in this run (chunking included): recorded in the store
    size_t files_failed_before = 0;  // failed in an earlier run, unchanged since: not tried again
    size_t files_dropped = 0;
    size_t files_decoded_once = 0;  // chunked in this run and embedded from that decoding (not decoded again)
    size_t chunks_embedded = 0;
    size_t chunks_flagged = 0;  // silent, dc, noise floor, empty: never embedded
    size_t batch_size = 0;
    size_t batches = 0;
    double audio_seconds = 0;        // of the files embedded (x realtime is measured on this)
    double chunk_audio_seconds = 0;  // of their chunks: more than audio_seconds when windows overlap
    double model_seconds = 0;  // time spent in the model
    double elapsed_seconds = 0;
    size_t commits = 0;
    bool interrupted = false;
    nlohmann::json to_json() const;
};

// The batch size when none is given. On the CPU each row runs alone and a batch is the rows one
// parallel region shares out among the threads: 32 rather than 8 halves the fork-joins beside
// the decoding threads (2,500 one-shots at -j 2: 2.1-2.25 s -> 1.87 s, docs/PERFORMANCE.md).
size_t default_batch_size(const std::string& device);

// Error(usage) for an unknown device or precision, or fp16 on the CPU: checked before any work,
// torch not needed. (A batch size of 0 means "by device", default_batch_size.)
void validate_embed_options(const EmbedOptions& options);

EmbedSummary embed_files(StoreWriter& store, const ModelSpec& model, const EmbedOptions& options,
                         const std::function<void(const EmbeddedFile&)>& on_file,
                         const std::function<void(size_t done, size_t total, double audio_seconds)>& on_progress);

// A file outside the store (a query) cut by `profile` and embedded as `embed` would: the chunks
// that are not flagged, in order, and their vectors (chunks.size() x dim, L2-normalized). No
// chunks when every one is flagged. Error(input) naming the file when it cannot be decoded.
struct EmbeddedAudio {
    std::vector<Chunk> chunks;
    std::vector<float> vectors;
};
// `speech` (the profile's speech activity, when it has one) flags the chunks without speech as
// `chunk` does for stored files.
EmbeddedAudio embed_audio_file(const std::string& path, const ChunkProfile& profile, const ModelSpec& spec,
                               EmbeddingModel& model, size_t batch_size, ResampleQuality quality,
                               SpeechActivity* speech = nullptr);

// L2-normalizes each row of rows x dim floats in place; an all-zero row stays zero.
void normalize_rows(std::vector<float>& vectors, size_t dim);

}  // namespace audiosim
