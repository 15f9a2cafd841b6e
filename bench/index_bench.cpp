// HnswIndex and exact search on one vector set (bench/make_index_vectors.py makes it): build time
// and memory, single-thread search latency and recall@10 against exact search, save/load, and
// exact search throughput on the CPU (ours and torch's). Results as tables on stdout, optionally
// as JSON (bench/faiss_compare.py reads it).
//
// Usage: index_bench --vectors V.f32 --queries Q.f32 [--dim 163] [--build-threads 1,2]
//                    [--ef 50,100,200] [--exact-threads 1,2] [--batch-1-queries 200] [--index-file PATH]
//                    [--no-torch] [--json PATH]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <numeric>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "index/exact_search.hpp"
#include "index/hnsw_index.hpp"
#include "model/backend.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/system.hpp"

using namespace audiosim;

namespace {

constexpr size_t k = 10;
constexpr size_t chunks_per_5s_query = 4;  // what the sample profile (2 s windows, 1 s hop) makes of 5 s
constexpr size_t exact_batch = 64;

struct Options {
    std::string vectors_path, queries_path, index_path = "/tmp/audiosim-index-bench/bench.index", json_path;
    size_t dim = 163;  // audiosim-dsp v2's, the dimension of the runs in docs/PERFORMANCE.md (v3: 147)
    std::vector<unsigned> build_threads = {1, 2};
    std::vector<size_t> efs = {50, 100, 200};
    std::vector<unsigned> exact_threads = {1, 2};
    size_t batch_1_queries = 200;
    bool torch = true;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// CPU time of this process (all threads): wall time alone misleads on a shared machine.
double process_cpu_seconds() {
    timespec now{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

uint64_t file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    return in ? static_cast<uint64_t>(in.tellg()) : 0;
}

uint64_t current_rss_bytes() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
    return 0;
}

double mib(uint64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

std::vector<float> read_floats(const std::string& path, size_t dim) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) throw Error(ErrorKind::input, fmt::format("cannot read {}", path));
    auto bytes = static_cast<size_t>(in.tellg());
    if (bytes % (dim * sizeof(float)) != 0)
        throw Error(ErrorKind::input,
                    fmt::format("{}: {} bytes is not a whole number of {}-d float32 rows", path, bytes, dim));
    std::vector<float> values(bytes / sizeof(float));
    in.seekg(0);
    in.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(bytes));
    return values;
}

double percentile(std::vector<double> values, double p) {
    std::sort(values.begin(), values.end());
    return values[std::min(values.size() - 1, static_cast<size_t>(p * static_cast<double>(values.size())))];
}

double recall(const std::vector<Neighbours>& found, const std::vector<Neighbours>& exact) {
    size_t hits = 0, wanted = 0;
    for (size_t q = 0; q < exact.size(); q++) {
        std::unordered_set<uint64_t> truth;
        for (const auto& [id, similarity] : exact[q]) truth.insert(id);
        for (const auto& [id, similarity] : found[q]) hits += truth.count(id);
        wanted += exact[q].size();
    }
    return static_cast<double>(hits) / static_cast<double>(wanted);
}

// Queries per second of `search` at batch 1 over the first `batch_1` queries and at batch 64 over
// all of them; returns the batch-64 results (the ground truth when `search` is the CPU one).
std::vector<Neighbours> time_exact(const ExactSearch& search, const std::vector<float>& queries, size_t count,
                                   size_t batch_1, nlohmann::json& row) {
    const size_t dim = search.dim();
    batch_1 = std::min(batch_1, count);
    auto start = std::chrono::steady_clock::now();
    for (size_t q = 0; q < batch_1; q++) search.search(queries.data() + q * dim, 1, k);
    row["batch_1_qps"] = static_cast<double>(batch_1) / seconds_since(start);
    std::vector<Neighbours> results;
    start = std::chrono::steady_clock::now();
    for (size_t first = 0; first < count; first += exact_batch) {
        auto block = search.search(queries.data() + first * dim, std::min(exact_batch, count - first), k);
        std::move(block.begin(), block.end(), std::back_inserter(results));
    }
    row["batch_64_qps"] = static_cast<double>(count) / seconds_since(start);
    row["device"] = search.device();
    return results;
}

IndexHeader bench_header(size_t dim) {
    IndexHeader header;
    header.model_id = "bench";
    header.profile = "sample";
    header.dim = dim;
    return header;
}

// Single-thread latency of k-NN searches and of "5-second queries" (4 chunk searches), recall@10.
nlohmann::json measure_search(HnswIndex& index, size_t ef, const std::vector<float>& queries, size_t count,
                              const std::vector<Neighbours>& exact) {
    const size_t dim = index.dim();
    index.set_ef(ef);
    std::vector<Neighbours> found(count);
    std::vector<double> latency(count);
    const double cpu_start = process_cpu_seconds();
    for (size_t q = 0; q < count; q++) {
        auto start = std::chrono::steady_clock::now();
        found[q] = index.search(queries.data() + q * dim, k);
        latency[q] = seconds_since(start);
    }
    const double cpu_seconds = process_cpu_seconds() - cpu_start;
    std::vector<double> five_second;
    for (size_t q = 0; q + chunks_per_5s_query <= count; q += chunks_per_5s_query) {
        auto start = std::chrono::steady_clock::now();
        for (size_t c = 0; c < chunks_per_5s_query; c++) index.search(queries.data() + (q + c) * dim, k);
        five_second.push_back(seconds_since(start));
    }
    const double total = std::accumulate(latency.begin(), latency.end(), 0.0);
    return {{"ef", ef},
            {"recall_at_10", recall(found, exact)},
            {"qps", static_cast<double>(count) / total},
            {"qps_per_cpu_s", static_cast<double>(count) / cpu_seconds},
            {"p50_ms", 1e3 * percentile(latency, 0.5)},
            {"p95_ms", 1e3 * percentile(latency, 0.95)},
            {"five_second_p50_ms", 1e3 * percentile(five_second, 0.5)},
            {"five_second_p95_ms", 1e3 * percentile(five_second, 0.95)}};
}

int run(const Options& options) {
    const size_t dim = options.dim;
    std::vector<float> vectors = read_floats(options.vectors_path, dim);
    const std::vector<float> queries = read_floats(options.queries_path, dim);
    const size_t n = vectors.size() / dim, count = queries.size() / dim;
    std::vector<uint64_t> ids(n);
    std::iota(ids.begin(), ids.end(), uint64_t{0});
    nlohmann::json result = {{"vectors", n}, {"dim", dim}, {"queries", count}, {"k", k}};
    std::printf("# %zu vectors x %zu, %zu held-out queries, k = %zu; M 16, ef_construction 200\n", n, dim, count, k);

    // Build first, while the process holds nothing else, so the RSS it adds is the index.
    std::optional<HnswIndex> index;
    std::printf("\n| build threads | build s | CPU s | index RSS MiB |\n|---|---|---|---|\n");
    for (unsigned threads : options.build_threads) {
        index.reset();
        const uint64_t rss_before = current_rss_bytes();
        const double cpu_start = process_cpu_seconds();
        auto start = std::chrono::steady_clock::now();
        index.emplace(HnswIndex::build(bench_header(dim), ids, vectors, threads));
        const double seconds = seconds_since(start), cpu_seconds = process_cpu_seconds() - cpu_start;
        const double index_mib = mib(current_rss_bytes() - rss_before);
        std::printf("| %u | %.1f | %.1f | %.0f |\n", threads, seconds, cpu_seconds, index_mib);
        std::fflush(stdout);
        result["build"].push_back(
            {{"threads", threads}, {"seconds", seconds}, {"cpu_seconds", cpu_seconds}, {"index_rss_mib", index_mib}});
    }

    make_directories(parent_path(options.index_path));
    auto start = std::chrono::steady_clock::now();
    index->save(options.index_path);
    const double save_seconds = seconds_since(start);
    const uint64_t index_bytes = file_bytes(options.index_path) + file_bytes(index_header_path(options.index_path));
    start = std::chrono::steady_clock::now();
    index.emplace(HnswIndex::load(options.index_path));
    const double load_seconds = seconds_since(start);
    result["save_load"] = {{"save_s", save_seconds}, {"load_s", load_seconds}, {"file_mib", mib(index_bytes)}};

    // Exact search: ours, on one thread, gives the ground truth.
    std::vector<Neighbours> exact;
    for (unsigned threads : options.exact_threads) {
        nlohmann::json row = {{"threads", threads}};
        auto search = make_cpu_exact_search(ids, vectors, dim, threads);
        auto results = time_exact(*search, queries, count, options.batch_1_queries, row);
        if (exact.empty()) exact = std::move(results);
        result["exact"].push_back(row);
    }

    std::printf("\n| ef | recall@10 | q/s (1 thread) | q/s per CPU-s | p50 ms | p95 ms | 5-s query p50 ms "
                "| 5-s query p95 ms |\n|---|---|---|---|---|---|---|---|\n");
    for (size_t ef : options.efs) {
        auto row = measure_search(*index, ef, queries, count, exact);
        auto number = [&](const char* name) { return row[name].get<double>(); };
        std::printf("| %zu | %.4f | %.0f | %.0f | %.3f | %.3f | %.3f | %.3f |\n", ef, number("recall_at_10"),
                    number("qps"), number("qps_per_cpu_s"), number("p50_ms"), number("p95_ms"),
                    number("five_second_p50_ms"), number("five_second_p95_ms"));
        result["search"].push_back(row);
    }
    std::printf("\nsave %.2f s, load %.2f s (checks the payload's XXH3 and every link), files %.1f MiB\n", save_seconds,
                load_seconds, mib(index_bytes));
    index.reset();

    for (unsigned threads : options.torch ? options.exact_threads : std::vector<unsigned>{}) {
        try {
            nlohmann::json row = {{"threads", threads}};
            auto search = torch_backend("cpu").exact_search(ids, vectors, dim, "cpu", static_cast<int>(threads));
            auto results = time_exact(*search, queries, count, options.batch_1_queries, row);
            size_t same_ids = 0;
            double worst = 0;
            for (size_t q = 0; q < count; q++)
                for (size_t i = 0; i < exact[q].size(); i++) {
                    same_ids += results[q][i].first == exact[q][i].first;
                    worst = std::max(worst, std::abs(double{results[q][i].second} - exact[q][i].second));
                }
            row["same_ids_as_ours"] = static_cast<double>(same_ids) / static_cast<double>(count * k);
            row["max_similarity_difference"] = worst;
            result["exact"].push_back(row);
        } catch (const Error& e) {
            std::fprintf(stderr, "index_bench: torch exact search skipped: %s\n", e.what());
            break;
        }
    }
    std::printf("\n| exact search | threads | batch 1 q/s | batch 64 q/s | same ids as ours | max similarity diff |\n");
    std::printf("|---|---|---|---|---|---|\n");
    for (const auto& row : result["exact"]) {
        auto optional = [&](const char* name, const char* format) {
            return row.contains(name) ? fmt::format(fmt::runtime(format), row[name].get<double>()) : std::string("-");
        };
        std::printf("| %s | %u | %.1f | %.1f | %s | %s |\n", row["device"].get<std::string>().c_str(),
                    row["threads"].get<unsigned>(), row["batch_1_qps"].get<double>(), row["batch_64_qps"].get<double>(),
                    optional("same_ids_as_ours", "{:.4f}").c_str(), optional("max_similarity_difference", "{:.1e}").c_str());
    }
    result["peak_rss_mib"] = mib(peak_rss_bytes());
    std::printf("\npeak RSS %.0f MiB\n", mib(peak_rss_bytes()));
    if (!options.json_path.empty()) {
        std::ofstream json(options.json_path);
        json << result.dump(1) << "\n";
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    CLI::App app("HnswIndex and exact search benchmark (docs/PERFORMANCE.md)");
    app.add_option("--vectors", options.vectors_path, "raw float32 rows (bench/make_index_vectors.py)")->required();
    app.add_option("--queries", options.queries_path, "raw float32 held-out queries")->required();
    app.add_option("--dim", options.dim, "dimension")->check(CLI::PositiveNumber);
    app.add_option("--build-threads", options.build_threads, "build once per thread count; the last is searched");
    app.add_option("--ef", options.efs, "ef_search values to measure");
    app.add_option("--exact-threads", options.exact_threads, "thread counts for exact search");
    app.add_option("--batch-1-queries", options.batch_1_queries, "queries timed one at a time in exact search");
    app.add_option("--index-file", options.index_path, "where to save the index (and PATH.json)");
    app.add_flag("!--no-torch", options.torch, "skip torch's exact search");
    app.add_option("--json", options.json_path, "also write the results as JSON");
    CLI11_PARSE(app, argc, argv);
    try {
        return run(options);
    } catch (const Error& e) {
        std::fprintf(stderr, "index_bench: %s\n", e.what());
        return 1;
    }
}
