// audiosim query: stored files similar to audio files, stored items or text; chunk neighbours are
// fused per file (lib/query/fusion.hpp defines every score).
#include <unistd.h>

#include <cmath>

#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>

#include "commands.hpp"
#include "embed/query_embedding.hpp"
#include "model/backend.hpp"
#include "query/query.hpp"
#include "report/table.hpp"
#include "store/store.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"
#include "util/system.hpp"

namespace audiosim::cli {
namespace {

struct QueryCommandOptions {
    std::vector<std::string> inputs;  // audio files; "-" reads a list from stdin
    std::vector<std::string> items;
    std::vector<std::string> texts;
    SetOptions set;
    std::vector<std::string> fuse;
    std::string aspect;
    QueryOptions query;
    std::string fusion = "weighted";
    std::vector<std::string> filters;
    bool exclude_self = false;
    bool include_self = false;
    bool exact = false;
    std::string device = "auto";
    size_t batch_size = 0;
};

// Ranges of the numeric options (docs/CLI.md): beyond them a query is a mistake, not a wish.
constexpr uint64_t max_neighbours = 100'000;
constexpr double max_weight = 1000, max_rrf_k = 1'000'000;

const std::vector<std::string> result_columns = {"query", "rank", "path", "score", "votes", "total_similarity",
                                                 "best_similarity", "best_region"};
const std::vector<std::string> explain_columns = {"query", "query_chunk", "query_start", "query_end", "rank",
                                                  "path", "match_start", "match_end", "similarity"};

// Seconds with millisecond precision: chunk starts are exact at that resolution for any rate we read.
double seconds(double value) { return std::round(value * 1000) / 1000; }

std::string region_text(double start, double duration) { return fmt::format("{:.2f}-{:.2f}", start, start + duration); }
std::string best_region(const RegionMatch& r) {
    return region_text(r.query_start, r.query_duration) + ">" + region_text(r.match_start, r.match_duration);
}

// Reads one path per line from stdin (empty lines skipped, a trailing \r removed).
std::vector<std::string> read_stdin_list() {
    std::vector<std::string> paths;
    std::string line;
    while (std::getline(std::cin, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (!line.empty()) paths.push_back(line);
    }
    return paths;
}

class ResultPrinter {
public:
    ResultPrinter(const std::string& format, bool explain, std::function<std::string(uint64_t)> path_of)
        : text_(format == "text"), explain_(explain), path_of_(std::move(path_of)) {
        if (!text_)
            table_.emplace(std::cout, parse_table_format(format), explain_ && format != "json" && format != "jsonl"
                                                                      ? explain_columns
                                                                      : result_columns);
        json_objects_ = format == "json" || format == "jsonl";
    }

    void print(const QueryInput& query, const QueryResult& result) {
        if (text_) return print_text(query, result);
        if (json_objects_) return print_json(query, result);
        if (explain_) return print_explain_rows(query, result);
        size_t rank = 0;
        for (const FileMatch& match : result.files)
            table_->row({query.name, ++rank, path(match.file_id), score_cell(match.score), match.votes,
                         score_cell(match.total_similarity), score_cell(match.best_similarity), best_region(match.best)});
    }

    void finish() {
        if (table_) table_->finish();
    }

private:
    std::string path(uint64_t file_id) const { return path_of_(file_id); }

    nlohmann::ordered_json region_json(const RegionMatch& r) const {
        return {{"query_start", seconds(r.query_start)}, {"query_end", seconds(r.query_start + r.query_duration)},
                {"match_start", seconds(r.match_start)}, {"match_end", seconds(r.match_start + r.match_duration)},
                {"similarity", score_cell(r.similarity)}};
    }

    void print_json(const QueryInput& query, const QueryResult& result) {
        // json and jsonl differ only in the outer array, which the TableWriter closes: one cell per row.
        size_t rank = 0;
        for (const FileMatch& match : result.files) {
            nlohmann::ordered_json regions = nlohmann::ordered_json::array();
            for (const RegionMatch& region : match.regions) regions.push_back(region_json(region));
            nlohmann::ordered_json row = {{"query", query.name},
                                  {"rank", ++rank},
                                  {"path", path(match.file_id)},
                                  {"score", score_cell(match.score)},
                                  {"votes", match.votes},
                                  {"total_similarity", score_cell(match.total_similarity)},
                                  {"best_similarity", score_cell(match.best_similarity)},
                                  {"best_region", best_region(match.best)},
                                  {"regions", regions}};
            table_->object(row);
        }
        if (!explain_) return;
        for (size_t c = 0; c < result.chunks.size(); ++c) {
            const QueryChunkHits& chunk = result.chunks[c];
            nlohmann::ordered_json matches = nlohmann::ordered_json::array();
            for (const ChunkHit& hit : chunk.hits)
                matches.push_back(nlohmann::ordered_json{{"path", path(hit.file_id)},
                                   {"match_start", seconds(hit.start)},
                                   {"match_end", seconds(hit.start + hit.duration)},
                                   {"similarity", score_cell(hit.similarity)}});
            table_->object(nlohmann::ordered_json{{"query", query.name},
                            {"query_chunk", c},
                            {"query_start", seconds(chunk.start)},
                            {"query_end", seconds(chunk.start + chunk.duration)},
                            {"matches", matches}});
        }
    }

    void print_explain_rows(const QueryInput& query, const QueryResult& result) {
        for (size_t c = 0; c < result.chunks.size(); ++c) {
            const QueryChunkHits& chunk = result.chunks[c];
            size_t rank = 0;
            for (const ChunkHit& hit : chunk.hits)
                table_->row({query.name, c, seconds(chunk.start), seconds(chunk.start + chunk.duration), ++rank,
                             path(hit.file_id), seconds(hit.start), seconds(hit.start + hit.duration),
                             score_cell(hit.similarity)});
        }
    }

    void print_text(const QueryInput& query, const QueryResult& result) {
        std::cout << fmt::format("{}{} ({} chunks)\n", printed_ ? "\n" : "", tsv_escape(query.name), query.chunks());
        printed_ = true;
        if (result.files.empty()) std::cout << "  no match\n";
        if (!result.files.empty())
            std::cout << fmt::format("  {:>4}  {:>6}  {:>5}  {:>6}  {:<23}  {}\n", "rank", "score", "votes", "best",
                                     "region (query>match)", "path");
        size_t rank = 0;
        for (const FileMatch& match : result.files)
            std::cout << fmt::format("  {:>4}  {:>6.3f}  {:>5}  {:>6.3f}  {:<23}  {}\n", ++rank, match.score, match.votes,
                                     match.best_similarity, best_region(match.best), tsv_escape(path(match.file_id)));
        for (size_t c = 0; c < result.chunks.size(); ++c) {
            const QueryChunkHits& chunk = result.chunks[c];
            std::cout << fmt::format("  chunk {} {}:\n", c, region_text(chunk.start, chunk.duration));
            size_t hit_rank = 0;
            for (const ChunkHit& hit : chunk.hits) {
                if (++hit_rank > 10) {
                    std::cout << fmt::format("      ... {} more\n", chunk.hits.size() - 10);
                    break;
                }
                std::cout << fmt::format("    {:>4}  {:.3f}  {:<11}  {}\n", hit_rank, hit.similarity,
                                         region_text(hit.start, hit.duration), tsv_escape(path(hit.file_id)));
            }
        }
    }

    bool text_;
    bool explain_;
    bool json_objects_ = false;
    bool printed_ = false;
    std::function<std::string(uint64_t)> path_of_;
    std::optional<TableWriter> table_;
};

// Loads the set's model once for every audio query of the call.
// A query from an audio file: its unflagged chunks and their vectors.
QueryInput audio_query(QueryEmbedder& embedder, const std::string& path, const ChunkProfile& profile) {
    EmbeddedAudio audio = embedder.embed_audio(path, profile);
    QueryInput query;
    query.name = path;
    for (const Chunk& chunk : audio.chunks) {
        query.starts.push_back(chunk.start);
        query.durations.push_back(chunk.duration);
    }
    query.vectors = std::move(audio.vectors);
    query.content_hash = hash_file(path).hash;
    return query;
}

// A query from text: one "chunk" at 0 s, the text tower's vector.
QueryInput text_query(QueryEmbedder& embedder, const std::string& text) {
    QueryInput query;
    query.name = text;
    query.starts = {0.0};
    query.durations = {0.0};
    query.vectors = embedder.embed_texts({text});
    return query;
}

int run_query(QueryCommandOptions options, const GlobalOptions& global) {
    std::string format = !global.format.empty() ? global.format : ::isatty(STDOUT_FILENO) ? "text" : "tsv";
    if (format != "text") parse_table_format(format);  // Error(usage) before any work
    options.query.fusion.method = parse_fusion_method(options.fusion);
    validate_fusion_options(options.query.fusion);
    for (const std::string& filter : options.filters) options.query.filters.push_back(parse_metadata_filter(filter));
    if (options.inputs.empty() && options.items.empty() && options.texts.empty())
        throw Error(ErrorKind::usage, "nothing to query: give audio files, - (a list on stdin), --item or --text");
    std::vector<std::string> files;
    for (const std::string& input : options.inputs) {
        if (input != "-") {
            files.push_back(input);
            continue;
        }
        for (std::string& path : read_stdin_list()) files.push_back(std::move(path));
    }

    // One engine per model: the set's, or each --fuse model's set of the profile.
    apply_aspect(options.aspect, options.set, options.fuse);
    StoreReader store = open_store_reader(global);
    const std::vector<std::pair<std::string, double>> models = scored_sets(store.manifest(), options.set, options.fuse);
    if (models.size() > 1 && options.query.explain)
        throw Error(ErrorKind::usage, "--explain lists one model's chunk neighbours: not with several --fuse models");
    QueryEngine::Options engine_options;
    engine_options.exact = options.exact;
    engine_options.threads = resolve_threads(global.threads);
    if (options.exact)
        engine_options.exact_factory = torch_exact_search_factory(options.device, static_cast<int>(engine_options.threads));
    std::vector<std::unique_ptr<QueryEngine>> engines;
    std::vector<std::optional<QueryEmbedder>> embedders(models.size());
    for (size_t m = 0; m < models.size(); ++m) {
        engines.push_back(std::make_unique<QueryEngine>(store, models[m].first, engine_options));
        if (!files.empty() || !options.texts.empty()) {
            embedders[m].emplace(engines[m]->set(), options.device, static_cast<int>(resolve_threads(global.threads)),
                                 options.batch_size);
            if (!options.texts.empty()) embedders[m]->require_text_tower("--text");
        }
    }
    QueryEngine& engine = *engines.front();
    if (!options.query.filters.empty()) check_filter_fields(engine.catalog(), options.query.filters);
    std::string source;
    for (size_t m = 0; m < models.size(); ++m)
        source += fmt::format("{}{}: {}", m ? "; " : "", models[m].first, engines[m]->source());
    if (global.verbosity >= 2) fmt::print(stderr, "audiosim query: {}\n", source);
    auto path_of = [&](uint64_t file_id) {
        for (const auto& candidate : engines)  // a file may have vectors in some of the fused sets only
            if (std::optional<LabelledFile> file = candidate->file(file_id)) return std::string(file->path);
        return fmt::format("#{}", file_id);
    };
    ResultPrinter printer(format, options.query.explain, path_of);
    for (auto& embedder : embedders)
        if (embedder) embedder->load();  // model loading is not a query's latency
    size_t failed = 0;
    std::vector<double> latencies;  // per answered query: embedding it, searching, fusing
    // `make` builds the query for model m; each model embeds the query itself.
    auto ask = [&](const std::function<QueryInput(size_t)>& make, bool exclude_self_default) {
        auto start = std::chrono::steady_clock::now();
        try {
            QueryOptions run = options.query;
            run.exclude_self = options.exclude_self || (exclude_self_default && !options.include_self);
            QueryInput query;
            QueryResult result;
            auto searchable = [](QueryInput input) {
                if (input.chunks() == 0)
                    throw Error(ErrorKind::input, fmt::format("{}: every chunk is flagged (silent, empty, a noise floor, or without "
                                                              "speech in a speech profile): nothing to search with", input.name));
                return input;
            };
            if (engines.size() == 1) {
                query = searchable(make(0));
                result = engine.run(query, run);
            } else {
                // every file each model's search reaches, combined, then the limit and the minimum score
                QueryOptions each = run;
                each.limit = std::numeric_limits<size_t>::max();
                each.min_score.reset();
                std::vector<QueryResult> answers;
                std::vector<ModelAnswer> weighted;
                for (size_t m = 0; m < engines.size(); ++m) {
                    QueryInput input = searchable(make(m));
                    answers.push_back(engines[m]->run(input, each));
                    if (m == 0) query = std::move(input);
                }
                for (size_t m = 0; m < engines.size(); ++m) weighted.push_back({&answers[m].files, models[m].second});
                auto path_order = [&](uint64_t a, uint64_t b) { return path_of(a) < path_of(b); };
                for (FileMatch& match : combine_models(weighted, path_order)) {
                    if (result.files.size() >= run.limit || (run.min_score && match.score < *run.min_score)) break;
                    result.files.push_back(std::move(match));
                }
            }
            latencies.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
            printer.print(query, result);
        } catch (const Error& error) {
            if (error.kind() != ErrorKind::input) throw;
            item_error(global, "{}", error.what());
            ++failed;
        }
    };
    for (const std::string& path : files)
        ask([&](size_t m) { return audio_query(*embedders[m], path, engines[m]->profile()); }, false);
    for (const std::string& text : options.texts) ask([&](size_t m) { return text_query(*embedders[m], text); }, false);
    for (const std::string& item : options.items) ask([&](size_t m) { return engines[m]->item(item); }, true);
    printer.finish();
    const size_t done = latencies.size();
    if (global.verbosity >= 2 || (global.verbosity >= 1 && done + failed > 1)) {
        std::sort(latencies.begin(), latencies.end());
        auto percentile = [&](double p) {
            return done ? 1000 * latencies[std::min(done - 1, static_cast<size_t>(p * static_cast<double>(done)))] : 0.0;
        };
        fmt::print(stderr, "audiosim query: {} queries answered, {} failed; per query {:.1f} ms median, {:.1f} ms p95 "
                           "(embedding, search, fusion); {}; peak memory {}\n",
                   done, failed, percentile(0.5), percentile(0.95), source,
                   human_bytes(static_cast<double>(peak_rss_bytes())));
    }
    if (failed == 0) return exit_ok;
    return done > 0 ? exit_partial : exit_input;
}

}  // namespace

Runner setup_query(CLI::App& app) {
    auto options = std::make_shared<QueryCommandOptions>();
    app.add_option("inputs", options->inputs, "Audio files to query with; - reads a list of paths from stdin");
    app.add_option("--item", options->items, "A stored file (catalog path, path inside the library, or file id); repeatable")
        ->allow_extra_args(false);
    app.add_option("--text", options->texts, "Text to search for (models with a text tower); repeatable")
        ->allow_extra_args(false);
    add_set_options(app, options->set);
    add_aspect_option(app, options->aspect);
    app.add_option("--fuse", options->fuse,
                   "MODEL[=WEIGHT]: ask several models of the --profile and combine their file scores (weighted mean; "
                   "default weight 1); repeatable, instead of --model")
        ->allow_extra_args(false);
    app.add_option("--limit", options->query.limit, "Files per query (default 10)")->transform(integer_in(1, max_neighbours));
    app.add_option("--min-score", options->query.min_score, "Leave out files scoring below this")
        ->check(number_in(-1, 1));
    app.add_option("--neighbours", options->query.neighbours, "Nearest stored chunks per query chunk (default 100)")
        ->transform(integer_in(1, max_neighbours));
    app.add_option("--fusion", options->fusion, "weighted (default), max, mean or rrf (docs/CLI.md defines each)");
    app.add_option("--vote-weight", options->query.fusion.vote_weight, "Weight of votes in the weighted score (default 0.2)")
        ->check(number_in(0, max_weight));
    app.add_option("--similarity-weight", options->query.fusion.similarity_weight,
                   "Weight of total similarity in the weighted score (default 0.8)")
        ->check(number_in(0, max_weight));
    app.add_option("--rrf-k", options->query.fusion.rrf_k, "The k of reciprocal rank fusion (default 60)")
        ->check(number_in(0, max_rrf_k));
    app.add_option("--filter", options->filters,
                   "FIELD=VALUE: only files with it (folder, tags, path or a metadata column such as content_type); "
                   "repeatable: the same field ORs, different fields AND")
        ->allow_extra_args(false);
    auto exclude = app.add_flag("--exclude-self", options->exclude_self,
                                "Leave out stored files with the query file's bytes (always done for --item: the item itself)");
    app.add_flag("--include-self", options->include_self, "Keep the --item itself among the results")->excludes(exclude);
    app.add_flag("--explain", options->query.explain, "Also list every query chunk's nearest chunks");
    app.add_flag("--exact", options->exact, "Exact search (libtorch matrix products, CUDA when present) instead of the index");
    add_device_option(app, options->device, "For the query model and --exact");
    app.add_option("--batch-size", options->batch_size, "Query chunks per model call (default: 32 on the CPU, 64 on CUDA)")
        ->transform(integer_in(1, max_batch_size));
    app.footer("Output: a table on a terminal, else TSV; --format tsv|csv|json|jsonl. Columns: query, rank, path, score, votes, "
               "total_similarity, best_similarity, best_region (QUERY_START-END>MATCH_START-END, seconds).");
    return [options](const GlobalOptions& global) { return run_query(*options, global); };
}

}  // namespace audiosim::cli
