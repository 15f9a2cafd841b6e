// audiosim pairs: every file against its k most similar files; pairs above a score are stored and
// printed, or joined into duplicate clusters or connected components (lib/pairs/pairs.hpp).
#include <cmath>
#include <iostream>
#include <memory>
#include <unordered_map>

#include "commands.hpp"
#include "model/backend.hpp"
#include "pairs/pairs.hpp"
#include "pairs/verify.hpp"
#include "report/table.hpp"
#include "pairs/pairs_file.hpp"
#include "store/store.hpp"
#include "util/error.hpp"
#include "util/system.hpp"

namespace audiosim::cli {
namespace {

struct PairsCommandOptions {
    SetOptions set;
    std::vector<std::string> fuse;
    std::string aspect;
    PairOptions pairs;
    bool duplicates = false;
    double near_threshold = 0.75;
    double waveform_threshold = 0.9;
    bool clusters = false;
    std::string device = "auto";
};


int run_pairs(PairsCommandOptions options, const GlobalOptions& global) {
    TableFormat format = parse_table_format(global.format.empty() ? "tsv" : global.format);  // Error(usage) first
    if (options.duplicates && options.clusters) throw Error(ErrorKind::usage, "give --duplicates or --clusters, not both");
    if (options.duplicates) options.pairs.min_score = std::min(options.pairs.min_score, options.near_threshold);
    options.pairs.threads = resolve_threads(global.threads);
    if (options.pairs.exact)
        options.pairs.exact_factory = torch_exact_search_factory(options.device, static_cast<int>(options.pairs.threads));

    apply_aspect(options.aspect, options.set, options.fuse);

    StoreWriter store = open_store_writer(global);
    std::string key;
    EmbeddingTable embeddings = load_scored_embeddings(
        store.manifest(), [&](const std::string& set) { return store.load_embeddings(set); }, options.set, options.fuse, key);
    const Catalog& catalog = store.catalog();
    PairsResult result = find_pairs(catalog, embeddings, options.pairs);
    const PairsParameters parameters{static_cast<int64_t>(options.pairs.k), options.pairs.min_score, options.pairs.group_by,
                                     result.method, file_similarity_of(key)};
    store.commit_pairs(key, [&](const std::string& path, const WriterStamp& stamp) {
        write_pairs_file(path, {key, parameters, result.pairs}, stamp);
    });

    std::unordered_map<uint64_t, const FileRecord*> files;
    catalog.for_each([&](const FileRecord& file) { files[file.file_id] = &file; });
    size_t clusters_found = 0;
    if (options.duplicates) {
        WaveformComparer comparer(store.manifest().library_root);
        auto waveform_match = [&](const FileRecord& a, const FileRecord& b) -> nlohmann::json {
            try {
                return score_cell(comparer.compare(a, b).correlation);
            } catch (const Error& error) {
                if (error.kind() != ErrorKind::input) throw;
                item_error(global, "{}", error.what());
                return nullptr;
            }
        };
        auto same_sound = [&](const FileRecord& a, const FileRecord& b) {
            nlohmann::json match = waveform_match(a, b);
            return !match.is_null() && match.get<double>() >= options.waveform_threshold;
        };
        std::vector<DuplicateCluster> clusters =
            duplicate_clusters(catalog, result.pairs, options.near_threshold, same_sound);
        clusters_found = clusters.size();
        std::unordered_map<uint64_t, size_t> row_of;  // file vectors, to score each member against its keeper
        FileVectorTable vectors = file_vector_table(catalog, embeddings);
        for (size_t row = 0; row < vectors.ids.size(); ++row) row_of[vectors.ids[row]] = row;
        auto similarity = [&](uint64_t a, uint64_t b) -> nlohmann::json {
            auto x = row_of.find(a), y = row_of.find(b);
            if (x == row_of.end() || y == row_of.end()) return nullptr;
            return score_cell(pair_score(&vectors.vectors[x->second * vectors.dim], &vectors.vectors[y->second * vectors.dim],
                                         vectors.dim));
        };
        TableWriter table(std::cout, format,
                          {"cluster", "role", "path", "same_bytes_as_keeper", "similarity_to_keeper",
                           "waveform_match_to_keeper", "codec", "sample_rate", "channels", "duration"});
        for (size_t c = 0; c < clusters.size(); ++c) {
            const FileRecord& keeper = *files.at(clusters[c].keeper);
            for (uint64_t id : clusters[c].files) {
                const FileRecord& file = *files.at(id);
                table.row({c + 1, id == keeper.file_id ? "keep" : "duplicate", file.path, file.hash == keeper.hash,
                           similarity(id, keeper.file_id),
                           file.hash == keeper.hash ? nlohmann::json(1.0) : waveform_match(file, keeper), file.audio.codec, file.audio.sample_rate, file.audio.channels,
                           score_cell(file.audio.duration)});
            }
        }
    } else if (options.clusters) {
        std::vector<std::vector<uint64_t>> components = pair_components(catalog, result.pairs, options.pairs.min_score);
        clusters_found = components.size();
        TableWriter table(std::cout, format, {"cluster", "size", "path"});
        for (size_t c = 0; c < components.size(); ++c)
            for (uint64_t id : components[c]) table.row({c + 1, components[c].size(), files.at(id)->path});
    } else {
        TableWriter table(std::cout, format, {"a", "b", "score", "group"});
        for (const FilePair& pair : result.pairs)
            table.row({files.at(pair.a)->path, files.at(pair.b)->path, score_cell(pair.score), pair.group});
    }

    nlohmann::json summary = parameters.to_json();
    summary["files"] = result.files;
    summary["files_without_vector"] = result.files_without_vector;
    summary["pairs"] = result.pairs.size();
    summary["groups"] = options.pairs.group_by.empty() ? 0 : result.groups.size();
    summary["seconds"] = result.seconds;
    if (!options.pairs.group_by.empty()) {
        nlohmann::json groups = nlohmann::json::object();
        for (const auto& [name, group] : result.groups)
            groups[name] = {{"files", group.files}, {"pairs", group.pairs}, {"mean_score", score_cell(group.mean_score)}};
        summary["per_group"] = groups;
    }
    store.finish_run("pairs", summary);
    if (global.verbosity >= 1) {
        std::string found = options.duplicates
                                ? fmt::format("; {} duplicate clusters (same bytes, or scores >= {} with waveforms "
                                              "matching >= {})",
                                              clusters_found, options.near_threshold, options.waveform_threshold)
                           : options.clusters ? fmt::format("; {} connected components", clusters_found)
                                              : "";
        fmt::print(stderr,
                   "audiosim pairs: {}: {} files ({} without vectors), k {}, {} pairs with score >= {}{}{}; {} in {}; "
                   "peak memory {}\n",
                   key, result.files, result.files_without_vector, options.pairs.k, result.pairs.size(),
                   options.pairs.min_score,
                   options.pairs.group_by.empty() ? ""
                                                  : fmt::format(" within {} groups of {}", result.groups.size(),
                                                                options.pairs.group_by),
                   found, result.method, human_duration(result.seconds), human_bytes(static_cast<double>(peak_rss_bytes())));
        for (const auto& [name, group] : result.groups)
            if (!options.pairs.group_by.empty())
                fmt::print(stderr, "audiosim pairs:   {}={}: {} files, {} pairs, mean score {:.3f}\n", options.pairs.group_by,
                           name, group.files, group.pairs, group.mean_score);
    }
    return exit_ok;
}

}  // namespace

Runner setup_pairs(CLI::App& app) {
    auto options = std::make_shared<PairsCommandOptions>();
    add_set_options(app, options->set);
    add_fusion_option(app, options->fuse);
    add_aspect_option(app, options->aspect);
    app.add_option("-k,--neighbours", options->pairs.k, "Most similar files looked at per file (default 10)")
        ->transform(integer_in(1, 10'000));
    app.add_option("--min-score", options->pairs.min_score, "Keep pairs scoring at least this (default 0.7)")
        ->check(number_in(-1, 1));
    app.add_option("--group-by", options->pairs.group_by,
                   "Pairs within groups only: folder, tags, or a metadata column such as content_type");
    app.add_flag("--exact", options->pairs.exact, "Exact neighbours (libtorch matrix products, CUDA when present)");
    add_device_option(app, options->device, "For --exact");
    app.add_flag("--duplicates", options->duplicates,
                 "Print duplicate clusters: same bytes, or near-duplicates (file similarity >= --near-threshold and "
                 "waveforms matching >= --waveform-threshold); a suggested keeper each");
    app.add_option("--near-threshold", options->near_threshold,
                   "File similarity from which a pair is checked as a near-duplicate (default 0.75)")
        ->check(number_in(-1, 1));
    app.add_option("--waveform-threshold", options->waveform_threshold,
                   "Waveform correlation (4 kHz, best lag within 0.25 s) from which a checked pair is the same sound "
                   "(default 0.9)")
        ->check(number_in(-1, 1));
    app.add_flag("--clusters", options->clusters, "Print the connected components of the kept pairs");
    app.footer("File similarity: the cosine of the files' L2-normalized mean chunk vectors (with --fuse or --aspect: "
               "the weighted mean of each model's cosine). Pairs are stored in the store, under the set or the "
               "fusion (audiosim report reads them, given the same --fuse) and printed as TSV (--format csv|json|jsonl): a, b, score, group. "
               "Nothing is ever deleted.");
    return [options](const GlobalOptions& global) { return run_pairs(*options, global); };
}

}  // namespace audiosim::cli
