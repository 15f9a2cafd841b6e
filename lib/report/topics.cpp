#include "report/topics.hpp"

#include <algorithm>

#include "util/error.hpp"

namespace audiosim {

TopicRelevance topic_relevance(const FileVectorTable& table, const std::vector<size_t>& rows, const float* topic) {
    TopicRelevance result;
    double sum = 0;
    for (size_t row : rows) {
        if (row >= table.ids.size()) throw Error(ErrorKind::internal, "topic_relevance: a row outside the table");
        const double score = pair_score(&table.vectors[row * table.dim], topic, table.dim);
        result.min = result.files ? std::min(result.min, score) : score;
        result.max = result.files ? std::max(result.max, score) : score;
        sum += score;
        ++result.files;
    }
    result.mean = result.files ? sum / static_cast<double>(result.files) : 0.0;
    return result;
}

}  // namespace audiosim
