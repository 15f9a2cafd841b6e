// lib/util/ordered_pool: results in list order from worker threads, a bounded window ahead of the
// consumer, and cancellation.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "util/ordered_pool.hpp"

using audiosim::OrderedPool;

namespace {

// Uneven work, so that items finish out of order on several threads.
void busy(size_t i) {
    uint64_t x = i * 0x9e3779b97f4a7c15ULL;
    if ((x >> 60) % 3 == 0) std::this_thread::sleep_for(std::chrono::microseconds(50 + (x >> 50) % 200));
}

void raise_to(std::atomic<int64_t>& maximum, int64_t value) {
    int64_t seen = maximum.load();
    while (value > seen && !maximum.compare_exchange_weak(seen, value)) {
    }
}

}  // namespace

TEST_SUITE_BEGIN("util/ordered_pool");

TEST_CASE("results come back in list order, each computed once") {
    for (unsigned threads : {1u, 3u, 8u}) {
        CAPTURE(threads);
        constexpr size_t items = 600;
        std::vector<std::atomic<int>> computed(items);
        OrderedPool<std::string> pool(items, threads, [&](size_t i) {
            busy(i);
            ++computed[i];
            return "item " + std::to_string(i);
        });
        for (size_t i = 0; i < items; ++i) {
            std::optional<std::string> result = pool.take(i);
            REQUIRE(result.has_value());
            CHECK(*result == "item " + std::to_string(i));
        }
        for (size_t i = 0; i < items; ++i) CHECK(computed[i].load() == 1);
    }
}

TEST_CASE("more threads than items, and zero threads, still compute every item") {
    SUBCASE("16 threads, 3 items") {
        OrderedPool<size_t> pool(3, 16, [](size_t i) { return i * 10; });
        for (size_t i = 0; i < 3; ++i) CHECK(pool.take(i) == std::optional<size_t>(i * 10));
    }
    SUBCASE("0 threads means one") {
        OrderedPool<size_t> pool(50, 0, [](size_t i) { return i + 1; });
        for (size_t i = 0; i < 50; ++i) CHECK(pool.take(i) == std::optional<size_t>(i + 1));
    }
}

TEST_CASE("workers stay within the window ahead of the consumer") {
    for (size_t window : {size_t{1}, size_t{5}, size_t{16}}) {
        CAPTURE(window);
        constexpr unsigned threads = 4;
        constexpr size_t items = 150;
        std::atomic<int64_t> started{0}, taken{0}, most_ahead{0};
        OrderedPool<size_t> pool(
            items, threads,
            [&](size_t i) {
                raise_to(most_ahead, ++started - taken.load());
                return i;
            },
            nullptr, window);
        for (size_t i = 0; i < items; ++i) {
            std::this_thread::sleep_for(std::chrono::microseconds(100));  // a slow consumer
            CHECK(pool.take(i) == std::optional<size_t>(i));
            ++taken;
        }
        CHECK(started.load() == static_cast<int64_t>(items));
        CHECK(most_ahead.load() <= static_cast<int64_t>(window + threads));
        if (window > 1) CHECK(most_ahead.load() > 1);  // it does work ahead
    }
}

TEST_CASE("zero items: nothing runs and the pool ends") {
    std::atomic<int> calls{0};
    {
        OrderedPool<int> pool(0, 4, [&](size_t) { return ++calls; });
    }
    CHECK(calls.load() == 0);
}

TEST_CASE("a cancel set before the start computes nothing: take returns nullopt") {
    std::atomic<bool> cancel{true};
    std::atomic<int> calls{0};
    OrderedPool<int> pool(
        100, 4, [&](size_t) { return ++calls; }, &cancel, 8);
    for (size_t i = 0; i < 100; ++i) CHECK_FALSE(pool.take(i).has_value());
    CHECK(calls.load() == 0);
}

TEST_CASE("a cancel during the run skips the items not started yet, and take never hangs") {
    constexpr size_t items = 2000, window = 8;
    constexpr unsigned threads = 4;
    std::atomic<bool> cancel{false};
    std::atomic<size_t> calls{0};
    OrderedPool<size_t> pool(
        items, threads,
        [&](size_t i) {
            ++calls;
            return i;
        },
        &cancel, window);
    size_t values = 0, skipped = 0;
    for (size_t i = 0; i < items; ++i) {
        if (i == 20) cancel = true;
        std::optional<size_t> result = pool.take(i);
        if (result) {
            CHECK(*result == i);
            ++values;
        } else {
            ++skipped;
        }
    }
    CHECK(values >= 20);
    CHECK(values == calls.load());
    CHECK(values <= 20 + window + threads);
    CHECK(skipped == items - values);
}

TEST_CASE("a pool destroyed before all items are taken ends without computing the rest") {
    std::atomic<size_t> calls{0};
    constexpr size_t window = 4;
    constexpr unsigned threads = 3;
    {
        OrderedPool<size_t> pool(
            10000, threads,
            [&](size_t i) {
                ++calls;
                return i;
            },
            nullptr, window);
        CHECK(pool.take(0) == std::optional<size_t>(0));
        CHECK(pool.take(1) == std::optional<size_t>(1));
    }
    CHECK(calls.load() <= 2 + window + threads);
}

TEST_CASE("move-only results") {
    OrderedPool<std::unique_ptr<int>> pool(64, 4, [](size_t i) { return std::make_unique<int>(static_cast<int>(i) * 2); });
    for (size_t i = 0; i < 64; ++i) {
        std::optional<std::unique_ptr<int>> result = pool.take(i);
        REQUIRE(result.has_value());
        REQUIRE(*result != nullptr);
        CHECK(**result == static_cast<int>(i) * 2);
    }
}

TEST_SUITE_END();
