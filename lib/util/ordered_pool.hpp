// Runs a function over a list of items on worker threads and hands the results back in list order,
// never more than `window` items ahead of the consumer, so memory stays bounded whatever the list's
// length. Used by ingest (hash + probe), chunk (decode) and embed (decode + resample).
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace audiosim {

template <typename Result>
class OrderedPool {
public:
    // `work(i)` computes item i; it runs on a worker thread and must not throw (return a status).
    // When `cancel` becomes true, items not started yet are not computed: take() returns nullopt.
    OrderedPool(size_t items, unsigned threads, std::function<Result(size_t)> work,
                const std::atomic<bool>* cancel = nullptr, size_t window = 4096)
        : work_(std::move(work)), cancel_(cancel), window_(window), results_(items) {
        unsigned count = static_cast<unsigned>(std::clamp<size_t>(threads, 1, std::max<size_t>(1, items)));
        for (unsigned t = 0; t < count; ++t) threads_.emplace_back([this] { run(); });
    }

    ~OrderedPool() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        wake_workers_.notify_all();
        for (auto& thread : threads_) thread.join();
    }

    OrderedPool(const OrderedPool&) = delete;
    OrderedPool& operator=(const OrderedPool&) = delete;

    // Waits for item `index` (taken in order, each once); nullopt if it was skipped by a cancel.
    std::optional<Result> take(size_t index) {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_consumer_.wait(lock, [&] { return results_[index].done; });
        consumed_ = index + 1;
        std::optional<Result> result = std::move(results_[index].value);
        lock.unlock();
        wake_workers_.notify_all();
        return result;
    }

private:
    struct Slot {
        bool done = false;
        std::optional<Result> value;  // empty when skipped
    };

    void run() {
        for (;;) {
            size_t index;
            {
                std::unique_lock<std::mutex> lock(mutex_);
                wake_workers_.wait(lock, [&] { return stopping_ || next_ >= results_.size() || next_ < consumed_ + window_; });
                if (stopping_ || next_ >= results_.size()) return;
                index = next_++;
            }
            std::optional<Result> value;
            if (!(cancel_ && cancel_->load())) value = work_(index);
            {
                std::lock_guard<std::mutex> lock(mutex_);
                results_[index].value = std::move(value);
                results_[index].done = true;
            }
            wake_consumer_.notify_all();
        }
    }

    std::function<Result(size_t)> work_;
    const std::atomic<bool>* cancel_;
    size_t window_;
    std::vector<Slot> results_;
    std::vector<std::thread> threads_;
    std::mutex mutex_;
    std::condition_variable wake_workers_, wake_consumer_;
    size_t next_ = 0;
    size_t consumed_ = 0;
    bool stopping_ = false;
};

}  // namespace audiosim
