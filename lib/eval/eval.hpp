// Retrieval quality of a store's embeddings against labels: every labeled file queries the others,
// and precision@k and mAP@10 say how often files of the same label come first.
//
// Scoring (the file-level score of `pairs` too; `query` fuses chunk votes instead): a file's vector is the
// L2-normalized mean of its chunk vectors (flagged chunks have none, so a file whose chunks are
// all flagged has no vector); two files score the cosine of their vectors. Every labeled file with
// a vector queries every other labeled file with a vector. Removed from its ranking entirely: the
// query itself, exact duplicates of it (the same content hash), and, per --exclude-same FIELD,
// files with the same value of FIELD. Ties are broken by path. A relevant candidate has the
// query's label; a query with none is skipped and counted.
//
// Per query: precision@k = relevant files in the top k / k (k = 1, 5, 10, even when fewer than k
// candidates remain); AP@10 = (sum of precision@r over the ranks r <= 10 holding a relevant file)
// / min(10, relevant candidates). The reported numbers are means over the queries (mAP@10 is the
// mean AP@10).
#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "store/catalog.hpp"
#include "store/embeddings.hpp"

namespace audiosim {

struct LabeledFile {
    std::string label;
    std::map<std::string, std::string> fields;  // the other columns (not path, not label)
};

struct Labels {
    std::string source;                // the labels file, or "folders"
    std::vector<std::string> columns;  // every column of the header, in order
    std::string path_column = "path";
    std::map<std::string, LabeledFile> by_path;  // catalog paths
    size_t rows = 0;                   // data rows read (a path given twice: the later row wins)
};

// Reads a tab-separated labels file: a header row with a `path` column (`relative_path` is taken
// when there is no `path`) and a `label` column; other columns are kept for --exclude-same. Paths
// are catalog paths: relative to the library root, or absolute (made relative when inside it).
// Error(input) when the file is missing or unreadable, lacks those columns, or has a row with
// another number of fields than the header.
Labels read_labels_tsv(const std::string& tsv_path, const std::string& library_root);

// Label = the name of the file's parent folder; files at the library root have no label.
Labels labels_from_folders(const Catalog& catalog);

struct EvalOptions {
    // Labels columns: a candidate with the query's value in any of them is removed from its ranking.
    // An empty value or "-" means "no group" and removes nothing.
    std::vector<std::string> exclude_same;
    unsigned threads = 1;  // for the scoring; the result does not depend on it
};

inline constexpr std::array<size_t, 3> eval_ks = {1, 5, 10};
inline constexpr size_t eval_map_depth = 10;
inline constexpr size_t eval_confusion_depth = 5;   // the top 5 of each query count as confusions
inline constexpr size_t eval_confusions_kept = 10;  // the most frequent pairs are reported

struct EvalMetrics {
    size_t queries = 0;   // queries scored (with at least one relevant candidate)
    size_t skipped = 0;   // queries with no relevant candidate
    std::array<double, 3> precision{};  // at eval_ks, means over the scored queries
    double map = 0;       // mAP@10
};

struct LabelEval {
    std::string label;
    EvalMetrics metrics;
};

struct Confusion {
    std::string query_label;
    std::string retrieved_label;  // a wrong label found among the top 5
    size_t count = 0;
};

struct EvalResult {
    size_t catalog_files = 0;            // files with status ok
    size_t labeled_with_vectors = 0;     // the files that query (and are candidates)
    size_t labeled_without_vectors = 0;  // labeled, but no vector: not embedded, or every chunk flagged
    size_t unlabeled_with_vectors = 0;   // embedded, but no label
    size_t label_rows_without_file = 0;  // label rows naming no ok file of the catalog
    size_t duplicate_pairs = 0;          // (query, candidate) pairs removed as exact duplicates
    double mean_candidates = 0;          // ranked candidates per scored query
    double mean_relevant = 0;            // relevant candidates per scored query
    EvalMetrics overall;
    std::vector<LabelEval> per_label;    // sorted by label; every label of a file with a vector
    std::vector<Confusion> confusions;   // most frequent first, then by labels
};

// Error(usage) naming the columns there are when an --exclude-same column is not in the labels.
void check_exclude_same(const Labels& labels, const std::vector<std::string>& columns);
// A labeled file's value in a grouping column ("label": its label); nullptr for none ("" or "-").
const std::string* group_value(const LabeledFile& file, const std::string& column);

// Error(usage) naming the columns there are when an --exclude-same column is not in the labels.
EvalResult evaluate(const Catalog& catalog, const EmbeddingTable& embeddings, const Labels& labels,
                    const EvalOptions& options);

}  // namespace audiosim
