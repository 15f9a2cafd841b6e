// audiosim classify: a label for every unlabeled stored file from its labeled neighbours (weighted
// kNN, lib/eval/classify.hpp), and with --evaluate how often that vote is right on the labeled
// files (leave-one-out).
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "eval/classify.hpp"
#include "report/table.hpp"
#include "store/store.hpp"
#include "util/error.hpp"

namespace audiosim::cli {
namespace {

struct ClassifyCommandOptions {
    LabelsOptions labels;
    SetOptions set;
    std::vector<std::string> fuse;
    std::string aspect;
    ClassifyOptions classify;
};

const std::vector<std::string> prediction_columns = {"path", "label", "confidence", "votes", "voters", "neighbours"};
const std::vector<std::string> held_out_columns = {"path", "true_label", "label", "correct", "confidence", "votes",
                                                   "voters", "neighbours"};

// TSV/CSV: the voters as "label score path" items joined by " | " (JSON keeps them as objects).
std::string voters_cell(const Prediction& prediction) {
    std::string cell;
    for (const Voter& voter : prediction.voters)
        cell += fmt::format("{}{} {:.6f} {}", cell.empty() ? "" : " | ", voter.label, voter.score, voter.path);
    return cell;
}

nlohmann::json label_cell(const Prediction& p) { return p.label.empty() ? nlohmann::json() : nlohmann::json(p.label); }
nlohmann::json confidence_cell(const Prediction& p) {
    return p.label.empty() ? nlohmann::json() : nlohmann::json(score_cell(p.confidence));
}

nlohmann::ordered_json prediction_object(const Prediction& p, bool held_out) {
    nlohmann::ordered_json object;
    object["path"] = p.path;
    if (held_out) object["true_label"] = p.true_label;
    object["label"] = label_cell(p);
    if (held_out) object["correct"] = !p.label.empty() && p.label == p.true_label;
    object["confidence"] = confidence_cell(p);
    object["votes"] = p.votes;
    object["voters"] = p.voters.size();
    object["neighbours"] = nlohmann::ordered_json::array();
    for (const Voter& v : p.voters)
        object["neighbours"].push_back({{"path", v.path}, {"label", v.label}, {"score", score_cell(v.score)},
                                        {"weight", score_cell(v.weight)}});
    return object;
}

void write_rows(TableFormat format, const std::vector<Prediction>& rows, bool held_out) {
    TableWriter table(std::cout, format, held_out ? held_out_columns : prediction_columns);
    for (const Prediction& p : rows) {
        if (format == TableFormat::json || format == TableFormat::jsonl) {
            table.object(prediction_object(p, held_out));
        } else if (held_out) {
            table.row({p.path, p.true_label, label_cell(p), !p.label.empty() && p.label == p.true_label, confidence_cell(p),
                       p.votes, p.voters.size(), voters_cell(p)});
        } else {
            table.row({p.path, label_cell(p), confidence_cell(p), p.votes, p.voters.size(), voters_cell(p)});
        }
    }
}

double ratio(size_t part, size_t whole) { return whole ? static_cast<double>(part) / static_cast<double>(whole) : 0.0; }

nlohmann::json accuracy_json(const std::string& key, const Labels& labels, const ClassifyCommandOptions& options,
                             const ClassifyResult& r) {
    const size_t predicted = r.held_out.size() - r.held_out_without_candidate;
    nlohmann::json per_label = nlohmann::json::array(), coverage = nlohmann::json::array();
    for (const ClassAccuracy& a : r.per_label)
        per_label.push_back({{"label", a.label}, {"files", a.files}, {"correct", a.correct}, {"accuracy", ratio(a.correct, a.files)}});
    for (const CoverageAtConfidence& c : r.coverage)
        coverage.push_back({{"min_confidence", c.min_confidence},
                            {"predictions", c.predictions},
                            {"share", ratio(c.predictions, predicted)},
                            {"accuracy", c.predictions ? nlohmann::json(ratio(c.correct, c.predictions)) : nlohmann::json()}});
    return {{"embeddings", key},
            {"labels", labels.source},
            {"k", options.classify.k},
            {"temperature", options.classify.temperature},
            {"exclude_same", options.classify.exclude_same},
            {"held_out", r.held_out.size()},
            {"without_candidate", r.held_out_without_candidate},
            {"correct", r.correct},
            {"accuracy", predicted ? nlohmann::json(ratio(r.correct, predicted)) : nlohmann::json()},
            {"per_label", per_label},
            {"coverage", coverage}};
}

void print_accuracy_text(const nlohmann::json& summary) {
    std::cout << fmt::format("embeddings  {}\nlabels      {}\nvote        k {}, temperature {}\n",
                             summary["embeddings"].get<std::string>(), summary["labels"].get<std::string>(),
                             summary["k"].get<size_t>(), summary["temperature"].get<double>());
    std::cout << fmt::format("held out    {} labeled files, each voted for by the others ({} without a candidate)\n",
                             summary["held_out"].get<size_t>(), summary["without_candidate"].get<size_t>());
    std::cout << fmt::format("accuracy    {}\n\n", summary["accuracy"].is_null() ? std::string("-")
                                                   : fmt::format("{:.3f}", summary["accuracy"].get<double>()));
    std::cout << "confidence  predictions  share  accuracy\n";
    for (const auto& c : summary["coverage"])
        std::cout << fmt::format(">= {:<7}  {:>11}  {:>5.3f}  {}\n", c["min_confidence"].get<double>(),
                                 c["predictions"].get<size_t>(), c["share"].get<double>(),
                                 c["accuracy"].is_null() ? std::string("-") : fmt::format("{:.3f}", c["accuracy"].get<double>()));
    size_t width = 5;
    for (const auto& a : summary["per_label"]) width = std::max(width, tsv_escape(a["label"].get<std::string>()).size());
    std::cout << fmt::format("\n{:<{}}  {:>5}  {:>7}  {:>8}\n", "label", width, "files", "correct", "accuracy");
    for (const auto& a : summary["per_label"])
        std::cout << fmt::format("{:<{}}  {:>5}  {:>7}  {:>8.3f}\n", tsv_escape(a["label"].get<std::string>()), width,
                                 a["files"].get<size_t>(), a["correct"].get<size_t>(), a["accuracy"].get<double>());
}

int run_classify(ClassifyCommandOptions options, const GlobalOptions& global) {
    require_labels(options.labels);
    const bool evaluate = options.classify.evaluate;
    std::string format = global.format.empty() ? (evaluate ? "text" : "tsv") : global.format;
    if (format != "text") parse_table_format(format);  // Error(usage) before any work
    if (format == "text" && !evaluate) throw Error(ErrorKind::usage, "--format text is for --evaluate (predictions: tsv, csv, json, jsonl)");

    apply_aspect(options.aspect, options.set, options.fuse);
    StoreReader store = open_store_reader(global);
    Catalog catalog = store.load_catalog();
    Labels labels = load_labels(options.labels, catalog, store.manifest().library_root);
    options.classify.threads = resolve_threads(global.threads);
    std::string key;
    EmbeddingTable embeddings = load_scored_embeddings(store, options.set, options.fuse, key);
    ClassifyResult result = classify(catalog, embeddings, labels, options.classify);

    warn_unmatched_labels(global, options.labels, labels, result.label_rows_without_file, store.manifest().library_root);
    if (result.labeled_with_vectors == 0)
        warn(global, "no labeled file has embeddings in {}: nothing to vote", key);
    if (evaluate) {
        nlohmann::json summary = accuracy_json(key, labels, options, result);
        if (format == "text") {
            print_accuracy_text(summary);
        } else if (format == "json") {
            nlohmann::ordered_json report = summary;
            report["predictions"] = nlohmann::ordered_json::array();
            for (const Prediction& p : result.held_out) report["predictions"].push_back(prediction_object(p, true));
            std::cout << report.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
        } else {
            write_rows(parse_table_format(format), result.held_out, true);
        }
        if (global.verbosity >= 1 && !summary["accuracy"].is_null())
            std::cerr << fmt::format("audiosim classify: leave-one-out accuracy {:.3f} on {} labeled files ({} labels)\n",
                                     summary["accuracy"].get<double>(), result.held_out.size() - result.held_out_without_candidate,
                                     result.per_label.size());
        return exit_ok;
    }
    write_rows(parse_table_format(format), result.predictions, false);
    if (global.verbosity >= 1)
        std::cerr << fmt::format("audiosim classify: {} unlabeled files labeled from {} labeled ones ({}); {} files "
                                 "without embeddings not labeled\n",
                                 result.predictions.size(), result.labeled_with_vectors, key,
                                 result.unlabeled_without_vectors);
    return exit_ok;
}

}  // namespace

Runner setup_classify(CLI::App& app) {
    auto options = std::make_shared<ClassifyCommandOptions>();
    add_labels_options(app, options->labels);
    add_set_options(app, options->set);
    add_fusion_option(app, options->fuse);
    add_aspect_option(app, options->aspect);
    app.add_option("--k", options->classify.k, "Labeled neighbours that vote (default 10)")->check(CLI::Range(1, 1000));
    app.add_option("--temperature", options->classify.temperature,
                   "Vote weight exp((score - best score) / T); larger T: closer to a plain majority (default 0.02)")
        ->check(CLI::Range(1e-6, 1e6));
    app.add_flag("--evaluate", options->classify.evaluate,
                 "Vote for every labeled file too, its label hidden (leave-one-out), and report the accuracy");
    app.add_option("--exclude-same", options->classify.exclude_same,
                   "With --evaluate: a labels column (e.g. source); neighbours with the file's value do not vote; repeatable")
        ->allow_extra_args(false);
    app.footer("Prints one row per unlabeled file with embeddings: path, label, confidence, votes, voters, neighbours "
               "(--format json/jsonl: neighbours as objects). With --evaluate: the accuracy report (--format text, the "
               "default; json: the report with every held-out row; tsv, csv, jsonl: the held-out rows).");
    return [options](const GlobalOptions& global) { return run_classify(*options, global); };
}

}  // namespace audiosim::cli
