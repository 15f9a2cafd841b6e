// Chunk-and-vote fusion: every query chunk brings its nearest stored chunks; per stored file they
// become votes, a total and a best similarity, the regions that matched, and one score.
//
// For a query of n chunks (those that searched: flagged chunks never do), per file and per query
// chunk only that chunk's most similar hit in the file counts:
//   votes             query chunks with a hit in the file (at most n)
//   total similarity  the sum of those hits' similarities (at most n)
//   best similarity   the most similar of them
// Scores (docs/CLI.md repeats them):
//   weighted (default) (vote_weight * votes / n + similarity_weight * total / n) / (vote_weight + similarity_weight):
//                      n is the most votes and the most total similarity a file can have, so a file
//                      matching every chunk of the query exactly scores 1.0
//   max                best similarity
//   mean               total / votes: the mean similarity of the chunks that matched
//   rrf                reciprocal rank fusion: the sum over query chunks of 1 / (rrf_k + r), r the
//                      file's rank (1 = first) among the files that chunk hit, divided by n / (rrf_k + 1)
//                      so that a file ranked first by every chunk scores 1.0
// Files are ordered by score, then votes, then best similarity, then by `before` on file ids
// (default: the smaller id; the query engine passes path order).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace audiosim {

struct ChunkHit {
    uint64_t chunk_id = 0;
    uint64_t file_id = 0;
    float similarity = 0;
    double start = 0;     // seconds into the stored file
    double duration = 0;
};

// One query chunk: where it lies in the query, and its neighbours, most similar first.
struct QueryChunkHits {
    double start = 0;
    double duration = 0;
    std::vector<ChunkHit> hits;
};

enum class FusionMethod { weighted, max, mean, rrf };
FusionMethod parse_fusion_method(const std::string& name);  // Error(usage) naming the methods
const char* fusion_method_name(FusionMethod method);

struct FusionOptions {
    FusionMethod method = FusionMethod::weighted;
    double vote_weight = 0.2;
    double similarity_weight = 0.8;
    double rrf_k = 60;
};
void validate_fusion_options(const FusionOptions& options);  // Error(usage): negative weights, both zero, rrf_k < 0

// A query region and the stored region that matched it (seconds).
struct RegionMatch {
    double query_start = 0, query_duration = 0;
    double match_start = 0, match_duration = 0;
    float similarity = 0;
};

struct FileMatch {
    uint64_t file_id = 0;
    double score = 0;
    size_t votes = 0;
    double total_similarity = 0;
    float best_similarity = 0;
    RegionMatch best;                  // the most similar region pair
    std::vector<RegionMatch> regions;  // one per voting query chunk, in query order
};

// Every file some chunk hit, best first.
std::vector<FileMatch> fuse(const std::vector<QueryChunkHits>& chunks, const FusionOptions& options,
                            const std::function<bool(uint64_t, uint64_t)>& before = std::less<uint64_t>());

// Several models' answers to one query, combined (query --fuse): a file's score is the weighted
// mean of its scores under the models, 0 under a model whose search did not reach it; its votes,
// similarities and regions are those of the heaviest model that found it (the first given among
// equal weights). Ordered as fuse() orders. Error(usage) for a weight that is not positive.
struct ModelAnswer {
    const std::vector<FileMatch>* files = nullptr;  // every file the model's search reached
    double weight = 1;
};
std::vector<FileMatch> combine_models(const std::vector<ModelAnswer>& answers,
                                      const std::function<bool(uint64_t, uint64_t)>& before = std::less<uint64_t>());

}  // namespace audiosim
