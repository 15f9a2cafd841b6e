// audiosim embed: chunk (if needed) and embed stored files with a TorchScript model.
#include <chrono>
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "embed/embedding.hpp"
#include "stage/chunking.hpp"
#include "util/error.hpp"
#include "util/system.hpp"

namespace audiosim::cli {
namespace {

struct EmbedCommandOptions {
    std::string model;
    std::string profile = "sample";
    std::string device = "auto";
    std::string precision = "fp32";
    size_t batch_size = 0;
    std::string quality = "fast";
    CommitOptions commit;
    bool retry_failed = false;
};

std::string summary_line(const EmbedSummary& s) {
    double realtime = s.elapsed_seconds > 0 ? s.audio_seconds / s.elapsed_seconds : 0;
    double chunks_per_second = s.elapsed_seconds > 0 ? static_cast<double>(s.chunks_embedded) / s.elapsed_seconds : 0;
    std::string resamplers;
    for (const auto& [name, count] : s.resamplers) resamplers += fmt::format("{}{} {}", resamplers.empty() ? "" : ", ", name, count);
    return fmt::format("model {} on {}: {} files embedded, {} up to date, {} failed{}, {} dropped; {} chunks "
                       "({} flagged, not embedded) in {} batches of {}; {} of audio ({} in chunks) in {} ({:.0f}x realtime, "
                       "{:.0f} chunks/s, model {}); resampling: {}; peak memory {}",
                       s.model_id, s.device.empty() ? "-" : s.device, s.files_embedded, s.files_up_to_date, s.files_failed,
                       failed_before_note(s.files_failed_before), s.files_dropped,
                       s.chunks_embedded, s.chunks_flagged, s.batches, s.batch_size, human_duration(s.audio_seconds),
                       human_duration(s.chunk_audio_seconds),
                       human_duration(s.elapsed_seconds), realtime, chunks_per_second, human_duration(s.model_seconds),
                       resamplers.empty() ? "-" : resamplers, human_bytes(static_cast<double>(peak_rss_bytes())));
}

int run_embed(const EmbedCommandOptions& options, const GlobalOptions& global) {
    EmbedOptions run;
    run.device = options.device;
    run.precision = options.precision;
    run.batch_size = options.batch_size;
    run.quality = parse_resample_quality(options.quality);
    run.decode_threads = resolve_threads(global.threads);
    run.torch_threads = static_cast<int>(resolve_threads(global.threads));
    run.commit_interval_seconds = options.commit.interval_seconds;
    run.commit_every_files = options.commit.every_files;
    run.retry_failed = options.retry_failed;
    run.cancel = &interrupted;
    validate_embed_options(run);
    ModelSpec model = find_model(options.model);

    StoreWriter store = open_store_writer(global);
    run.profile = chunking_profile(store.manifest(), options.profile);
    install_interrupt_handlers();
    ProgressLine progress(global);
    size_t chunks_done = 0;
    auto on_file = [&](const EmbeddedFile& file) {
        if (!file.error.empty()) item_error(global, "{}: {}", file.file->path, file.error);
        chunks_done += file.chunks;
    };
    auto started = std::chrono::steady_clock::now();
    EmbedSummary summary = embed_files(store, model, run, on_file, [&](size_t done, size_t total, double seconds) {
        double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        progress.update(done, total, fmt::format("files, {} of audio, {:.0f}x realtime, {:.0f} chunks/s",
                                                 human_duration(seconds), elapsed > 0 ? seconds / elapsed : 0.0,
                                                 elapsed > 0 ? static_cast<double>(chunks_done) / elapsed : 0.0));
    });
    progress.clear();
    if (global.verbosity >= 1) fmt::print(stderr, "audiosim embed: {}\n", summary_line(summary));
    if (summary.interrupted) return exit_interrupted;
    return summary.files_failed > 0 ? exit_partial : exit_ok;
}

}  // namespace

Runner setup_embed(CLI::App& app) {
    auto options = std::make_shared<EmbedCommandOptions>();
    app.add_option("--model", options->model, "Model name (audiosim models list) or sidecar/.pt path (default: audiosim-dsp)");
    app.add_option("--profile", options->profile, "Chunk profile preset or stored profile name (default: sample)");
    add_device_option(app, options->device, "Where the model runs");
    app.add_option("--precision", options->precision, "fp32 (default), or bf16/fp16 autocast (fp16 on CUDA only)");
    app.add_option("--batch-size", options->batch_size, "Chunks per model call (default: 32 on the CPU, 64 on CUDA)")
        ->transform(integer_in(1, max_batch_size));
    app.add_option("--resample-quality", options->quality, "fast, medium, best (integer ratios use a FIR decimator)");
    add_commit_options(app, options->commit);
    add_retry_failed_option(app, options->retry_failed);
    return [options](const GlobalOptions& global) { return run_embed(*options, global); };
}

}  // namespace audiosim::cli
