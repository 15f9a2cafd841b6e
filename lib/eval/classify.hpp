// Labels from neighbours: every stored file without a label gets the label its k most similar
// labeled files vote for (weighted kNN over file vectors), with a confidence and the neighbours
// that voted; and the same vote for every labeled file, its own label hidden (leave-one-out), to
// measure how often the vote is right.
//
// Scoring as eval's (eval.hpp): a file's vector is the L2-normalized mean of its chunk vectors,
// two files score the cosine of their vectors, ties are broken by path. The k best-scoring labeled
// candidates vote; candidate i (score s_i, best score s_1) weighs exp((s_i - s_1) / temperature),
// so a neighbour much less similar than the best counts little. A label's weight is the sum of its
// voters' weights; the prediction is the heaviest label (a tie goes to the label of the better-
// ranked voter), its confidence = its weight / the total weight (1: every voter agrees).
// Leave-one-out removes from a labeled file's candidates the file itself, its exact duplicates
// (the same content hash) and files sharing an --exclude-same value, as eval does.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <vector>

#include "eval/eval.hpp"
#include "store/catalog.hpp"
#include "store/embeddings.hpp"

namespace audiosim {

struct ClassifyOptions {
    size_t k = 10;
    double temperature = 0.02;  // cosine units; larger: closer to a plain majority vote (docs/QUALITY.md)
    bool evaluate = false;      // also vote for every labeled file, its label hidden
    std::vector<std::string> exclude_same;  // labels columns, for the leave-one-out candidates
    unsigned threads = 1;       // the result does not depend on it
};

struct Voter {
    std::string path;
    std::string label;
    float score = 0;
    double weight = 0;  // normalized: the voters' weights sum to 1
};

struct Prediction {
    std::string path;
    std::string label;        // "" when there was no labeled candidate
    double confidence = 0;
    size_t votes = 0;         // voters with the predicted label
    std::string true_label;   // leave-one-out rows: the hidden label; "" for unlabeled files
    std::vector<Voter> voters;  // best first
};

inline constexpr std::array<double, 3> classify_confidence_levels = {0.5, 0.8, 0.95};

struct ClassAccuracy {
    std::string label;
    size_t files = 0;    // labeled files of this label that got a prediction
    size_t correct = 0;
};

struct CoverageAtConfidence {
    double min_confidence = 0;
    size_t predictions = 0;  // leave-one-out predictions with at least this confidence
    size_t correct = 0;
};

struct ClassifyResult {
    size_t labeled_with_vectors = 0;     // the candidates
    size_t labeled_without_vectors = 0;
    size_t unlabeled_without_vectors = 0;  // ok files with no label and no vector: not predicted
    size_t label_rows_without_file = 0;
    std::vector<Prediction> predictions;  // every unlabeled file with a vector, path order
    // With ClassifyOptions::evaluate:
    std::vector<Prediction> held_out;     // every labeled file with a vector, path order
    size_t held_out_without_candidate = 0;  // no labeled candidate left: no prediction
    size_t correct = 0;                   // held-out predictions equal to the hidden label
    std::vector<ClassAccuracy> per_label; // by label
    std::vector<CoverageAtConfidence> coverage;  // at classify_confidence_levels
};

// Error(usage) for k = 0, a temperature <= 0, or an --exclude-same column not in the labels.
ClassifyResult classify(const Catalog& catalog, const EmbeddingTable& embeddings, const Labels& labels,
                        const ClassifyOptions& options);

}  // namespace audiosim
