// audiosim eval: retrieval quality (precision@1/5/10, mAP@10) of a store's embeddings on labeled
// files. The scoring is documented in lib/eval/eval.hpp and repeated in the report.
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "eval/eval.hpp"
#include "report/table.hpp"
#include "store/store.hpp"
#include "util/error.hpp"

namespace audiosim::cli {
namespace {

struct EvalCommandOptions {
    LabelsOptions labels;
    SetOptions set;
    std::vector<std::string> fuse;
    std::string aspect;
    std::vector<std::string> exclude_same;
};

// The scoring rules, as lines of the text report and joined for JSON (lib/eval/eval.hpp has them in full).
const std::vector<std::string> scoring_lines = {
    "file vector = L2-normalized mean of its chunk vectors (flagged chunks have none); score = cosine",
    "every labeled file with a vector queries the others; removed from its ranking: the query, exact "
    "duplicates (same content hash), files of its --exclude-same groups; ties broken by path",
    "relevant = same label; queries without a relevant candidate are skipped",
    "p@k = relevant in top k / k; AP@10 = sum of p@r over relevant ranks r <= 10 / min(10, relevant candidates)",
};

std::string scoring_text(const std::string& separator) {
    std::string text;
    for (const auto& line : scoring_lines) text += (text.empty() ? "" : separator) + line;
    return text;
}

const std::vector<std::string> label_columns = {"label", "queries", "skipped", "p_at_1", "p_at_5", "p_at_10", "map_at_10"};

nlohmann::json metric(const EvalMetrics& m, double value) { return m.queries > 0 ? nlohmann::json(value) : nlohmann::json(); }

std::vector<nlohmann::json> label_row(const LabelEval& row) {
    const EvalMetrics& m = row.metrics;
    return {row.label, m.queries, m.skipped, metric(m, m.precision[0]), metric(m, m.precision[1]),
            metric(m, m.precision[2]), metric(m, m.map)};
}

nlohmann::json result_json(const std::string& store, const std::string& key, const Labels& labels,
                           const EvalCommandOptions& options, const EvalResult& r) {
    nlohmann::json per_label = nlohmann::json::array();
    for (const LabelEval& row : r.per_label) {
        nlohmann::json object;
        auto cells = label_row(row);
        for (size_t i = 0; i < label_columns.size(); ++i) object[label_columns[i]] = cells[i];
        per_label.push_back(object);
    }
    nlohmann::json confusions = nlohmann::json::array();
    for (const Confusion& c : r.confusions)
        confusions.push_back({{"query_label", c.query_label}, {"retrieved_label", c.retrieved_label}, {"count", c.count}});
    const EvalMetrics& m = r.overall;
    return {{"store", store},
            {"embeddings", key},
            {"labels", labels.source},
            {"exclude_same", options.exclude_same},
            {"scoring", scoring_text("; ")},
            {"files", {{"catalog", r.catalog_files},
                       {"labeled_with_embeddings", r.labeled_with_vectors},
                       {"labeled_without_embeddings", r.labeled_without_vectors},
                       {"unlabeled_with_embeddings", r.unlabeled_with_vectors},
                       {"label_rows_without_file", r.label_rows_without_file}}},
            {"queries", m.queries},
            {"skipped_queries", m.skipped},
            {"duplicate_pairs_removed", r.duplicate_pairs},
            {"mean_candidates", r.mean_candidates},
            {"mean_relevant", r.mean_relevant},
            {"p_at_1", metric(m, m.precision[0])},
            {"p_at_5", metric(m, m.precision[1])},
            {"p_at_10", metric(m, m.precision[2])},
            {"map_at_10", metric(m, m.map)},
            {"per_label", per_label},
            {"confusions", confusions}};
}

std::string number(const EvalMetrics& m, double value) { return m.queries > 0 ? fmt::format("{:.3f}", value) : "-"; }

void print_text(const std::string& key, const Labels& labels, const EvalCommandOptions& options, const EvalResult& r) {
    const EvalMetrics& m = r.overall;
    std::string excluding;
    for (const auto& column : options.exclude_same) excluding += (excluding.empty() ? "" : ", ") + column;
    std::cout << fmt::format("embeddings  {}\n", key)
              << fmt::format("labels      {}{}\n", labels.source == "folders" ? "parent folder names" : labels.source,
                             excluding.empty() ? "" : "; candidates with the same " + excluding + " as the query removed")
              << fmt::format("scoring     {}\n", scoring_text("\n            "))
              << fmt::format("files       {} labeled with embeddings; {} labeled without embeddings; {} with embeddings "
                             "but no label; {} label rows naming no stored file\n",
                             r.labeled_with_vectors, r.labeled_without_vectors, r.unlabeled_with_vectors,
                             r.label_rows_without_file)
              << fmt::format("queries     {} ({} skipped: no relevant candidate); per query {:.1f} candidates, {:.1f} "
                             "relevant; {} exact-duplicate pairs removed\n",
                             m.queries, m.skipped, r.mean_candidates, r.mean_relevant, r.duplicate_pairs)
              << fmt::format("overall     p@1 {}  p@5 {}  p@10 {}  mAP@10 {}\n\n", number(m, m.precision[0]),
                             number(m, m.precision[1]), number(m, m.precision[2]), number(m, m.map));
    size_t width = 5;
    for (const LabelEval& row : r.per_label) width = std::max(width, row.label.size());
    std::cout << fmt::format("{:<{}}  {:>7}  {:>7}  {:>6}  {:>6}  {:>6}  {:>6}\n", "label", width, "queries", "skipped",
                             "p@1", "p@5", "p@10", "mAP@10");
    for (const LabelEval& row : r.per_label) {
        const EvalMetrics& l = row.metrics;
        std::cout << fmt::format("{:<{}}  {:>7}  {:>7}  {:>6}  {:>6}  {:>6}  {:>6}\n", tsv_escape(row.label), width,
                                 l.queries, l.skipped, number(l, l.precision[0]), number(l, l.precision[1]),
                                 number(l, l.precision[2]), number(l, l.map));
    }
    if (r.confusions.empty()) return;
    std::cout << fmt::format("\nmost confused (query label -> wrong label among the top {})\n", eval_confusion_depth);
    for (const Confusion& c : r.confusions)
        std::cout << fmt::format("  {:>5}  {} -> {}\n", c.count, tsv_escape(c.query_label), tsv_escape(c.retrieved_label));
}

int run_eval(EvalCommandOptions options, const GlobalOptions& global) {
    require_labels(options.labels);
    std::string format = global.format.empty() ? "text" : global.format;
    if (format != "text") parse_table_format(format);  // Error(usage) before any work

    apply_aspect(options.aspect, options.set, options.fuse);
    StoreReader store = open_store_reader(global);
    Catalog catalog = store.load_catalog();
    Labels labels = load_labels(options.labels, catalog, store.manifest().library_root);
    EvalOptions eval_options;
    eval_options.exclude_same = options.exclude_same;
    eval_options.threads = resolve_threads(global.threads);
    std::string key;
    EmbeddingTable embeddings = load_scored_embeddings(store, options.set, options.fuse, key);
    EvalResult result = evaluate(catalog, embeddings, labels, eval_options);

    warn_unmatched_labels(global, options.labels, labels, result.label_rows_without_file, store.manifest().library_root);
    if (format == "text") {
        print_text(key, labels, options, result);
    } else if (format == "json") {
        std::cout << result_json(store.path(), key, labels, options, result)
                         .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
                  << '\n';
    } else {
        TableWriter table(std::cout, parse_table_format(format), label_columns);
        for (const LabelEval& row : result.per_label) table.row(label_row(row));
    }
    return exit_ok;
}

}  // namespace

Runner setup_eval(CLI::App& app) {
    auto options = std::make_shared<EvalCommandOptions>();
    add_labels_options(app, options->labels);
    add_set_options(app, options->set);
    add_fusion_option(app, options->fuse);
    add_aspect_option(app, options->aspect);
    app.add_option("--exclude-same", options->exclude_same,
                   "A labels column (e.g. machine): candidates with the query's value are removed from its ranking; "
                   "repeatable")
        ->allow_extra_args(false);
    app.footer("Reports precision@1, @5, @10 and mAP@10 (--format json: one object; tsv, csv, jsonl: the per-label rows).");
    return [options](const GlobalOptions& global) { return run_eval(*options, global); };
}

}  // namespace audiosim::cli
