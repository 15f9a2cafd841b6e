// `audiosim report --topic TEXT`: the "content gap" view: how relevant each group's files are to a
// text topic, as the mean cosine between each file's vector (lib/pairs/pairs.hpp) and the topic's
// text-tower vector.
#pragma once

#include <cstddef>
#include <vector>

#include "pairs/pairs.hpp"

namespace audiosim {

struct TopicRelevance {
    size_t files = 0;
    double mean = 0, min = 0, max = 0;  // cosines in [-1, 1]; 0 for no files
};

// `topic` is a unit vector of table.dim floats; `rows` index `table`.
TopicRelevance topic_relevance(const FileVectorTable& table, const std::vector<size_t>& rows, const float* topic);

}  // namespace audiosim
