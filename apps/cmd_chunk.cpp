// audiosim chunk: cut stored files into windows per a profile; flags silent and empty chunks.
#include <iostream>
#include <memory>
#include <optional>

#include "stage/chunking.hpp"
#include "commands.hpp"
#include "report/table.hpp"
#include "util/error.hpp"
#include "util/system.hpp"

namespace audiosim::cli {
namespace {

// Chunk level thresholds in dBFS: below 0 (ChunkProfile::validate), above what float audio can hold.
constexpr double min_db = -200, max_db = -1;

struct ChunkCommandOptions {
    std::string preset = "sample";
    std::string name;
    std::optional<double> window, hop, min, first, whole, silence_db, floor_db, min_speech;
    std::string speech_model;
    std::string last;
    CommitOptions commit;
    bool retry_failed = false;
};

// A profile's parameters are fixed in a store when it first chunks with it: a plain --profile NAME
// takes the store's own (a profile made with --name, or a preset as it was then: oneshot's first
// 2 s before it became 10 s), else the preset. Options change a preset into a new profile (--name).
ChunkProfile profile_from(const ChunkCommandOptions& options, const Manifest& manifest) {
    const bool custom = options.window || options.hop || options.min || options.first || options.whole || options.silence_db ||
                        options.floor_db || !options.last.empty() || options.min_speech || !options.speech_model.empty();
    if (!custom && options.name.empty()) return chunking_profile(manifest, options.preset);
    if (custom && options.name.empty())
        throw Error(ErrorKind::usage, fmt::format("profile '{}' changed by options: name it with --name", options.preset));
    ChunkProfile profile = chunking_preset(options.preset);
    auto set = [](const std::optional<double>& value, double& field) {
        if (value) field = *value;
    };
    set(options.window, profile.window_seconds);
    set(options.hop, profile.hop_seconds);
    set(options.min, profile.min_seconds);
    set(options.first, profile.first_seconds);
    set(options.whole, profile.whole_seconds);
    set(options.silence_db, profile.silence_db);
    set(options.floor_db, profile.floor_db);
    if (!options.last.empty()) profile.last = parse_last_window(options.last);
    if (options.speech_model == "none") profile.speech_model = profile.speech_model_id = "";
    else if (!options.speech_model.empty()) use_speech_model(profile, options.speech_model);
    set(options.min_speech, profile.min_speech);
    if (options.window && !options.first) profile.first_seconds = 0;
    profile.name = options.name;
    profile.validate();
    return profile;
}

const std::vector<std::string> chunk_columns = {"path", "file_id", "index", "start", "duration",
                                                "rms_db", "peak_db", "flags", "error"};

std::string summary_line(const ChunkSummary& s, const ChunkProfile& profile) {
    std::string flagged;
    for (const auto& [name, count] : s.flagged) flagged += fmt::format("{}{} {}", flagged.empty() ? "" : ", ", count, name);
    double realtime = s.elapsed_seconds > 0 ? s.audio_seconds / s.elapsed_seconds : 0;
    return fmt::format("profile {}: {} files chunked, {} up to date, {} failed{}, {} dropped; {} chunks{}; {} of audio "
                       "in {} ({:.0f}x realtime); peak memory {}",
                       profile.name, s.files_chunked, s.files_up_to_date, s.files_failed, failed_before_note(s.files_failed_before),
                       s.files_dropped, s.chunks,
                       flagged.empty() ? "" : " (flagged: " + flagged + ")", human_duration(s.audio_seconds),
                       human_duration(s.elapsed_seconds), realtime, human_bytes(static_cast<double>(peak_rss_bytes())));
}

int run_chunk(const ChunkCommandOptions& options, const GlobalOptions& global) {
    ChunkRunOptions run;
    run.threads = resolve_threads(global.threads);
    run.commit_interval_seconds = options.commit.interval_seconds;
    run.commit_every_files = options.commit.every_files;
    run.retry_failed = options.retry_failed;
    run.cancel = &interrupted;
    std::optional<TableFormat> format;
    if (!global.format.empty()) format = parse_table_format(global.format);

    StoreWriter store = open_store_writer(global);
    run.profile = profile_from(options, store.manifest());
    std::unique_ptr<TableWriter> listing;
    if (format) listing = std::make_unique<TableWriter>(std::cout, *format, chunk_columns);
    install_interrupt_handlers();
    ProgressLine progress(global);
    auto on_file = [&](const ChunkedFile& result) {
        if (!result.error.empty()) item_error(global, "{}: {}", result.file->path, result.error);
        if (!listing) return;
        if (!result.error.empty()) listing->row({result.file->path, result.file->file_id, nullptr, nullptr, nullptr,
                                                 nullptr, nullptr, nullptr, result.error});
        for (size_t i = 0; i < result.chunks.size(); ++i) {
            const Chunk& c = result.chunks[i];
            listing->row({result.file->path, c.file_id, i, c.start, c.duration, c.rms_db, c.peak_db,
                          chunk_flag_names(c.flags), ""});
        }
    };
    ChunkSummary summary = chunk_files(store, run, on_file, [&](size_t done, size_t total) {
        progress.update(done, total, "files");
    });
    progress.clear();
    if (listing) listing->finish();
    if (global.verbosity >= 1) fmt::print(stderr, "audiosim chunk: {}\n", summary_line(summary, run.profile));
    if (summary.interrupted) return exit_interrupted;
    return summary.files_failed > 0 ? exit_partial : exit_ok;
}

}  // namespace

Runner setup_chunk(CLI::App& app) {
    auto options = std::make_shared<ChunkCommandOptions>();
    app.add_option("--profile", options->preset, "Preset: oneshot (first 10 s), sample (2 s windows, 1 s hop; default), "
                                                 "music (10 s, 5 s hop), speech (4 s, 2 s hop), whole (one chunk per file)");
    app.add_option("--speech-model", options->speech_model,
                   "Flag chunks without speech (no_speech) by this speech-activity model, e.g. silero-vad; none: "
                   "not even the speech preset's (which uses silero-vad when installed)");
    app.add_option("--min-speech", options->min_speech,
                   "With a speech model: chunks with less than this share of speech are flagged (default 0.1)")
        ->check(number_in(0, 1));
    app.add_option("--name", options->name, "Store the chunks under this profile name (required when options change a preset)");
    app.add_option("--window", options->window, "Window length in seconds (0: whole file)")
        ->check(number_in(0, max_seconds));
    app.add_option("--hop", options->hop, "Hop between window starts in seconds")->check(positive_number(max_seconds));
    app.add_option("--min", options->min, "Shortest last window kept, in seconds")->check(number_in(0, max_seconds));
    app.add_option("--whole", options->whole, "Files at most this many seconds long are one chunk, whole (with windows)")
        ->check(number_in(0, max_seconds));
    app.add_option("--first", options->first, "One chunk of the first N seconds of each file (one-shots; 0: windows)")
        ->check(number_in(0, max_seconds));
    app.add_option("--last", options->last, "Last partial window: keep (if >= --min), align (shift back to end at the file's end), drop");
    app.add_option("--silence-db", options->silence_db, "Chunks with RMS below this (dBFS) are flagged silent (default -60)")
        ->check(number_in(min_db, max_db));
    app.add_option("--floor-db", options->floor_db, "Quiet, steady chunks with peaks below this (dBFS) are flagged noise_floor (default -45)")
        ->check(number_in(min_db, max_db));
    add_commit_options(app, options->commit);
    add_retry_failed_option(app, options->retry_failed);
    return [options](const GlobalOptions& global) { return run_chunk(*options, global); };
}

}  // namespace audiosim::cli
