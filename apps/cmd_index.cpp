// audiosim index: build or update the hnswlib index of each embedding set, optionally measuring
// its recall against exact search.
#include <algorithm>
#include <iostream>
#include <memory>
#include <optional>

#include "commands.hpp"
#include "index/store_index.hpp"
#include "report/table.hpp"
#include "store/store.hpp"
#include "util/error.hpp"
#include "util/system.hpp"

namespace audiosim::cli {
namespace {

struct IndexCommandOptions {
    SetOptions set;
    std::optional<size_t> M, ef_construction, ef_search;
    bool rebuild = false;
    double max_deleted = 0.2;
    bool verify = false;
    size_t verify_queries = 1000;
};

constexpr size_t verify_k = 10;
constexpr uint64_t max_ef = 100'000;  // hnswlib keeps ef candidates per search: more is memory, not recall
constexpr uint64_t verify_seed = 1;

const std::vector<std::string> columns = {"embeddings", "action", "reason", "vectors", "added", "removed", "deleted",
                                          "M", "ef_construction", "ef_search", "seconds", "recall_at_10", "file"};

std::vector<nlohmann::json> row(const IndexBuildResult& r, std::optional<double> recall) {
    return {r.key, r.action, r.reason, r.count, r.added, r.removed, r.deleted, r.params.M, r.params.ef_construction,
            r.params.ef_search, r.seconds, recall ? nlohmann::json(*recall) : nlohmann::json(), r.file};
}

std::string summary_line(const IndexBuildResult& r, std::optional<double> recall, size_t verify_queries) {
    std::string line = fmt::format("{}: {}", r.key, r.action);
    if (!r.reason.empty()) line += fmt::format(" ({})", r.reason);
    line += fmt::format("; {} vectors", r.count);
    if (r.action == "updated") line += fmt::format(" (+{} -{}, {} deleted kept in the graph)", r.added, r.removed, r.deleted);
    if (r.action == "up to date" && r.labels_written) line += " (labels written again: the store changed)";
    line += fmt::format("; M {}, ef_construction {}, ef {}; {}", r.params.M, r.params.ef_construction, r.params.ef_search,
                        human_duration(r.seconds));
    if (recall)
        line += fmt::format("; recall@{} {:.4f} on {} queries", verify_k, *recall, std::min(verify_queries, r.count));
    return line;
}

int run_index(const IndexCommandOptions& options, const GlobalOptions& global) {
    std::optional<TableFormat> format;
    if (!global.format.empty()) format = parse_table_format(global.format);  // Error(usage) before any work
    IndexBuildOptions build;
    build.M = options.M;
    build.ef_construction = options.ef_construction;
    build.ef_search = options.ef_search;
    build.rebuild = options.rebuild;
    build.max_deleted_share = options.max_deleted;
    build.threads = resolve_threads(global.threads);

    StoreWriter store = open_store_writer(global);
    std::vector<std::string> keys;
    if (options.set.given()) {
        keys.push_back(resolve_set_key(store.manifest(), options.set));
    } else {
        for (const auto& entry : store.manifest().embedding_sets) keys.push_back(entry.first);
        if (keys.empty()) throw Error(ErrorKind::input, fmt::format("{}: no embeddings to index (run audiosim embed)", store.path()));
    }

    std::optional<TableWriter> table;
    if (format) table.emplace(std::cout, *format, columns);
    nlohmann::json summary = nlohmann::json::array();
    for (const std::string& key : keys) {
        IndexBuildResult result = update_index(store, key, build);
        std::optional<double> recall;
        if (options.verify) {
            // The committed files, loaded as a query would: this checks save and load as well.
            HnswIndex index = HnswIndex::load(result.file);
            recall = verify_index(index, store.load_embeddings(key), verify_k, options.verify_queries, verify_seed,
                                  build.threads);
        }
        if (global.verbosity >= 1) fmt::print(stderr, "audiosim index: {}\n", summary_line(result, recall, options.verify_queries));
        if (recall && *recall < 0.99)
            warn(global, "{}: recall@{} {:.4f} is below 0.99: raise --ef (search) or --ef-construction and --M (rebuild)",
                 key, verify_k, *recall);
        std::vector<nlohmann::json> cells = row(result, recall);
        nlohmann::json record;
        for (size_t i = 0; i < columns.size(); ++i) record[columns[i]] = cells[i];
        summary.push_back(record);
        if (table) table->row(cells);
    }
    store.finish_run("index", summary);
    if (table) table->finish();
    if (global.verbosity >= 1) fmt::print(stderr, "audiosim index: peak memory {}\n", human_bytes(static_cast<double>(peak_rss_bytes())));
    return exit_ok;
}

}  // namespace

Runner setup_index(CLI::App& app) {
    auto options = std::make_shared<IndexCommandOptions>();
    add_set_options(app, options->set);
    app.add_option("--M", options->M, "Graph degree (default 16; a change rebuilds)")->transform(integer_in(2, 10'000));
    app.add_option("--ef-construction", options->ef_construction, "Candidate list while building (default 200; a change rebuilds)")
        ->transform(integer_in(1, max_ef));
    app.add_option("--ef", options->ef_search, "Candidate list while searching (default 100; stored in the index)")
        ->transform(integer_in(1, max_ef));
    app.add_flag("--rebuild", options->rebuild, "Build from scratch even when an update would do");
    app.add_option("--max-deleted", options->max_deleted,
                   "Rebuild instead of updating when more than this share of the graph would be deleted vectors (default 0.2)")
        ->check(number_in(0, 1));
    app.add_flag("--verify", options->verify, "Measure recall@10 against exact search on sampled stored chunks");
    app.add_option("--verify-queries", options->verify_queries, "Chunks sampled as queries by --verify (default 1000)")
        ->transform(integer_in(1, 10'000'000));
    app.footer("Without --model/--profile/--embeddings, every embedding set of the store is indexed. Stale indexes are "
               "updated incrementally (new chunks added, chunks of changed or removed files marked deleted); "
               "--format tsv|csv|json|jsonl prints one row per set on stdout.");
    return [options](const GlobalOptions& global) { return run_index(*options, global); };
}

}  // namespace audiosim::cli
