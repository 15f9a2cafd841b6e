// audiosim report: histograms of file-pair scores in named buckets and 0.05 bins, for all pairs
// (exact or a stated sample) and for the kept pairs `audiosim pairs` stored, per group; an SVG
// plot; with --topic the mean relevance of each group's files to text topics. The bucket edges are
// defined in lib/report/histogram.hpp and docs/CLI.md.
#include <cmath>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>

#include "commands.hpp"
#include "embed/query_embedding.hpp"
#include "model/backend.hpp"
#include "pairs/pairs.hpp"
#include "report/histogram.hpp"
#include "report/svg_plot.hpp"
#include "report/table.hpp"
#include "report/topics.hpp"
#include "pairs/pairs_file.hpp"
#include "store/store.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace audiosim::cli {
namespace {

struct ReportCommandOptions {
    SetOptions set;
    std::vector<std::string> fuse;
    std::string aspect;
    std::string plot;
    std::string group_by;
    bool group_by_given = false;
    AllPairsOptions all;
    std::vector<std::string> topics;
    std::string device = "auto";
};

constexpr size_t max_plot_panels = 50;

const std::vector<std::string> histogram_columns = {"scope", "group", "row",   "low",        "high",   "bucket",
                                                    "count", "share", "pairs", "population", "sampled"};
const std::vector<std::string> topic_columns = {"topic", "group", "files", "mean", "min", "max"};

double edge(double value) { return std::round(value * 100) / 100; }

// What the stored pairs say about themselves (the file's `parameters`, written by `audiosim pairs`).
struct Kept {
    StoredPairs stored;
    KeptHistograms histograms;
};

// One group's histograms and topic relevance.
struct GroupReport {
    std::string name;
    AllPairsHistogram all;
    const ScoreHistogram* kept = nullptr;
    std::vector<TopicRelevance> topics;
};

std::string group_label(const std::string& group_by, const std::string& name) {
    return group_by.empty() ? "all files" : fmt::format("{} {}", group_by, tsv_escape(name));
}

std::string rule_text(const ScoreBucketInfo& b) {
    if (b.bucket == ScoreBucket::very_similar) return fmt::format("score >= {:.1f}", b.low);
    if (b.bucket == ScoreBucket::different) return fmt::format("score < {:.1f}", b.high);
    return fmt::format("{:.1f} <= score < {:.1f}", b.low, b.high);
}

std::string interval(double low, double high, bool closed) {
    return fmt::format("[{:.2f}, {:.2f}{}", low, high, closed ? "]" : ")");
}

std::string all_method(const AllPairsHistogram& all, const AllPairsOptions& options) {
    if (!all.sampled) return fmt::format("exact, {} pairs", all.population);
    return fmt::format("a uniform random sample of {} of {} pairs, seed {}", all.histogram.total(), all.population,
                       options.seed);
}

// The rows of one scope of one group: the four buckets, then the 40 bins.
void histogram_rows(TableWriter& table, const std::string& scope, const std::string& group, const ScoreHistogram& h,
                    uint64_t population, bool sampled) {
    for (const ScoreBucketInfo& b : score_buckets()) {
        const uint64_t count = h.bucket_count(b.bucket);
        table.row({scope, group, "bucket", edge(b.low), edge(b.high), b.name, count, score_cell(h.share(count)), h.total(),
                   population, sampled});
    }
    for (size_t bin = 0; bin < score_bins; ++bin) {
        const uint64_t count = h.bin_count(bin);
        table.row({scope, group, "bin", edge(score_bin_low(bin)), edge(score_bin_high(bin)),
                   bucket_info(score_bucket(score_bin_low(bin))).name, count, score_cell(h.share(count)), h.total(),
                   population, sampled});
    }
}

nlohmann::ordered_json histogram_json(const ScoreHistogram& h, uint64_t population, bool sampled) {
    nlohmann::ordered_json buckets = nlohmann::ordered_json::array(), bins = nlohmann::ordered_json::array();
    for (const ScoreBucketInfo& b : score_buckets()) {
        const uint64_t count = h.bucket_count(b.bucket);
        buckets.push_back({{"bucket", b.name}, {"low", edge(b.low)}, {"high", edge(b.high)}, {"count", count},
                           {"share", score_cell(h.share(count))}});
    }
    for (size_t bin = 0; bin < score_bins; ++bin) {
        const uint64_t count = h.bin_count(bin);
        bins.push_back({{"low", edge(score_bin_low(bin))}, {"high", edge(score_bin_high(bin))},
                        {"bucket", bucket_info(score_bucket(score_bin_low(bin))).name}, {"count", count},
                        {"share", score_cell(h.share(count))}});
    }
    return {{"pairs", h.total()}, {"population", population}, {"sampled", sampled}, {"buckets", buckets}, {"bins", bins}};
}

void print_json(const std::string& key, const std::string& group_by, size_t files, const ReportCommandOptions& options,
                const std::optional<Kept>& kept, const std::vector<GroupReport>& groups) {
    nlohmann::ordered_json buckets = nlohmann::ordered_json::array();
    for (const ScoreBucketInfo& b : score_buckets())
        buckets.push_back({{"bucket", b.name}, {"low", edge(b.low)}, {"high", edge(b.high)}, {"rule", rule_text(b)}});
    nlohmann::ordered_json group_array = nlohmann::ordered_json::array();
    for (const GroupReport& g : groups) {
        nlohmann::ordered_json topics = nlohmann::ordered_json::array();
        for (size_t t = 0; t < g.topics.size(); ++t)
            topics.push_back({{"topic", options.topics[t]}, {"files", g.topics[t].files}, {"mean", score_cell(g.topics[t].mean)},
                              {"min", score_cell(g.topics[t].min)}, {"max", score_cell(g.topics[t].max)}});
        group_array.push_back({{"group", g.name},
                               {"files", g.all.files},
                               {"all", histogram_json(g.all.histogram, g.all.population, g.all.sampled)},
                               {"kept", g.kept ? histogram_json(*g.kept, g.kept->total(), false) : nlohmann::ordered_json()},
                               {"topics", topics}});
    }
    nlohmann::ordered_json kept_json;
    if (kept)
        kept_json = {{"parameters", kept->stored.parameters.to_json()}, {"pairs", kept->stored.pairs.size()}, {"left_out", kept->histograms.left_out}};
    nlohmann::ordered_json report = {
        {"embeddings", key},
        {"group_by", group_by},
        {"files", files},
        {"bin_width", score_bin_width},
        {"buckets", buckets},
        {"all_pairs", {{"exact_limit", options.all.exact_limit}, {"sample", options.all.sample}, {"seed", options.all.seed}}},
        {"kept_pairs", kept_json},
        {"plot", options.plot.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(options.plot)},
        {"groups", group_array}};
    std::cout << report.dump(2) << "\n";
}

void print_text(const std::string& key, const std::string& group_by, size_t files, const ReportCommandOptions& options,
                const std::optional<Kept>& kept, const std::vector<GroupReport>& groups) {
    std::string rules;
    for (const ScoreBucketInfo& b : score_buckets()) rules += (rules.empty() ? "" : "; ") + fmt::format("{} {}", b.name, rule_text(b));
    std::cout << fmt::format("embeddings  {}\n", key)
              << fmt::format("files       {} with vectors; {}\n", files,
                             group_by.empty() ? "no groups" : fmt::format("{} groups by {}", groups.size(), group_by))
              << fmt::format("all pairs   every pair of files in a group; exact up to {} pairs a group, else a uniform "
                             "random sample of {} (seed {})\n",
                             options.all.exact_limit, options.all.sample, options.all.seed);
    if (kept)
        std::cout << fmt::format("kept pairs  {} stored by audiosim pairs ({})\n", kept->stored.pairs.size(), kept->stored.parameters.to_json().dump());
    else
        std::cout << "kept pairs  none stored (run audiosim pairs)\n";
    std::cout << fmt::format("buckets     {}\n", rules);

    for (const GroupReport& g : groups) {
        std::cout << fmt::format("\n{}: {} files; all pairs: {}", group_label(group_by, g.name), g.all.files,
                                 all_method(g.all, options.all));
        if (g.kept) std::cout << fmt::format("; kept: {}", g.kept->total());
        std::cout << "\n";
        const ScoreHistogram& all = g.all.histogram;
        auto cells = [&](uint64_t a, uint64_t k) {
            std::string text = fmt::format("{:>10}  {:>6.1f}%", a, 100 * all.share(a));
            if (g.kept) text += fmt::format("  {:>8}  {:>6.1f}%", k, 100 * g.kept->share(k));
            return text;
        };
        std::cout << fmt::format("  {:<14}{:<14}{:>10}  {:>7}{}\n", "bucket", "range", "all", "share",
                                 g.kept ? fmt::format("  {:>8}  {:>7}", "kept", "share") : "");
        for (const ScoreBucketInfo& b : score_buckets())
            std::cout << fmt::format("  {:<14}{:<14}{}\n", b.name, interval(b.low, b.high, b.bucket == ScoreBucket::very_similar),
                                     cells(all.bucket_count(b.bucket), g.kept ? g.kept->bucket_count(b.bucket) : 0));
        // The fine bins from the lowest to the highest that holds a pair.
        size_t first = score_bins, last = 0;
        for (size_t bin = 0; bin < score_bins; ++bin)
            if (all.bin_count(bin) || (g.kept && g.kept->bin_count(bin))) first = std::min(first, bin), last = bin;
        for (size_t bin = first; bin <= last && first < score_bins; ++bin)
            std::cout << fmt::format("  {:<14}{:<14}{}\n", "bin", interval(score_bin_low(bin), score_bin_high(bin), bin + 1 == score_bins),
                                     cells(all.bin_count(bin), g.kept ? g.kept->bin_count(bin) : 0));
    }
    if (options.topics.empty()) return;
    std::cout << "\ntopics: mean cosine of each file's vector with the topic's text vector, per group (min .. max)\n";
    for (size_t t = 0; t < options.topics.size(); ++t) {
        std::cout << fmt::format("  {}\n", tsv_escape(options.topics[t]));
        for (const GroupReport& g : groups)
            std::cout << fmt::format("    {:<30} {:>6} files  {:>7.3f}  ({:.3f} .. {:.3f})\n", group_label(group_by, g.name),
                                     g.topics[t].files, g.topics[t].mean, g.topics[t].min, g.topics[t].max);
    }
}

int run_report(const ReportCommandOptions& options, const GlobalOptions& global) {
    const std::string format = global.format.empty() ? "text" : global.format;
    if (format != "text") parse_table_format(format);  // Error(usage) before any work

    std::vector<std::string> fuse = options.fuse;
    apply_aspect(options.aspect, options.set, fuse);
    if (!fuse.empty() && !options.topics.empty())
        throw Error(ErrorKind::usage, "--topic embeds text with one model's text tower: give it with --model, not --fuse or --aspect");

    StoreReader store = open_store_reader(global);
    std::string key;
    // The usage checks come before any heavy work: an unknown --group-by field, a --topic model
    // without a text tower.
    Catalog catalog = store.load_catalog();
    if (options.group_by_given) check_group_field(catalog, options.group_by);
    std::vector<float> topics;
    if (!options.topics.empty()) {  // the topics' unit vectors, from the set's model's text tower
        QueryEmbedder embedder(stored_embedding_set(store.manifest(), resolve_set_key(store.manifest(), options.set)), options.device,
                               static_cast<int>(resolve_threads(global.threads)), 0);
        embedder.require_text_tower("--topic");
        topics = embedder.embed_texts(options.topics);
    }

    EmbeddingTable embeddings = load_scored_embeddings(store, options.set, fuse, key);
    const FileVectorTable table = file_vector_table(catalog, embeddings);

    std::optional<Kept> kept;
    store.open_pairs(key, [&](const std::string& path) {
        kept.emplace();
        kept->stored = read_pairs_file(path);
    });
    if (!kept) {
        warn(global, "no stored pairs for {}: reporting all pairs only (run audiosim pairs to keep pairs)", key);
    }
    const std::string group_by = options.group_by_given ? options.group_by : kept ? kept->stored.parameters.group_by : "";
    const auto groups = group_rows(catalog, table, group_by);
    if (!group_by.empty() && groups.empty() && !table.ids.empty())
        warn(global, "no file has a value for --group-by {}: nothing to report", group_by);
    if (kept) {
        const bool regroup = group_by != kept->stored.parameters.group_by;
        if (regroup)
            warn(global, "the stored pairs were found grouped by {}; each is counted in every {} group holding both files",
                 kept->stored.parameters.group_by.empty() ? "nothing" : kept->stored.parameters.group_by, group_by.empty() ? "(all files)" : group_by);
        kept->histograms = kept_pairs_histograms(table, groups, kept->stored.pairs, regroup);
        if (kept->histograms.left_out && regroup)
            warn(global, "{} stored pairs left out: no group holds both files, or a file has no vector now",
                 kept->histograms.left_out);
        else if (kept->histograms.left_out)
            warn(global, "{} stored pairs left out: a file has no vector now, or its group no longer holds both (run "
                         "audiosim pairs again)",
                 kept->histograms.left_out);
    }

    AllPairsOptions all_options = options.all;
    all_options.threads = resolve_threads(global.threads);
    std::vector<GroupReport> reports;
    for (const auto& [name, rows] : groups) {
        GroupReport& g = reports.emplace_back();
        g.name = name;
        g.all = all_pairs_histogram(table, rows, all_options);
        if (g.all.sampled && global.verbosity >= 1)
            fmt::print(stderr, "audiosim report: {}: {}\n", group_label(group_by, name), all_method(g.all, all_options));
        if (kept) g.kept = &kept->histograms.groups.at(name);
        for (size_t t = 0; t < options.topics.size(); ++t)
            g.topics.push_back(topic_relevance(table, rows, &topics[t * table.dim]));
    }

    if (!options.plot.empty()) {
        std::vector<PlotPanel> panels;
        uint64_t all_pairs = 0, kept_pairs = 0;
        for (const GroupReport& g : reports) {
            all_pairs += g.all.population;
            kept_pairs += g.kept ? g.kept->total() : 0;
            if (panels.size() == max_plot_panels) continue;
            PlotPanel& panel = panels.emplace_back();
            panel.title = fmt::format("{}: {} files", group_label(group_by, g.name), g.all.files);
            panel.all = {g.all.sampled ? fmt::format("all pairs (sample of {} of {}, seed {})", g.all.histogram.total(),
                                                     g.all.population, all_options.seed)
                                       : fmt::format("all pairs ({})", g.all.population),
                         &g.all.histogram};
            panel.kept = {g.kept ? fmt::format("kept pairs ({})", g.kept->total()) : "kept pairs", g.kept};
        }
        if (reports.size() > max_plot_panels)
            warn(global, "the plot shows the first {} of {} groups", max_plot_panels, reports.size());
        const std::string title = fmt::format("{}: {} files, {} pairs{}", key, table.ids.size(), all_pairs,
                                              kept ? fmt::format(", {} kept", kept_pairs) : ", none kept");
        AtomicFile file(options.plot);
        file.write(histogram_svg(title, panels));
        file.commit();
    }

    if (format == "text") {
        print_text(key, group_by, table.ids.size(), options, kept, reports);
    } else if (format == "json") {
        print_json(key, group_by, table.ids.size(), options, kept, reports);
    } else if (!options.topics.empty()) {
        TableWriter out(std::cout, parse_table_format(format), topic_columns);
        for (size_t t = 0; t < options.topics.size(); ++t)
            for (const GroupReport& g : reports)
                out.row({options.topics[t], g.name, g.topics[t].files, score_cell(g.topics[t].mean), score_cell(g.topics[t].min),
                         score_cell(g.topics[t].max)});
        out.finish();
    } else {
        TableWriter out(std::cout, parse_table_format(format), histogram_columns);
        for (const GroupReport& g : reports) {
            histogram_rows(out, "all", g.name, g.all.histogram, g.all.population, g.all.sampled);
            if (g.kept) histogram_rows(out, "kept", g.name, *g.kept, g.kept->total(), false);
        }
        out.finish();
    }
    return exit_ok;
}

}  // namespace

Runner setup_report(CLI::App& app) {
    auto options = std::make_shared<ReportCommandOptions>();
    add_set_options(app, options->set);
    add_fusion_option(app, options->fuse);
    add_aspect_option(app, options->aspect);
    app.add_option("--plot", options->plot, "Also write the fine-bin histograms as an SVG image to FILE.svg");
    auto group_by = app.add_option("--group-by", options->group_by,
                                   "Groups: folder, tags or a metadata column (default: the stored pairs' grouping)");
    app.add_option("--exact-limit", options->all.exact_limit,
                   "Score every pair of a group with at most this many pairs (default 20000000), else sample")
        ->transform(integer_in(0, 1'000'000'000'000));
    // A sample is held in memory as pairs and a set of them: about 40 bytes each.
    app.add_option("--sample", options->all.sample, "Pairs sampled in a larger group (default 1000000)")
        ->transform(integer_in(1, 100'000'000));
    app.add_option("--seed", options->all.seed, "Seed of the pair sample (default 1)")
        ->transform(integer_in(0, std::numeric_limits<uint64_t>::max()));
    app.add_option("--topic", options->topics,
                   "Text topic (models with a text tower): per group, the mean cosine of its files with the topic; repeatable")
        ->allow_extra_args(false);
    add_device_option(app, options->device, "For the --topic text tower");
    app.footer("Output: text by default; --format json (one object) or tsv|csv|jsonl rows: scope, group, row, low, high, "
               "bucket, count, share, pairs, population, sampled (with --topic: topic, group, files, mean, min, max). "
               "Buckets: very similar >= 0.8, similar 0.6-0.8, related 0.4-0.6, different < 0.4 (lower edges inclusive).");
    return [options, group_by](const GlobalOptions& global) {
        options->group_by_given = group_by->count() > 0;
        return run_report(*options, global);
    };
}

}  // namespace audiosim::cli
