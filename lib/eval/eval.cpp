// Retrieval evaluation: file vectors, a brute-force cosine ranking per labeled file, precision@k
// and mAP@10 (eval.hpp documents the scoring).
#include "eval/eval.hpp"

#include <algorithm>
#include <cmath>
#include <new>
#include <utility>

#include <fmt/format.h>

#include "eval/scoring.hpp"
#include "util/csv.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/ordered_pool.hpp"

namespace audiosim {
namespace {

std::vector<std::string> split_tabs(const std::string& line) {
    std::vector<std::string> fields;
    size_t start = 0;
    for (;;) {
        size_t tab = line.find('\t', start);
        fields.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
        if (tab == std::string::npos) return fields;
        start = tab + 1;
    }
}

std::string column_list(const std::vector<std::string>& columns) {
    std::string list;
    for (const auto& column : columns) list += (list.empty() ? "" : ", ") + column;
    return list.empty() ? "none" : list;
}

// "" and "-" mean "no value" in a grouping column.
bool is_missing(const std::string& value) { return value.empty() || value == "-"; }

// Interns strings as small integers, so that the inner loops compare integers.
class Interner {
public:
    int id(const std::string& value) {
        auto [it, inserted] = ids_.try_emplace(value, static_cast<int>(names_.size()));
        if (inserted) names_.push_back(value);
        return it->second;
    }
    const std::string& name(int id) const { return names_[static_cast<size_t>(id)]; }
    size_t size() const { return names_.size(); }

private:
    std::map<std::string, int> ids_;
    std::vector<std::string> names_;
};

struct Accumulator {
    size_t queries = 0, skipped = 0;
    std::array<double, eval_ks.size()> precision{};
    double ap = 0;

    void add(const std::array<double, eval_ks.size()>& p, double average_precision) {
        ++queries;
        for (size_t i = 0; i < p.size(); ++i) precision[i] += p[i];
        ap += average_precision;
    }
    EvalMetrics metrics() const {
        EvalMetrics m;
        m.queries = queries;
        m.skipped = skipped;
        if (queries > 0) {
            for (size_t i = 0; i < precision.size(); ++i) m.precision[i] = precision[i] / static_cast<double>(queries);
            m.map = ap / static_cast<double>(queries);
        }
        return m;
    }
};

}  // namespace

Labels read_labels_tsv(const std::string& tsv_path, const std::string& library_root) {
    std::string text = read_text_file(tsv_path);  // Error(input) when missing or unreadable
    if (text.compare(0, 3, "\xef\xbb\xbf") == 0) text.erase(0, 3);  // a UTF-8 byte order mark
    Labels labels;
    labels.source = tsv_path;
    size_t path_index = 0, label_index = 0;
    bool have_header = false;
    size_t line_number = 0, start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(start, end - start);
        start = end + 1;
        ++line_number;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        std::vector<std::string> fields = split_tabs(line);
        if (!have_header) {
            check_unique_columns(fields, tsv_path);
            labels.columns = fields;
            auto find = [&](const char* name) { return std::find(fields.begin(), fields.end(), name); };
            auto path_column = find("path");
            if (path_column == fields.end()) path_column = find("relative_path");
            auto label_column = find("label");
            if (path_column == fields.end() || label_column == fields.end())
                throw Error(ErrorKind::input, fmt::format("{}: the header needs a 'path' and a 'label' column (columns: {})",
                                                          tsv_path, column_list(fields)));
            path_index = static_cast<size_t>(path_column - fields.begin());
            labels.path_column = *path_column;
            label_index = static_cast<size_t>(label_column - fields.begin());
            have_header = true;
            continue;
        }
        if (fields.size() != labels.columns.size())
            throw Error(ErrorKind::input, fmt::format("{}: line {} has {} fields, the header {}", tsv_path, line_number,
                                                      fields.size(), labels.columns.size()));
        const std::string& path = fields[path_index];
        std::string key = catalog_path_of(path, library_root);
        LabeledFile file;
        file.label = fields[label_index];
        for (size_t i = 0; i < fields.size(); ++i)
            if (i != path_index && i != label_index) file.fields[labels.columns[i]] = fields[i];
        labels.by_path[key] = std::move(file);  // a later row for the same path wins
        ++labels.rows;
    }
    if (!have_header) throw Error(ErrorKind::input, fmt::format("{}: empty labels file", tsv_path));
    return labels;
}

Labels labels_from_folders(const Catalog& catalog) {
    Labels labels;
    labels.source = "folders";
    labels.columns = {"path", "label"};
    catalog.for_each([&](const FileRecord& record) {
        if (record.path.find('/') == std::string::npos) return;  // at the library root: no folder
        std::string folder = file_name(parent_path(record.path));
        if (folder.empty()) return;
        labels.by_path[record.path].label = folder;
        ++labels.rows;
    });
    return labels;
}

void check_exclude_same(const Labels& labels, const std::vector<std::string>& columns) {
    for (const auto& column : columns)
        if (column == labels.path_column ||
            std::find(labels.columns.begin(), labels.columns.end(), column) == labels.columns.end())
            throw Error(ErrorKind::usage, fmt::format("--exclude-same: no column '{}' in the labels of {} (columns: {})",
                                                      column, labels.source, column_list(labels.columns)));
}

const std::string* group_value(const LabeledFile& file, const std::string& column) {
    const std::string* value = nullptr;
    if (column == "label") {
        value = &file.label;
    } else if (auto field = file.fields.find(column); field != file.fields.end()) {
        value = &field->second;
    }
    return value && !is_missing(*value) ? value : nullptr;
}

EvalResult evaluate(const Catalog& catalog, const EmbeddingTable& embeddings, const Labels& labels,
                    const EvalOptions& options) {
    check_exclude_same(labels, options.exclude_same);

    EvalResult result;
    const size_t dim = embeddings.dim();
    const size_t group_count = options.exclude_same.size();
    Interner label_ids;
    std::vector<Interner> group_ids(group_count);
    // The queries (and candidates), in path order so that the lower index is the lower path, as
    // flat arrays: the inner loops touch nothing else.
    std::vector<uint64_t> hashes;
    std::vector<int> item_labels;
    std::vector<int> groups;     // items x group_count: value id, -1 for none
    std::vector<float> vectors;  // items x dim, row-major

    for (const auto& [path, labeled] : labels.by_path) {
        const FileRecord* record = catalog.find(path);
        if (!record || record->status != FileStatus::ok) ++result.label_rows_without_file;
    }
    std::vector<float> vector(dim);
    for (const FileRecord* record : catalog.records_sorted_by_path()) {
        if (record->status != FileStatus::ok) continue;
        ++result.catalog_files;
        auto labeled = labels.by_path.find(record->path);
        bool has_label = labeled != labels.by_path.end() && !labeled->second.label.empty();
        auto embedded = embeddings.by_file().find(record->file_id);
        bool has_vector = embedded != embeddings.by_file().end() && mean_file_vector(embedded->second, dim, vector.data());
        if (!has_label) {
            if (has_vector) ++result.unlabeled_with_vectors;
            continue;
        }
        if (!has_vector) {
            ++result.labeled_without_vectors;
            continue;
        }
        hashes.push_back(record->hash);
        item_labels.push_back(label_ids.id(labeled->second.label));
        for (size_t g = 0; g < group_count; ++g) {
            const std::string* value = group_value(labeled->second, options.exclude_same[g]);
            groups.push_back(value ? group_ids[g].id(*value) : -1);
        }
        vectors.insert(vectors.end(), vector.begin(), vector.end());
    }
    const size_t n = hashes.size();
    result.labeled_with_vectors = n;

    const CandidateScorer scorer(vectors, n, dim);  // memory: a second copy of the vectors

    // What one query contributes; computed on worker threads, summed in query order afterwards so
    // that the result does not depend on the number of threads.
    struct Outcome {
        bool skipped = false;
        size_t candidates = 0, relevant = 0, duplicates = 0;
        std::array<double, eval_ks.size()> precision{};
        double ap = 0;
        std::vector<int> confused;  // wrong labels among the top 5
    };

    auto rank = [&](size_t query, const float* scores, std::vector<size_t>& candidates) {
        Outcome outcome;
        const uint64_t hash = hashes[query];
        const int label = item_labels[query];
        const int* query_groups = groups.data() + query * group_count;
        candidates.clear();
        for (size_t j = 0; j < n; ++j) {
            if (j == query) continue;
            if (hashes[j] == hash) {
                ++outcome.duplicates;
                continue;
            }
            bool same_group = false;
            for (size_t g = 0; g < group_count && !same_group; ++g)
                same_group = query_groups[g] >= 0 && query_groups[g] == groups[j * group_count + g];
            if (same_group) continue;
            candidates.push_back(j);
            if (item_labels[j] == label) ++outcome.relevant;
        }
        outcome.candidates = candidates.size();
        if (outcome.relevant == 0) {
            outcome.skipped = true;
            return outcome;
        }
        size_t depth = std::min(eval_map_depth, candidates.size());
        std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(depth), candidates.end(),
                          [&](size_t a, size_t b) { return scores[a] != scores[b] ? scores[a] > scores[b] : a < b; });
        size_t hits = 0;
        for (size_t r = 0; r < depth; ++r) {
            int retrieved = item_labels[candidates[r]];
            if (retrieved == label) {
                ++hits;
                outcome.ap += static_cast<double>(hits) / static_cast<double>(r + 1);
            } else if (r < eval_confusion_depth) {
                outcome.confused.push_back(retrieved);
            }
            for (size_t k = 0; k < eval_ks.size(); ++k)
                if (r + 1 == eval_ks[k] || (r + 1 == depth && depth < eval_ks[k]))
                    outcome.precision[k] = static_cast<double>(hits) / static_cast<double>(eval_ks[k]);
        }
        outcome.ap /= static_cast<double>(std::min(eval_map_depth, outcome.relevant));
        return outcome;
    };

    constexpr size_t query_block = 8;  // queries scored together, sharing each loaded column
    auto score_block = [&](size_t block) {
        std::vector<Outcome> outcomes;
        try {
            size_t q0 = block * query_block, queries = std::min(query_block, n - q0);
            std::vector<float> scores(queries * n);
            scorer.score(&vectors[q0 * dim], queries, scores.data());
            std::vector<size_t> candidates;
            candidates.reserve(n);
            for (size_t q = 0; q < queries; ++q) outcomes.push_back(rank(q0 + q, &scores[q * n], candidates));
        } catch (const std::bad_alloc&) {
            outcomes.clear();  // an empty block: the consumer reports it
        }
        return outcomes;
    };

    Accumulator overall;
    std::vector<Accumulator> per_label(label_ids.size());
    std::map<std::pair<int, int>, size_t> confusion_counts;
    size_t candidate_total = 0, relevant_total = 0;
    const size_t blocks = (n + query_block - 1) / query_block;
    OrderedPool<std::vector<Outcome>> pool(blocks, std::max(1u, options.threads), score_block, nullptr, 64);
    for (size_t block = 0; block < blocks; ++block) {
        std::vector<Outcome> outcomes = *pool.take(block);
        if (outcomes.empty()) throw std::bad_alloc();
        for (size_t q = 0; q < outcomes.size(); ++q) {
            const Outcome& o = outcomes[q];
            int label = item_labels[block * query_block + q];
            Accumulator& label_accumulator = per_label[static_cast<size_t>(label)];
            result.duplicate_pairs += o.duplicates;
            if (o.skipped) {
                ++overall.skipped;
                ++label_accumulator.skipped;
                continue;
            }
            overall.add(o.precision, o.ap);
            label_accumulator.add(o.precision, o.ap);
            candidate_total += o.candidates;
            relevant_total += o.relevant;
            for (int retrieved : o.confused) ++confusion_counts[{label, retrieved}];
        }
    }

    result.overall = overall.metrics();
    if (overall.queries > 0) {
        result.mean_candidates = static_cast<double>(candidate_total) / static_cast<double>(overall.queries);
        result.mean_relevant = static_cast<double>(relevant_total) / static_cast<double>(overall.queries);
    }
    for (size_t id = 0; id < label_ids.size(); ++id)
        result.per_label.push_back({label_ids.name(static_cast<int>(id)), per_label[id].metrics()});
    std::sort(result.per_label.begin(), result.per_label.end(),
              [](const LabelEval& a, const LabelEval& b) { return a.label < b.label; });
    for (const auto& [pair, count] : confusion_counts)
        result.confusions.push_back({label_ids.name(pair.first), label_ids.name(pair.second), count});
    std::sort(result.confusions.begin(), result.confusions.end(), [](const Confusion& a, const Confusion& b) {
        if (a.count != b.count) return a.count > b.count;
        if (a.query_label != b.query_label) return a.query_label < b.query_label;
        return a.retrieved_label < b.retrieved_label;
    });
    if (result.confusions.size() > eval_confusions_kept) result.confusions.resize(eval_confusions_kept);
    return result;
}

}  // namespace audiosim
