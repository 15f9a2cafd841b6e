// audiosim ingest: options in, lib/ingest does the work, events out (stdout data, stderr messages).
#include <iostream>
#include <memory>
#include <optional>

#include "commands.hpp"
#include "ingest/ingest.hpp"
#include "report/table.hpp"
#include "util/error.hpp"
#include "util/hash.hpp"
#include "util/system.hpp"

namespace audiosim::cli {
namespace {

struct IngestCommandOptions {
    std::vector<std::string> inputs;
    std::vector<std::string> include;
    std::vector<std::string> exclude;
    std::string metadata;
    std::string root;
    bool follow_symlinks = false;
    bool prune = false;
    bool verify = false;
    bool strict = false;
    bool null_separated = false;
    CommitOptions commit;
};

const std::vector<std::string> listing_columns = {
    "event", "path", "file_id", "status", "error", "size", "hash", "container", "codec",
    "sample_rate", "channels", "frames", "duration", "duplicate_of", "warning", "frames_estimated"};

std::vector<nlohmann::json> listing_row(const IngestEvent& event) {
    const FileRecord& r = event.record;
    bool has_audio = r.status == FileStatus::ok;
    auto audio = [&](auto value) { return has_audio ? nlohmann::json(value) : nlohmann::json(); };
    return {change_kind_name(event.kind), r.path,
            r.file_id ? nlohmann::json(r.file_id) : nlohmann::json(), file_status_name(r.status), r.error,
            r.size, r.size ? nlohmann::json(hash_to_hex(r.hash)) : nlohmann::json(), audio(r.audio.container),
            audio(r.audio.codec), audio(r.audio.sample_rate), audio(r.audio.channels), audio(r.audio.frames),
            audio(r.audio.duration), event.duplicate_of.empty() ? nlohmann::json() : nlohmann::json(event.duplicate_of),
            r.warning, audio(r.audio.frames_estimated)};
}

// Reads the `-` input: newline-separated paths, or NUL-separated with -0 (find -print0).
std::vector<std::string> read_path_list(std::istream& in, bool null_separated) {
    std::vector<std::string> paths;
    std::string path;
    while (std::getline(in, path, null_separated ? '\0' : '\n')) {
        if (!null_separated && !path.empty() && path.back() == '\r') path.pop_back();
        if (!path.empty()) paths.push_back(path);
    }
    return paths;
}

std::string summary_line(const IngestSummary& s) {
    std::string failed;
    for (const auto& [status, count] : s.failed_by_status) failed += fmt::format("{}{} {}", failed.empty() ? "" : ", ", count, status);
    double speed = s.elapsed_seconds > 0 ? static_cast<double>(s.scanned) / s.elapsed_seconds : 0;
    double realtime = s.elapsed_seconds > 0 ? s.audio_seconds_read / s.elapsed_seconds : 0;
    std::string warnings = s.warnings_read ? fmt::format(", {} with warnings", s.warnings_read) : "";
    std::string estimated = s.library_estimated ? fmt::format(" ({} MP3 durations estimated)", s.library_estimated) : "";
    return fmt::format(
        "{} files scanned: {} added, {} changed, {} touched, {} unchanged, {} failed{}{}, {} vanished, {} removed, "
        "{} duplicate{}, {} metadata updates; read {} ({} of audio) in {} ({:.0f} files/s, {:.0f}x realtime); "
        "library: {} files, {} of audio{}; peak memory {}",
        s.scanned, s.added, s.changed, s.touched, s.unchanged, s.failed, failed.empty() ? "" : " (" + failed + ")", warnings,
        s.vanished, s.removed, s.duplicates, s.duplicates == 1 ? "" : "s", s.metadata_updated, human_bytes(static_cast<double>(s.bytes_read)),
        human_duration(s.audio_seconds_read), human_duration(s.elapsed_seconds), speed, realtime, s.library_files,
        human_duration(s.library_audio_seconds), estimated, human_bytes(static_cast<double>(peak_rss_bytes())));
}

int run_ingest(const IngestCommandOptions& options, const GlobalOptions& global) {
    IngestOptions ingest_options;
    for (const auto& input : options.inputs) {
        if (input == "-") {
            auto listed = read_path_list(std::cin, options.null_separated);
            ingest_options.inputs.insert(ingest_options.inputs.end(), listed.begin(), listed.end());
        } else {
            ingest_options.inputs.push_back(input);
        }
    }
    ingest_options.scan = {options.include, options.exclude, options.follow_symlinks};
    ingest_options.metadata_csv = options.metadata;
    ingest_options.prune = options.prune;
    ingest_options.verify = options.verify;
    ingest_options.strict = options.strict;
    ingest_options.threads = resolve_threads(global.threads);
    ingest_options.commit_interval_seconds = options.commit.interval_seconds;
    ingest_options.commit_every_files = options.commit.every_files;
    ingest_options.cancel = &interrupted;

    std::optional<TableFormat> format;
    if (!global.format.empty()) format = parse_table_format(global.format);

    StoreWriter store = open_store_writer(global, options.root);
    std::unique_ptr<TableWriter> listing;
    if (format) listing = std::make_unique<TableWriter>(std::cout, *format, listing_columns);
    install_interrupt_handlers();
    ProgressLine progress(global);
    IngestEventCallback on_event = [&](const IngestEvent& event) {
        if (event.kind == ChangeKind::failed)
            item_error(global, "{}: {} ({})", event.record.path, event.record.error, file_status_name(event.record.status));
        else if (!event.record.warning.empty() && event.kind != ChangeKind::metadata && event.kind != ChangeKind::touched)
            warn(global, "{}: {}", event.record.path, event.record.warning);
        if (listing) listing->row(listing_row(event));
    };
    IngestProgressCallback on_progress = [&](const IngestProgress& p) {
        progress.update(p.done, p.total, human_bytes(static_cast<double>(p.bytes)));
    };
    IngestSummary summary = ingest(store, ingest_options, on_event, on_progress);
    progress.clear();
    if (listing) listing->finish();
    for (const auto& warning : summary.warnings) warn(global, "{}", warning);
    if (global.verbosity >= 1) fmt::print(stderr, "audiosim ingest: {}\n", summary_line(summary));
    if (summary.interrupted) {
        fmt::print(stderr, "audiosim ingest: interrupted; everything read so far is committed\n");
        return exit_interrupted;
    }
    return summary.failed > 0 ? exit_partial : exit_ok;
}

}  // namespace

Runner setup_ingest(CLI::App& app) {
    auto options = std::make_shared<IngestCommandOptions>();
    app.add_option("inputs", options->inputs, "Folders (recursive), files, or - for a list of paths on stdin")->required();
    app.add_option("--include", options->include, "Only files matching this glob (repeatable; replaces the audio-extension filter)")
        ->allow_extra_args(false);
    app.add_option("--exclude", options->exclude, "Skip files and folders matching this glob (repeatable)")->allow_extra_args(false);
    app.add_option("--metadata", options->metadata, "CSV with a path column; other columns (title, tags, ...) are stored");
    app.add_option("--root", options->root, "Library root that stored paths are relative to (set when the store is created; default: the current folder)");
    app.add_flag("-L,--follow-symlinks", options->follow_symlinks, "Follow symbolic links inside folders (loops are detected)");
    app.add_flag("--prune", options->prune, "Remove files that vanished from the catalog");
    app.add_flag("--verify", options->verify, "Decode every frame to find corrupt streams (slower)");
    app.add_flag("--strict", options->strict, "Refuse a WAV/AIFF cut short (truncated) instead of reading the audio there is");
    app.add_flag("-0,--null", options->null_separated, "Paths read from stdin are NUL-separated");
    add_commit_options(app, options->commit);
    return [options](const GlobalOptions& global) { return run_ingest(*options, global); };
}

}  // namespace audiosim::cli
