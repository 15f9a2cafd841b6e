// Exact (brute-force) nearest neighbours by cosine similarity over L2-normalized embeddings: for
// small libraries, `--exact`, and as the reference that measures an approximate index. The
// interface is header-only so that the torch plugin can implement it without linking the core.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "util/error.hpp"

namespace audiosim {

using Neighbours = std::vector<std::pair<uint64_t, float>>;  // (id, cosine similarity), most similar first

// The result order: higher similarity first, equal similarities by the smaller id.
inline bool ranks_before(const std::pair<uint64_t, float>& a, const std::pair<uint64_t, float>& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
}

// What every exact search refuses (inline: the torch plugin does not link the core). Error(internal)
// for dim 0, sizes that do not match or duplicate ids, Error(input) for a non-finite value.
inline void check_exact_search_rows(const std::vector<uint64_t>& ids, const std::vector<float>& vectors, size_t dim) {
    if (dim == 0) throw Error(ErrorKind::internal, "exact search: dim is 0");
    const size_t n = ids.size();
    if (vectors.size() % dim != 0 || vectors.size() / dim != n)
        throw Error(ErrorKind::internal,
                    fmt::format("exact search: {} floats for {} vectors of dim {}", vectors.size(), n, dim));
    if (std::unordered_set<uint64_t>(ids.begin(), ids.end()).size() != n)
        throw Error(ErrorKind::internal, "exact search: duplicate ids");
    for (size_t i = 0; i < vectors.size(); i++)
        if (!std::isfinite(vectors[i]))
            throw Error(ErrorKind::input,
                        fmt::format("exact search: vector of id {} holds a non-finite value", ids[i / dim]));
}

class ExactSearch {
public:
    virtual ~ExactSearch() = default;
    // For each of `count` queries (count x dim() floats, row-major, L2-normalized): the min(k, size())
    // most similar rows, most similar first, equal similarities in ascending id order, so results
    // are deterministic. A row whose similarity is not a number (NaN in a query) is left out.
    virtual std::vector<Neighbours> search(const float* queries, size_t count, size_t k) const = 0;
    virtual std::string device() const = 0;  // "cpu (audiosim)", or torch's device: "cpu", "cuda:0"
    virtual size_t size() const = 0;
    virtual size_t dim() const = 0;
};

// Exact search on the CPU without torch (index --verify, small subsets, recall measurements).
// `vectors` holds ids.size() x dim floats, row-major; it is taken over and repacked. threads <= 1
// searches on the calling thread; results do not depend on the thread count. Throws as
// check_exact_search_rows does.
std::unique_ptr<ExactSearch> make_cpu_exact_search(std::vector<uint64_t> ids, std::vector<float> vectors, size_t dim,
                                                   unsigned threads);

// Makes an exact search over ids.size() x dim vectors: how pairs and query take another searcher
// (torch's, lib/model/backend) than make_cpu_exact_search.
using ExactSearchFactory =
    std::function<std::unique_ptr<ExactSearch>(std::vector<uint64_t> ids, std::vector<float> vectors, size_t dim)>;

}  // namespace audiosim
