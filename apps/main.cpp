// audiosim: parse, dispatch through the command table, and map every error to its exit code here,
// in the one catch site (docs/CLI.md).
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <new>

#include "commands.hpp"
#include "util/error.hpp"

namespace audiosim::cli {
namespace {

int exit_code_for(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::usage: return exit_usage;
        case ErrorKind::input: return exit_input;
        case ErrorKind::format: return exit_format;
        case ErrorKind::model: return exit_model;
        case ErrorKind::busy: return exit_busy;
        case ErrorKind::io: return exit_io;
        case ErrorKind::internal: return exit_internal;
    }
    return exit_internal;
}

std::string shell_quote(const std::string& word) {
    if (!word.empty() && word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=./:,@%") == std::string::npos)
        return word;
    std::string quoted = "'";
    for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}

std::string joined_command_line(int argc, char** argv) {
    std::string line;
    for (int i = 0; i < argc; ++i) line += (i ? " " : "") + shell_quote(argv[i]);
    return line;
}

// stdout is data: a write error there (a full disk, a closed pipe) must not pass silently.
int check_stdout(const std::string& command, int code) {
    std::cout.flush();
    if (!std::cout.good() || std::fflush(stdout) != 0 || std::ferror(stdout)) {
        std::fprintf(stderr, "audiosim %s: error: cannot write to standard output: %s\n", command.c_str(),
                     std::strerror(errno ? errno : EIO));
        return exit_io;
    }
    return code;
}

void report(const std::string& command, const std::string& message) {
    std::cout.flush();
    std::fprintf(stderr, "audiosim%s%s: error: %s\n", command.empty() ? "" : " ", command.c_str(), message.c_str());
}

int run(int argc, char** argv) {
    GlobalOptions global;
    CLI::App app{"audiosim: find similar sounds in a sample library, batch and reproducible"};
    app.name("audiosim");
    app.require_subcommand(0, 1);
    bool show_version = false;
    app.add_flag("--version", show_version, "Print the versions of audiosim and its libraries");
    app.add_option("--store", global.store, "Store folder (default: $AUDIOSIM_STORE, else the nearest .audiosim)");
    app.add_option("-j,--threads", global.threads, "Worker threads (default: all cores)")
        ->transform(integer_in(1, max_threads));
    app.add_option("--wait", global.wait, "Seconds to wait for another writer holding the store (default 0)")
        ->check(number_in(0, max_seconds));
    app.add_option("--format", global.format, "Output format on stdout (per command: tsv, csv, json, jsonl, text)");
    app.add_flag_function("-v,--verbose", [&](int64_t count) { global.verbosity = 1 + static_cast<int>(count); }, "More messages on stderr");
    app.add_flag_function("-q,--quiet", [&](int64_t) { global.verbosity = 0; }, "Only errors that end the command");
    app.footer("Exit codes: 0 ok, 1 partial (some items failed), 2 usage, 3 input, 4 format, 5 model, 6 store busy, "
               "70 internal, 74 I/O, 130 interrupted. See docs/CLI.md.");

    std::map<CLI::App*, std::pair<const Command*, Runner>> runners;
    for (const auto& command : commands) {
        CLI::App* sub = app.add_subcommand(command.name, command.summary);
        sub->fallthrough();  // global options may follow the subcommand
        runners[sub] = {&command, command.setup(*sub)};
    }

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        if (error.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(error);
        // One line, named after the subcommand when parsing got that far.
        auto parsed = app.get_subcommands();
        std::string name = parsed.empty() ? "" : parsed.front()->get_name();
        report(name, fmt::format("{} (see audiosim {}--help)", error.what(), name.empty() ? "" : name + " "));
        return exit_usage;
    }
    auto selected = app.get_subcommands();
    if (show_version && selected.empty()) return check_stdout("version", print_versions());
    if (selected.empty()) {
        std::cout << app.help();
        return exit_usage;
    }
    auto& [command, runner] = runners.at(selected.front());
    const std::string name = command->name;
    global.command = name;
    global.store_use = command->store;
    global.command_line = joined_command_line(argc, argv);
    try {
        return check_stdout(name, runner(global));
    } catch (const Error& error) {
        report(name, error.what());
        return exit_code_for(error.kind());
    } catch (const std::bad_alloc&) {
        report(name, "out of memory");
        return exit_internal;
    } catch (const std::exception& error) {
        report(name, std::string("internal error: ") + error.what());
        return exit_internal;
    }
}

}  // namespace
}  // namespace audiosim::cli

int main(int argc, char** argv) {
    std::ios::sync_with_stdio(false);
    return audiosim::cli::run(argc, argv);
}
