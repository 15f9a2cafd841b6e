// The command table: one row per subcommand. `audiosim --help` is generated from it.
#pragma once

#include "cli.hpp"

namespace audiosim::cli {

Runner setup_ingest(CLI::App& app);
Runner setup_chunk(CLI::App& app);
Runner setup_embed(CLI::App& app);
Runner setup_eval(CLI::App& app);
Runner setup_classify(CLI::App& app);
Runner setup_index(CLI::App& app);
Runner setup_query(CLI::App& app);
Runner setup_pairs(CLI::App& app);
Runner setup_report(CLI::App& app);
Runner setup_models(CLI::App& app);
Runner setup_status(CLI::App& app);
Runner setup_check(CLI::App& app);
Runner setup_version(CLI::App& app);
int print_versions();  // for --version, the same as `audiosim version`

inline const Command commands[] = {
    {"ingest", "Scan folders, file lists or stdin and record every audio file in the store", StoreUse::create, setup_ingest},
    {"chunk", "Cut stored files into windows (a chunking profile); flag silent and empty chunks", StoreUse::write, setup_chunk},
    {"embed", "Embed stored chunks with a TorchScript model (CUDA when present), incrementally per model", StoreUse::write, setup_embed},
    {"index", "Build or update the search index of each embedding set (hnswlib, cosine); --verify measures recall", StoreUse::write, setup_index},
    {"query", "Find stored files similar to audio files, stored items or text, chunk votes fused per file", StoreUse::read, setup_query},
    {"pairs", "Similar file pairs above a score (k nearest per file), within groups; duplicate clusters with a keeper", StoreUse::write, setup_pairs},
    {"eval", "Measure retrieval quality of stored embeddings on labeled files (precision@k, mAP@10)", StoreUse::read, setup_eval},
    {"classify", "Label unlabeled files by their labeled neighbours (weighted kNN), with confidence and voters; --evaluate "
                 "measures it", StoreUse::read, setup_classify},
    {"report", "Histogram of pair scores: named buckets and fine bins, for all pairs and the kept ones, per group; SVG "
               "plot; topic relevance", StoreUse::read, setup_report},
    {"models", "List models, show their sidecars, check them against the model contract", StoreUse::none, setup_models},
    {"status", "Show what the store holds, per stage and per model, and the errors", StoreUse::read, setup_status},
    {"check", "Verify every store file against its checksum and the store as a whole; --repair makes it whole again", StoreUse::read, setup_check},
    {"version", "Print the versions of audiosim and its libraries (also: --version)", StoreUse::none, setup_version},
};

}  // namespace audiosim::cli
