#include "cli.hpp"

#include <charconv>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <thread>
#include <unistd.h>

#include "model/aspects.hpp"
#include "model/backend.hpp"
#include "model/spec.hpp"
#include "report/table.hpp"
#include "store/store.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace audiosim::cli {

std::atomic<bool> interrupted{false};

namespace {
void on_interrupt(int signal_number) {
    interrupted = true;
    std::signal(signal_number, SIG_DFL);  // a second Ctrl-C ends the process at once
}
}  // namespace

void install_interrupt_handlers() {
    std::signal(SIGINT, on_interrupt);
    std::signal(SIGTERM, on_interrupt);
}

unsigned resolve_threads(unsigned requested) {
    if (requested > 0) return requested;
    return std::max(1u, std::thread::hardware_concurrency());
}

CLI::Validator integer_in(uint64_t min, uint64_t max) {
    const std::string range = fmt::format("[{}, {}]", min, max);
    return CLI::Validator(
        [=](std::string& text) -> std::string {
            if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
                return fmt::format("{} is not an integer in {}", tsv_escape(text), range);
            uint64_t value = 0;
            const std::errc error = std::from_chars(text.data(), text.data() + text.size(), value).ec;
            if (error == std::errc::result_out_of_range || value < min || value > max)
                return fmt::format("{} is out of range {}", text, range);
            text = std::to_string(value);
            return "";
        },
        range);
}

namespace {
CLI::Validator finite_in(double min, double max, bool above_min) {
    const std::string range = fmt::format("{}{}, {}]", above_min ? "(" : "[", min, max);
    return CLI::Validator(
        [=](std::string& text) -> std::string {
            char* end = nullptr;
            double value = std::strtod(text.c_str(), &end);
            if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value))
                return fmt::format("{} is not a finite number in {}", tsv_escape(text), range);
            if (value < min || value > max || (above_min && value == min))
                return fmt::format("{} is out of range {}", text, range);
            return "";
        },
        range);
}
}  // namespace

CLI::Validator number_in(double min, double max) { return finite_in(min, max, false); }
CLI::Validator positive_number(double max) { return finite_in(0, max, true); }

void add_commit_options(CLI::App& app, CommitOptions& options) {
    app.add_option("--commit-interval", options.interval_seconds, "Commit progress at least every SECONDS (default 30)")
        ->check(positive_number(max_seconds));
    app.add_option("--commit-every", options.every_files, "Also commit after every N files (default 0: by time only)")
        ->transform(integer_in(0, 1'000'000'000));
}

void add_retry_failed_option(CLI::App& app, bool& retry_failed) {
    app.add_flag("--retry-failed", retry_failed,
                 "Try again files that failed in an earlier run (else they wait until they change; status --errors lists them)");
}

std::string failed_before_note(size_t files) {
    return files ? fmt::format(" (+{} failed before, not retried: status --errors, --retry-failed)", files) : "";
}

void add_set_options(CLI::App& app, SetOptions& options) {
    app.add_option("--model", options.model,
                   "Model name, id or sidecar/.pt path (default: the store's only embedding set, else audiosim-dsp)");
    app.add_option("--profile", options.profile,
                   "Chunk profile the embeddings were made with (default: the store's only set, else sample)");
    app.add_option("--embeddings", options.embeddings, "The embedding set by key PROFILE/MODEL_ID (instead of --model)")
        ->excludes(app.get_option("--model"));
}

void add_labels_options(CLI::App& app, LabelsOptions& options) {
    auto file = app.add_option("--labels", options.file,
                               "Labels TSV: header row, a path (or relative_path) and a label column; paths relative "
                               "to the library root or absolute");
    auto folders = app.add_flag("--labels-from-folders", options.from_folders, "Label every file by its parent folder's name");
    file->excludes(folders);
}

void require_labels(const LabelsOptions& options) {
    if (options.file.empty() && !options.from_folders) throw Error(ErrorKind::usage, "give --labels FILE.tsv or --labels-from-folders");
}

Labels load_labels(const LabelsOptions& options, const Catalog& catalog, const std::string& library_root) {
    require_labels(options);
    return options.from_folders ? labels_from_folders(catalog) : read_labels_tsv(options.file, library_root);
}

void warn_unmatched_labels(const GlobalOptions& global, const LabelsOptions& options, const Labels& labels,
                           size_t unmatched_rows, const std::string& library_root) {
    if (unmatched_rows > 0 && !options.from_folders)
        warn(global, "{}: {} label rows name no stored file (paths are relative to the library root {})", labels.source,
             unmatched_rows, library_root);
}

std::string resolve_set_key(const Manifest& manifest, const SetOptions& options) {
    if (!options.embeddings.empty()) return options.embeddings;
    auto default_key = [&] {
        return (options.profile.empty() ? "sample" : options.profile) + "/" + find_model(options.model).id();
    };
    if (options.given() || manifest.embedding_sets.empty()) return default_key();
    if (manifest.embedding_sets.size() == 1) return manifest.embedding_sets.begin()->first;
    std::string key = default_key();
    if (manifest.embedding_sets.count(key)) return key;
    std::string keys;
    for (const auto& entry : manifest.embedding_sets) keys += (keys.empty() ? "" : ", ") + entry.first;
    throw Error(ErrorKind::usage, fmt::format("the store holds several embedding sets ({}): choose one with --model "
                                              "and --profile, or --embeddings",
                                              keys));
}

void add_fusion_option(CLI::App& app, std::vector<std::string>& fuse) {
    app.add_option("--fuse", fuse,
                   "MODEL[=WEIGHT]: score with several models' file vectors of the --profile at once, each cosine "
                   "weighted (default weight 1); repeatable, instead of --model")
        ->allow_extra_args(false);
}

void add_aspect_option(CLI::App& app, std::string& aspect) {
    std::string help = "A named fusion of models, instead of --model or --fuse.";
    for (const AspectPreset& preset : aspect_presets()) help += fmt::format(" {}: {}.", preset.name, preset.what);
    app.add_option("--aspect", aspect, help);
}

void apply_aspect(const std::string& aspect, const SetOptions& set, std::vector<std::string>& fuse) {
    if (aspect.empty()) return;
    if (!fuse.empty() || !set.model.empty() || !set.embeddings.empty())
        throw Error(ErrorKind::usage, "--aspect names the models itself: give it without --fuse, --model or --embeddings");
    for (const auto& [model, weight] : aspect_preset(aspect).models) {
        try {
            find_model(model);
        } catch (const Error& error) {
            if (error.kind() != ErrorKind::model) throw;
            throw Error(ErrorKind::model, fmt::format("--aspect {} needs the model {}: install it with "
                                                      "scripts/install-model.sh {}", aspect, model, model));
        }
        fuse.push_back(fmt::format("{}={}", model, weight));
    }
}

namespace {

// One --fuse value: MODEL and WEIGHT (1 when not given).
std::pair<std::string, double> parse_fuse_item(const std::string& item) {
    size_t equals = item.rfind('=');
    double weight = 1;
    if (equals != std::string::npos) {
        try {
            size_t used = 0;
            weight = std::stod(item.substr(equals + 1), &used);
            if (used != item.size() - equals - 1) throw std::invalid_argument(item);
        } catch (const std::exception&) {
            throw Error(ErrorKind::usage, fmt::format("--fuse {}: the weight after '=' is not a number", item));
        }
        if (!(weight > 0) || !std::isfinite(weight))
            throw Error(ErrorKind::usage, fmt::format("--fuse {}: the weight must be a positive number", item));
    }
    return {item.substr(0, equals), weight};
}

}  // namespace

std::vector<std::pair<std::string, double>> scored_sets(const Manifest& manifest, const SetOptions& set,
                                                        const std::vector<std::string>& fuse) {
    if (fuse.empty()) return {{resolve_set_key(manifest, set), 1.0}};
    if (!set.model.empty() || !set.embeddings.empty())
        throw Error(ErrorKind::usage, "--fuse names the models itself: give it without --model or --embeddings");
    std::vector<std::pair<std::string, double>> sets;
    for (const std::string& item : fuse) {
        auto [model, weight] = parse_fuse_item(item);
        SetOptions one;
        one.model = model;
        one.profile = set.profile;
        sets.emplace_back(resolve_set_key(manifest, one), weight);
    }
    return sets;
}

EmbeddingTable load_scored_embeddings(const Manifest& manifest, const std::function<EmbeddingTable(const std::string&)>& load,
                                      const SetOptions& set, const std::vector<std::string>& fuse, std::string& name) {
    auto sets = scored_sets(manifest, set, fuse);
    if (fuse.empty()) {
        name = sets.front().first;
        stored_embedding_set(manifest, name);
        return load(name);
    }
    std::vector<EmbeddingTable> tables;
    for (const auto& [key, weight] : sets) {
        stored_embedding_set(manifest, key);  // Error(input) naming the sets there are
        const size_t slash = key.find('/');
        name += fmt::format("{}+{}={}", tables.empty() ? key.substr(0, slash) + "/fusion" : "", key.substr(slash + 1), weight);
        tables.push_back(load(key));
    }
    std::vector<WeightedTable> weighted;
    for (size_t i = 0; i < tables.size(); ++i) weighted.push_back({&tables[i], sets[i].second});
    return fuse_file_vectors(weighted);
}

EmbeddingTable load_scored_embeddings(StoreReader& store, const SetOptions& set, const std::vector<std::string>& fuse,
                                      std::string& name) {
    return load_scored_embeddings(store.manifest(), [&](const std::string& key) { return store.load_embeddings(key); },
                                  set, fuse, name);
}

std::string store_path(const GlobalOptions& global) {
    if (auto found = find_store(global.store)) return *found;
    if (global.store_use == StoreUse::create) return absolute_path(".audiosim");
    throw Error(ErrorKind::input, "no audiosim store found (give --store PATH, set AUDIOSIM_STORE, or run ingest first)");
}

StoreWriter open_store_writer(const GlobalOptions& global, const std::string& library_root) {
    const StoreOpen open = global.store_use == StoreUse::create ? StoreOpen::create : StoreOpen::existing;
    return StoreWriter(store_path(global), {global.command_line, library_root, global.wait, open});
}

StoreReader open_store_reader(const GlobalOptions& global) { return StoreReader(store_path(global)); }

void add_device_option(CLI::App& app, std::string& device, const std::string& use) {
    CLI::Validator known(
        [](std::string& value) {
            try {
                validate_device(value);
            } catch (const Error& error) {
                return std::string(error.what());
            }
            return std::string();
        },
        "DEVICE");
    app.add_option("--device", device, use + ": auto (CUDA if present), cpu, cuda, cuda:N")->check(known);
}

namespace {
// Like git's GIT_PROGRESS_DELAY: AUDIOSIM_PROGRESS_DELAY seconds before progress shows (default 0.5).
std::chrono::milliseconds progress_delay() {
    const char* text = std::getenv("AUDIOSIM_PROGRESS_DELAY");
    char* end = nullptr;
    double seconds = text ? std::strtod(text, &end) : 0.5;
    if (!text || end == text || seconds < 0) seconds = 0.5;
    return std::chrono::milliseconds(static_cast<long>(seconds * 1000));
}
}  // namespace

ProgressLine::ProgressLine(const GlobalOptions& global)
    : enabled_(global.verbosity >= 1 && ::isatty(STDERR_FILENO)), delay_(progress_delay()),
      start_(std::chrono::steady_clock::now()), last_(start_) {}

ProgressLine::~ProgressLine() { clear(); }

void ProgressLine::clear() {
    if (drawn_) fmt::print(stderr, "\r\033[K");
    drawn_ = false;
}

void ProgressLine::update(size_t done, size_t total, const std::string& detail) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    if (now - start_ < delay_ || (drawn_ && now - last_ < std::chrono::milliseconds(100))) return;
    last_ = now;
    drawn_ = true;
    constexpr int width = 30;
    double fraction = total ? static_cast<double>(done) / static_cast<double>(total) : 0.0;
    int filled = static_cast<int>(fraction * width);
    fmt::print(stderr, "\r\033[K[{:=<{}}{: <{}}] {}/{} {}", "", filled, "", width - filled, done, total, detail);
    std::fflush(stderr);
}

std::string human_bytes(double bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int unit = 0;
    while (bytes >= 1024 && unit < 4) {
        bytes /= 1024;
        ++unit;
    }
    return unit == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, units[unit]);
}

std::string human_duration(double seconds) {
    if (seconds < 120) return fmt::format("{:.1f} s", seconds);
    if (seconds < 7200) return fmt::format("{:.1f} min", seconds / 60);
    return fmt::format("{:.2f} h", seconds / 3600);
}

}  // namespace audiosim::cli
