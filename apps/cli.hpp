// What every subcommand shares: global options, the command table's row type, progress drawing,
// and stderr messages. Subcommands parse options and call lib/; they hold no logic of their own.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "eval/eval.hpp"
#include "store/store.hpp"

namespace audiosim::cli {

// How a command uses the store: its row in the command table says it once, and the command opens
// the store through open_store_* below.
enum class StoreUse { none, read, write, create };

struct GlobalOptions {
    std::string store;      // --store (else AUDIOSIM_STORE, else nearest .audiosim)
    unsigned threads = 0;   // --threads (0, not given: all cores)
    int verbosity = 1;      // -q: 0, default 1, -v: 2
    double wait = 0;        // --wait SECONDS for another writer
    std::string format;     // --format, validated by each command
    std::string command_line;
    std::string command;    // the subcommand's name, for messages
    StoreUse store_use = StoreUse::none;  // the subcommand's row
};

using Runner = std::function<int(const GlobalOptions&)>;

// A row of the command table: setup adds the subcommand's options and returns its runner.
struct Command {
    const char* name;
    const char* summary;
    StoreUse store;
    Runner (*setup)(CLI::App& app);
};

// Documented exit codes (docs/CLI.md).
enum ExitCode : int {
    exit_ok = 0,
    exit_partial = 1,
    exit_usage = 2,
    exit_input = 3,
    exit_format = 4,
    exit_model = 5,
    exit_busy = 6,
    exit_internal = 70,
    exit_io = 74,
    exit_interrupted = 130,
};

// Set by SIGINT/SIGTERM; long commands commit what they have and stop.
extern std::atomic<bool> interrupted;
void install_interrupt_handlers();

unsigned resolve_threads(unsigned requested);

// Checks of numeric options, with one-line messages naming the value and the range (--help shows
// the range too). CLI11 alone takes what strtoull takes: a 20-digit number wraps to the largest
// one, and 010 is octal.
// Decimal digits from min to max, passed on without leading zeros: give it to Option::transform,
// since check() may not change the value.
CLI::Validator integer_in(uint64_t min, uint64_t max);
// A finite number from min to max.
CLI::Validator number_in(double min, double max);
// A finite number above 0, up to max.
CLI::Validator positive_number(double max);
constexpr double max_seconds = 86400;  // the longest time option (--wait, --commit-interval): a day
constexpr uint64_t max_threads = 1024;
constexpr uint64_t max_batch_size = 4096;  // embed and query --batch-size

// --commit-interval and --commit-every, shared by every command that commits as it goes.
struct CommitOptions {
    double interval_seconds = 30;
    size_t every_files = 0;
};
void add_commit_options(CLI::App& app, CommitOptions& options);
// --retry-failed of chunk and embed: files whose last try failed are tried again before they change.
void add_retry_failed_option(CLI::App& app, bool& retry_failed);
// Which embedding set a command reads: --embeddings KEY, or --model and --profile.
struct SetOptions {
    std::string model;
    std::string profile;
    std::string embeddings;
    bool given() const { return !model.empty() || !profile.empty() || !embeddings.empty(); }
};
void add_set_options(CLI::App& app, SetOptions& options);
// --embeddings as given; else --model and --profile (defaulting to audiosim-dsp and sample); with
// none of them, the store's only set, or else the default one when the store has it. Error(usage)
// listing the sets when that leaves a choice.
std::string resolve_set_key(const Manifest& manifest, const SetOptions& options);

// --fuse MODEL[=WEIGHT] (repeatable; eval, classify, pairs, report): file vectors of several models of one
// profile, fused (fuse_file_vectors). Without --fuse: the one set of SetOptions.
void add_fusion_option(CLI::App& app, std::vector<std::string>& fuse);
// --aspect NAME (query, eval, classify, pairs, report): a named fusion preset (lib/model/aspects.hpp).
void add_aspect_option(CLI::App& app, std::string& aspect);
// With an --aspect, `fuse` becomes its models; Error(usage) when it is given with --fuse, --model
// or --embeddings, Error(model) naming the install command for a preset model not installed.
void apply_aspect(const std::string& aspect, const SetOptions& set, std::vector<std::string>& fuse);
// The sets a command scores with their weights: the one set of SetOptions (weight 1), or each --fuse
// MODEL[=WEIGHT]'s set of the profile. Error(usage) for a malformed weight, or --fuse given with
// --model or --embeddings.
std::vector<std::pair<std::string, double>> scored_sets(const Manifest& manifest, const SetOptions& set,
                                                        const std::vector<std::string>& fuse);
// The embeddings a file-level command scores, and their key: a set's own, or for a fusion
// "PROFILE/fusion+MODEL_ID=WEIGHT+MODEL_ID=WEIGHT..." (pairs stores its pairs under it).
// Error(usage) for a malformed weight or --fuse with --embeddings/--model; Error(input) naming the
// sets there are for a set the store lacks. `load` reads one set.
EmbeddingTable load_scored_embeddings(const Manifest& manifest, const std::function<EmbeddingTable(const std::string&)>& load,
                                      const SetOptions& set, const std::vector<std::string>& fuse, std::string& name);
EmbeddingTable load_scored_embeddings(StoreReader& store, const SetOptions& set,
                                      const std::vector<std::string>& fuse, std::string& name);

// --labels FILE.tsv | --labels-from-folders, for the commands that read labels (eval, classify).
struct LabelsOptions {
    std::string file;
    bool from_folders = false;
};
void add_labels_options(CLI::App& app, LabelsOptions& options);
// Error(usage) when neither option is given (checked before the store is opened).
void require_labels(const LabelsOptions& options);
Labels load_labels(const LabelsOptions& options, const Catalog& catalog, const std::string& library_root);
// A warning when labels file rows name no stored file (paths relative to another root, say).
void warn_unmatched_labels(const GlobalOptions& global, const LabelsOptions& options, const Labels& labels,
                           size_t unmatched_rows, const std::string& library_root);

// The command's store: --store, $AUDIOSIM_STORE or the nearest .audiosim; Error(input) when there
// is none, except for StoreUse::create (ingest), which makes ./.audiosim.
std::string store_path(const GlobalOptions& global);
// Opened for writing, waiting --wait seconds for another writer; `library_root` for create only.
StoreWriter open_store_writer(const GlobalOptions& global, const std::string& library_root = "");
StoreReader open_store_reader(const GlobalOptions& global);

// --device of the commands that run a model or torch's exact search, checked when parsed; `use`
// starts the help text.
void add_device_option(CLI::App& app, std::string& device, const std::string& use);

template <typename... Args>
void warn(const GlobalOptions& global, fmt::format_string<Args...> format, Args&&... args) {
    if (global.verbosity < 1) return;
    fmt::print(stderr, "audiosim {}: warning: {}\n", global.command, fmt::format(format, std::forward<Args>(args)...));
}

template <typename... Args>
void item_error(const GlobalOptions& global, fmt::format_string<Args...> format, Args&&... args) {
    if (global.verbosity < 1) return;
    fmt::print(stderr, "audiosim {}: error: {}\n", global.command, fmt::format(format, std::forward<Args>(args)...));
}

// A progress line on stderr: only on a terminal, only after a short delay ($AUDIOSIM_PROGRESS_DELAY
// seconds, default 0.5), at most 10 times a second.
class ProgressLine {
public:
    explicit ProgressLine(const GlobalOptions& global);
    ~ProgressLine();
    void update(size_t done, size_t total, const std::string& detail);
    void clear();  // before the summary is printed

private:
    bool enabled_;
    std::chrono::milliseconds delay_;
    bool drawn_ = false;
    std::chrono::steady_clock::time_point start_, last_;
};

// ", and N failed before (not retried: --retry-failed)" for a summary line, or "" for none.
std::string failed_before_note(size_t files);

std::string human_bytes(double bytes);
std::string human_duration(double seconds);

}  // namespace audiosim::cli
