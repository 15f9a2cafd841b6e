// audiosim check: verify the store file by file and as a whole (fsck); --repair makes it whole again.
#include <iostream>
#include <memory>
#include <optional>

#include "check/store_check.hpp"
#include "commands.hpp"
#include "report/table.hpp"
#include "util/error.hpp"

namespace audiosim::cli {
namespace {

struct CheckCommandOptions {
    bool repair = false;
    std::string root;
};

const std::vector<std::string> columns = {"event", "file", "detail"};

int run_check(const CheckCommandOptions& options, const GlobalOptions& global) {
    std::optional<TableFormat> format;
    if (!global.format.empty()) format = parse_table_format(global.format);  // Error(usage) before any work
    const std::string path = store_path(global);
    ProgressLine progress(global);
    StoreCheckOptions check{options.repair, options.root, global.command_line, global.wait,
                            [&](size_t done, size_t total) { progress.update(done, total, "files"); }};
    StoreCheckReport report = check_store(path, check);
    progress.clear();
    std::optional<TableWriter> table;
    if (format) table.emplace(std::cout, *format, columns);
    for (const auto& problem : report.problems) {
        if (table) table->row({"problem", problem.file, problem.cause});
        item_error(global, "{}{}{}", problem.file, problem.file.empty() ? "" : ": ", problem.cause);
    }
    for (const auto& repair : report.repairs) {
        if (table) table->row({"repair", "", repair});
        if (global.verbosity >= 1) fmt::print(stderr, "audiosim check: repair: {}\n", repair);
    }
    bool clean = report.problems.empty();
    if (options.repair && !clean) {
        // What counts is the store the repair left: check it again, without repairing.
        StoreCheckReport after = check_store(path, StoreCheckOptions{false, "", global.command_line, 0, nullptr});
        for (const auto& problem : after.problems) {
            if (table) table->row({"remaining", problem.file, problem.cause});
            item_error(global, "after repair: {}{}{}", problem.file, problem.file.empty() ? "" : ": ", problem.cause);
        }
        clean = after.problems.empty();
    }
    if (table) table->finish();
    if (global.verbosity >= 1)
        fmt::print(stderr, "audiosim check: {}: {} files checked ({}, {} without a checksum), {} problems{}, {} "
                           "unreferenced files (the next writer removes them); {}\n",
                   path, report.files_checked, human_bytes(static_cast<double>(report.bytes_checked)),
                   report.files_without_checksum, report.problems.size(),
                   options.repair ? fmt::format(", {} repairs", report.repairs.size()) : "", report.unreferenced_files,
                   human_duration(report.elapsed_seconds));
    if (!clean && !options.repair && global.verbosity >= 1)
        fmt::print(stderr, "audiosim check: the store is damaged: run `audiosim check --repair`\n");
    return clean ? exit_ok : exit_format;
}

}  // namespace

Runner setup_check(CLI::App& app) {
    auto options = std::make_shared<CheckCommandOptions>();
    app.add_flag("--repair", options->repair,
                 "Rebuild a lost manifest from the files' stamps, move damaged files to STORE/damaged/ and commit a "
                 "store without them (the next ingest, chunk and embed redo what they held)");
    app.add_option("--root", options->root,
                   "Library root for a rebuilt manifest when the store's files do not record it (stores older than check)");
    app.footer("Exit codes: 0 the store is whole (after --repair: whole again), 4 problems found (each named on stderr; "
               "--format tsv|csv|json|jsonl lists them on stdout).");
    return [options](const GlobalOptions& global) { return run_check(*options, global); };
}

}  // namespace audiosim::cli
