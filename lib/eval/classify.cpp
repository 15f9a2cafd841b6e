// Weighted kNN labels over file vectors (classify.hpp documents the vote).
#include "eval/classify.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <new>

#include <fmt/format.h>

#include "eval/scoring.hpp"
#include "util/error.hpp"
#include "util/ordered_pool.hpp"

namespace audiosim {
namespace {

// A file with a vector: a query, and a candidate when labeled.
struct Item {
    const FileRecord* record = nullptr;
    const LabeledFile* labeled = nullptr;  // nullptr: no label
};

}  // namespace

ClassifyResult classify(const Catalog& catalog, const EmbeddingTable& embeddings, const Labels& labels,
                        const ClassifyOptions& options) {
    if (options.k == 0) throw Error(ErrorKind::usage, "classify: --k must be at least 1");
    if (!(options.temperature > 0)) throw Error(ErrorKind::usage, "classify: --temperature must be above 0");
    check_exclude_same(labels, options.exclude_same);

    ClassifyResult result;
    const size_t dim = embeddings.dim();
    for (const auto& [path, labeled] : labels.by_path) {
        const FileRecord* record = catalog.find(path);
        if (!record || record->status != FileStatus::ok) ++result.label_rows_without_file;
    }
    // Items in path order; candidates (labeled items) in path order too, so that a lower
    // candidate index is a lower path: the tie rule.
    std::vector<Item> items;
    std::vector<float> item_vectors, candidate_vectors;
    std::vector<size_t> candidate_items;  // candidate -> item
    std::vector<float> vector(dim);
    for (const FileRecord* record : catalog.records_sorted_by_path()) {
        if (record->status != FileStatus::ok) continue;
        auto labeled = labels.by_path.find(record->path);
        const LabeledFile* label = labeled != labels.by_path.end() && !labeled->second.label.empty() ? &labeled->second : nullptr;
        auto embedded = embeddings.by_file().find(record->file_id);
        if (embedded == embeddings.by_file().end() || !mean_file_vector(embedded->second, dim, vector.data())) {
            ++(label ? result.labeled_without_vectors : result.unlabeled_without_vectors);
            continue;
        }
        if (label) {
            candidate_items.push_back(items.size());
            candidate_vectors.insert(candidate_vectors.end(), vector.begin(), vector.end());
        }
        items.push_back({record, label});
        item_vectors.insert(item_vectors.end(), vector.begin(), vector.end());
    }
    result.labeled_with_vectors = candidate_items.size();
    const size_t n = items.size(), candidates = candidate_items.size();

    // Group values of the candidates, per --exclude-same column: a leave-one-out query does not
    // see candidates that share one with it.
    const size_t group_count = options.exclude_same.size();
    std::vector<const std::string*> candidate_groups(candidates * group_count);
    for (size_t c = 0; c < candidates; ++c)
        for (size_t g = 0; g < group_count; ++g)
            candidate_groups[c * group_count + g] = group_value(*items[candidate_items[c]].labeled, options.exclude_same[g]);

    auto vote = [&](size_t query, const float* scores, std::vector<size_t>& order) {
        const Item& item = items[query];
        Prediction prediction;
        prediction.path = item.record->path;
        const bool held_out = item.labeled != nullptr;
        std::vector<const std::string*> own_groups(group_count);
        if (held_out) {
            prediction.true_label = item.labeled->label;
            for (size_t g = 0; g < group_count; ++g) own_groups[g] = group_value(*item.labeled, options.exclude_same[g]);
        }
        order.clear();
        for (size_t c = 0; c < candidates; ++c) {
            if (held_out) {
                const FileRecord* candidate = items[candidate_items[c]].record;
                if (candidate == item.record || candidate->hash == item.record->hash) continue;
                bool same_group = false;
                for (size_t g = 0; g < group_count && !same_group; ++g) {
                    const std::string* mine = own_groups[g];
                    const std::string* theirs = candidate_groups[c * group_count + g];
                    same_group = mine && theirs && *mine == *theirs;
                }
                if (same_group) continue;
            }
            order.push_back(c);
        }
        const size_t depth = std::min(options.k, order.size());
        std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(depth), order.end(),
                          [&](size_t a, size_t b) { return scores[a] != scores[b] ? scores[a] > scores[b] : a < b; });
        if (depth == 0) return prediction;
        double total = 0;
        std::map<std::string, double> weight_of;
        for (size_t r = 0; r < depth; ++r) {
            const Item& voter = items[candidate_items[order[r]]];
            double weight = std::exp((static_cast<double>(scores[order[r]]) - scores[order[0]]) / options.temperature);
            prediction.voters.push_back({voter.record->path, voter.labeled->label, scores[order[r]], weight});
            weight_of[voter.labeled->label] += weight;
            total += weight;
        }
        // The heaviest label; among equal weights, the label of the better-ranked voter.
        for (const Voter& voter : prediction.voters)
            if (prediction.label.empty() || weight_of[voter.label] > weight_of[prediction.label]) prediction.label = voter.label;
        for (Voter& voter : prediction.voters) {
            voter.weight /= total;
            prediction.votes += voter.label == prediction.label;
        }
        prediction.confidence = weight_of[prediction.label] / total;
        return prediction;
    };

    // The queries: every unlabeled item, and with evaluate every labeled one too.
    std::vector<size_t> queries;
    for (size_t i = 0; i < n; ++i)
        if (!items[i].labeled || options.evaluate) queries.push_back(i);
    if (candidates > 0 && !queries.empty()) {
        const CandidateScorer scorer(candidate_vectors, candidates, dim);
        constexpr size_t query_block = 8;
        auto score_block = [&](size_t block) {
            std::vector<Prediction> predictions;
            try {
                size_t first = block * query_block, count = std::min(query_block, queries.size() - first);
                std::vector<float> block_vectors(count * dim), scores(count * candidates);
                for (size_t q = 0; q < count; ++q)
                    std::copy_n(&item_vectors[queries[first + q] * dim], dim, &block_vectors[q * dim]);
                scorer.score(block_vectors.data(), count, scores.data());
                std::vector<size_t> order;
                order.reserve(candidates);
                for (size_t q = 0; q < count; ++q) predictions.push_back(vote(queries[first + q], &scores[q * candidates], order));
            } catch (const std::bad_alloc&) {
                predictions.clear();  // an empty block: the consumer reports it
            }
            return predictions;
        };
        const size_t blocks = (queries.size() + query_block - 1) / query_block;
        OrderedPool<std::vector<Prediction>> pool(blocks, std::max(1u, options.threads), score_block, nullptr, 64);
        for (size_t block = 0; block < blocks; ++block) {
            std::vector<Prediction> predictions = *pool.take(block);
            if (predictions.empty()) throw std::bad_alloc();
            for (Prediction& prediction : predictions)
                (prediction.true_label.empty() ? result.predictions : result.held_out).push_back(std::move(prediction));
        }
    } else {
        for (size_t i : queries) {
            Prediction prediction;
            prediction.path = items[i].record->path;
            if (items[i].labeled) prediction.true_label = items[i].labeled->label;
            (prediction.true_label.empty() ? result.predictions : result.held_out).push_back(std::move(prediction));
        }
    }

    std::map<std::string, ClassAccuracy> per_label;
    for (double level : classify_confidence_levels) result.coverage.push_back({level, 0, 0});
    for (const Prediction& prediction : result.held_out) {
        if (prediction.label.empty()) {
            ++result.held_out_without_candidate;
            continue;
        }
        const bool right = prediction.label == prediction.true_label;
        ClassAccuracy& accuracy = per_label[prediction.true_label];
        accuracy.label = prediction.true_label;
        ++accuracy.files;
        accuracy.correct += right;
        result.correct += right;
        for (CoverageAtConfidence& coverage : result.coverage)
            if (prediction.confidence >= coverage.min_confidence) {
                ++coverage.predictions;
                coverage.correct += right;
            }
    }
    for (auto& [label, accuracy] : per_label) result.per_label.push_back(accuracy);
    return result;
}

}  // namespace audiosim
