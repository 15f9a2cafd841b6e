#include "query/fusion.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include <fmt/format.h>

#include "util/error.hpp"

namespace audiosim {

FusionMethod parse_fusion_method(const std::string& name) {
    if (name == "weighted") return FusionMethod::weighted;
    if (name == "max") return FusionMethod::max;
    if (name == "mean") return FusionMethod::mean;
    if (name == "rrf") return FusionMethod::rrf;
    throw Error(ErrorKind::usage, fmt::format("unknown fusion '{}' (weighted, max, mean, rrf)", name));
}

const char* fusion_method_name(FusionMethod method) {
    switch (method) {
    case FusionMethod::weighted: return "weighted";
    case FusionMethod::max: return "max";
    case FusionMethod::mean: return "mean";
    case FusionMethod::rrf: return "rrf";
    }
    return "?";
}

void validate_fusion_options(const FusionOptions& options) {
    if (!(options.vote_weight >= 0) || !(options.similarity_weight >= 0) ||
        options.vote_weight + options.similarity_weight <= 0)
        throw Error(ErrorKind::usage, fmt::format("fusion weights must be non-negative and not both 0 (votes {}, similarity {})",
                                                  options.vote_weight, options.similarity_weight));
    if (!(options.rrf_k >= 0)) throw Error(ErrorKind::usage, fmt::format("--rrf-k must be non-negative, not {}", options.rrf_k));
}

namespace {

// Best first: score, then votes, then best similarity, then `before`.
void order_matches(std::vector<FileMatch>& matches, const std::function<bool(uint64_t, uint64_t)>& before) {
    std::sort(matches.begin(), matches.end(), [&](const FileMatch& a, const FileMatch& b) {
        if (a.score != b.score) return a.score > b.score;
        if (a.votes != b.votes) return a.votes > b.votes;
        if (a.best_similarity != b.best_similarity) return a.best_similarity > b.best_similarity;
        return before(a.file_id, b.file_id);
    });
}

}  // namespace

std::vector<FileMatch> fuse(const std::vector<QueryChunkHits>& chunks, const FusionOptions& options,
                            const std::function<bool(uint64_t, uint64_t)>& before) {
    std::unordered_map<uint64_t, FileMatch> files;
    std::unordered_map<uint64_t, double> reciprocal_ranks;
    size_t searched = 0;  // n: query chunks that searched
    for (const QueryChunkHits& chunk : chunks) {
        ++searched;
        size_t file_rank = 0;
        std::unordered_map<uint64_t, bool> seen;  // this chunk's best hit per file comes first: the rest do not count
        for (const ChunkHit& hit : chunk.hits) {
            if (!seen.emplace(hit.file_id, true).second) continue;
            ++file_rank;
            FileMatch& file = files[hit.file_id];
            file.file_id = hit.file_id;
            RegionMatch region{chunk.start, chunk.duration, hit.start, hit.duration, hit.similarity};
            if (file.votes == 0 || hit.similarity > file.best_similarity) {
                file.best_similarity = hit.similarity;
                file.best = region;
            }
            ++file.votes;
            file.total_similarity += hit.similarity;
            file.regions.push_back(region);
            reciprocal_ranks[hit.file_id] += 1.0 / (options.rrf_k + static_cast<double>(file_rank));
        }
    }

    std::vector<FileMatch> result;
    result.reserve(files.size());
    const double n = static_cast<double>(std::max<size_t>(searched, 1));
    for (auto& [file_id, file] : files) {
        switch (options.method) {
        case FusionMethod::weighted:
            file.score = (options.vote_weight * static_cast<double>(file.votes) / n +
                          options.similarity_weight * file.total_similarity / n) /
                         (options.vote_weight + options.similarity_weight);
            break;
        case FusionMethod::max: file.score = file.best_similarity; break;
        case FusionMethod::mean: file.score = file.total_similarity / static_cast<double>(file.votes); break;
        case FusionMethod::rrf: file.score = reciprocal_ranks[file_id] / (n / (options.rrf_k + 1.0)); break;
        }
        result.push_back(std::move(file));
    }
    order_matches(result, before);
    return result;
}

std::vector<FileMatch> combine_models(const std::vector<ModelAnswer>& answers,
                                      const std::function<bool(uint64_t, uint64_t)>& before) {
    double total = 0;
    for (const ModelAnswer& answer : answers) {
        if (!(answer.weight > 0) || !std::isfinite(answer.weight))
            throw Error(ErrorKind::usage, fmt::format("fusion weight {} is not a positive number", answer.weight));
        total += answer.weight;
    }
    std::unordered_map<uint64_t, FileMatch> files;
    std::unordered_map<uint64_t, double> weight_of_source;  // the weight of the model a file's details come from
    for (const ModelAnswer& answer : answers)
        for (const FileMatch& match : *answer.files) {
            auto [it, first] = files.try_emplace(match.file_id, match);
            FileMatch& file = it->second;
            if (first) {
                file.score = 0;
            } else if (answer.weight > weight_of_source[match.file_id]) {
                double score = file.score;
                file = match;
                file.score = score;
            }
            if (first || answer.weight > weight_of_source[match.file_id]) weight_of_source[match.file_id] = answer.weight;
            file.score += answer.weight / total * match.score;
        }
    std::vector<FileMatch> result;
    result.reserve(files.size());
    for (auto& [file_id, file] : files) result.push_back(std::move(file));
    order_matches(result, before);
    return result;
}

}  // namespace audiosim
