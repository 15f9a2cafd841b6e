#include "index/exact_search.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <thread>

namespace audiosim {

namespace {

// Rows are packed in panels of `panel_rows` rows stored dimension-major (dim x panel_rows), so the
// inner loop runs over independent rows: each similarity is summed in dimension order whatever the
// blocking or thread split, and GCC vectorizes the loop without -ffast-math. 32 rows keep 8 SSE
// accumulators in flight; tiles of several queries or 8- and 16-row panels measured slower (GCC
// then spills or shuffles).
constexpr size_t panel_rows = 32;
constexpr size_t panels_per_block = 16;  // 512 rows x 117 dims: ~240 KB, stays in L2 for a query block
constexpr size_t queries_per_block = 64;

// The best `k` candidates seen so far for one query, as a heap whose front is the worst kept.
class TopK {
public:
    explicit TopK(size_t k) : k_(k) { heap_.reserve(k); }

    void offer(uint64_t id, float similarity) {
        if (std::isnan(similarity)) return;
        if (heap_.size() < k_) {
            heap_.emplace_back(id, similarity);
            std::push_heap(heap_.begin(), heap_.end(), ranks_before);
            if (heap_.size() == k_) floor_ = heap_.front().second;
            return;
        }
        if (similarity < floor_ || !ranks_before({id, similarity}, heap_.front())) return;
        std::pop_heap(heap_.begin(), heap_.end(), ranks_before);
        heap_.back() = {id, similarity};
        std::push_heap(heap_.begin(), heap_.end(), ranks_before);
        floor_ = heap_.front().second;
    }

    // Rows scored below the floor cannot enter; until the heap is full, none is turned away.
    float floor() const { return floor_; }

    void merge(const TopK& other) {
        for (const auto& [id, similarity] : other.heap_) offer(id, similarity);
    }

    Neighbours sorted() && {
        std::sort_heap(heap_.begin(), heap_.end(), ranks_before);
        return std::move(heap_);
    }

private:
    size_t k_;
    Neighbours heap_;
    float floor_ = -INFINITY;
};

class CpuExactSearch final : public ExactSearch {
public:
    CpuExactSearch(std::vector<uint64_t> ids, const std::vector<float>& vectors, size_t dim, unsigned threads)
        : ids_(std::move(ids)), dim_(dim), threads_(std::max(threads, 1u)) {
        const size_t n = ids_.size();
        const size_t panels = (n + panel_rows - 1) / panel_rows;
        // Padding rows are zero; their ids are never read (they lie past size()).
        panels_.assign(panels * dim_ * panel_rows, 0.0f);
        for (size_t row = 0; row < n; row++) {
            float* panel = &panels_[(row / panel_rows) * dim_ * panel_rows];
            for (size_t d = 0; d < dim_; d++) panel[d * panel_rows + row % panel_rows] = vectors[row * dim_ + d];
        }
    }

    std::vector<Neighbours> search(const float* queries, size_t count, size_t k) const override {
        std::vector<Neighbours> results(count);
        const size_t kept = std::min(k, size());
        if (kept == 0 || count == 0) return results;
        const size_t panels = panels_.size() / (dim_ * panel_rows);
        const size_t workers = std::min<size_t>(threads_, std::max(count, panels));

        if (workers <= 1) {
            std::vector<TopK> best(count, TopK(kept));
            scan(queries, 0, count, 0, panels, best);
            for (size_t q = 0; q < count; q++) results[q] = std::move(best[q]).sorted();
            return results;
        }
        if (count >= workers) {
            // Enough queries: each worker takes whole query blocks against all rows.
            const size_t blocks = (count + queries_per_block - 1) / queries_per_block;
            std::atomic<size_t> next{0};
            run_workers(workers, [&] {
                for (size_t b = next++; b < blocks; b = next++) {
                    size_t first = b * queries_per_block, last = std::min(count, first + queries_per_block);
                    std::vector<TopK> best(last - first, TopK(kept));
                    scan(queries, first, last, 0, panels, best);
                    for (size_t q = first; q < last; q++) results[q] = std::move(best[q - first]).sorted();
                }
            });
            return results;
        }
        // Few queries: each worker scans a share of the rows, and the shares' top-k are merged. The
        // merged order is the same total order, so the result does not depend on the split.
        std::vector<std::vector<TopK>> shares(workers, std::vector<TopK>(count, TopK(kept)));
        std::atomic<size_t> next{0};
        run_workers(workers, [&] {
            for (size_t w = next++; w < workers; w = next++)
                scan(queries, 0, count, panels * w / workers, panels * (w + 1) / workers, shares[w]);
        });
        for (size_t q = 0; q < count; q++) {
            for (size_t w = 1; w < workers; w++) shares[0][q].merge(shares[w][q]);
            results[q] = std::move(shares[0][q]).sorted();
        }
        return results;
    }

    std::string device() const override { return "cpu (audiosim)"; }
    size_t size() const override { return ids_.size(); }
    size_t dim() const override { return dim_; }

private:
    template <typename Work>
    static void run_workers(size_t workers, Work work) {
        std::exception_ptr failure;
        std::mutex failure_mutex;
        std::vector<std::thread> pool;
        for (size_t t = 0; t < workers; t++)
            pool.emplace_back([&] {
                try {
                    work();
                } catch (...) {
                    std::lock_guard<std::mutex> lock(failure_mutex);
                    if (!failure) failure = std::current_exception();
                }
            });
        for (auto& thread : pool) thread.join();
        if (failure) std::rethrow_exception(failure);
    }

    // Similarities of one query with the rows of one panel.
    void score_panel(const float* query, const float* panel, float (&scores)[panel_rows]) const {
        float sums[panel_rows] = {};
        for (size_t d = 0; d < dim_; d++) {
            const float* column = panel + d * panel_rows;
            for (size_t r = 0; r < panel_rows; r++) sums[r] += query[d] * column[r];
        }
        std::copy(std::begin(sums), std::end(sums), std::begin(scores));
    }

    // Queries [first, last) against panels [first_panel, last_panel); best[i] is query first + i.
    // Row blocks outside, queries inside: a block is read from memory once per query block.
    void scan(const float* queries, size_t first, size_t last, size_t first_panel, size_t last_panel,
              std::vector<TopK>& best) const {
        const size_t n = ids_.size();
        float scores[panel_rows];
        for (size_t block = first_panel; block < last_panel; block += panels_per_block) {
            const size_t block_end = std::min(last_panel, block + panels_per_block);
            for (size_t q = first; q < last; q++) {
                TopK& top = best[q - first];
                for (size_t p = block; p < block_end; p++) {
                    score_panel(queries + q * dim_, &panels_[p * dim_ * panel_rows], scores);
                    const size_t rows = std::min(panel_rows, n - p * panel_rows);
                    for (size_t r = 0; r < rows; r++)
                        if (scores[r] >= top.floor()) top.offer(ids_[p * panel_rows + r], scores[r]);
                }
            }
        }
    }

    std::vector<uint64_t> ids_;
    size_t dim_;
    unsigned threads_;
    std::vector<float> panels_;
};

}  // namespace

std::unique_ptr<ExactSearch> make_cpu_exact_search(std::vector<uint64_t> ids, std::vector<float> vectors, size_t dim,
                                                   unsigned threads) {
    check_exact_search_rows(ids, vectors, dim);
    return std::make_unique<CpuExactSearch>(std::move(ids), vectors, dim, threads);
}

}  // namespace audiosim
