// The one translation unit that includes hnswlib (it defines non-inline functions).
#include "index/hnsw_index.hpp"


#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <fstream>
#include <limits>
#include <mutex>
#include <new>
#include <numeric>
#include <random>
#include <stdexcept>
#include <thread>
#include <unordered_set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <hnswlib/hnswlib.h>
#pragma GCC diagnostic pop

#include "index/cpu_check.hpp"
#include "index/exact_search.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"

namespace audiosim {

namespace {

using Graph = hnswlib::HierarchicalNSW<float>;

constexpr size_t max_M = 10000;  // hnswlib caps M here and prints a warning: refuse instead

// The bytes saveIndex writes for `graph` (hnswlib does not check its stream: we compare sizes).
uint64_t expected_payload_size(const Graph& g) {
    uint64_t size = sizeof g.offsetLevel0_ + sizeof g.max_elements_ + sizeof g.cur_element_count +
                    sizeof g.size_data_per_element_ + sizeof g.label_offset_ + sizeof g.offsetData_ +
                    sizeof g.maxlevel_ + sizeof g.enterpoint_node_ + sizeof g.maxM_ + sizeof g.maxM0_ + sizeof g.M_ +
                    sizeof g.mult_ + sizeof g.ef_construction_;
    size += uint64_t{g.cur_element_count} * g.size_data_per_element_;
    for (size_t i = 0; i < g.cur_element_count; i++) {
        size += sizeof(unsigned int);
        if (g.element_levels_[i] > 0) size += g.size_links_per_element_ * static_cast<size_t>(g.element_levels_[i]);
    }
    return size;
}

// The fixed-size start of a payload, read by us before hnswlib allocates anything from it.
struct PayloadPrefix {
    size_t offset_level0 = 0, max_elements = 0, count = 0, size_data_per_element = 0, label_offset = 0,
           offset_data = 0;
    int max_level = 0;
    hnswlib::tableint enter_point = 0;
    size_t max_m = 0, max_m0 = 0, m = 0;
    double mult = 0;
    size_t ef_construction = 0;
};

template <typename T>
bool read_pod(std::ifstream& in, T& value) {
    in.read(reinterpret_cast<char*>(&value), sizeof value);
    return static_cast<bool>(in);
}

bool read_prefix(const std::string& path, PayloadPrefix& p) {
    std::ifstream in(path, std::ios::binary);
    return read_pod(in, p.offset_level0) && read_pod(in, p.max_elements) && read_pod(in, p.count) &&
           read_pod(in, p.size_data_per_element) && read_pod(in, p.label_offset) && read_pod(in, p.offset_data) &&
           read_pod(in, p.max_level) && read_pod(in, p.enter_point) && read_pod(in, p.max_m) &&
           read_pod(in, p.max_m0) && read_pod(in, p.m) && read_pod(in, p.mult) && read_pod(in, p.ef_construction);
}

// Every link of a loaded graph points inside it and no list is longer than its level allows, so
// search never reads outside the graph even if a payload's hash was forged along with its bytes.
bool links_are_sane(const Graph& g) {
    size_t n = g.cur_element_count;
    if (n == 0) return true;
    if (g.enterpoint_node_ >= n || g.maxlevel_ < 0) return false;
    if (g.element_levels_[g.enterpoint_node_] != g.maxlevel_) return false;
    auto check_list = [&](hnswlib::linklistsizeint* list, size_t max_links) {
        size_t links = g.getListCount(list);
        if (links > max_links) return false;
        const auto* targets = reinterpret_cast<const hnswlib::tableint*>(list + 1);
        for (size_t j = 0; j < links; j++)
            if (targets[j] >= n) return false;
        return true;
    };
    for (size_t i = 0; i < n; i++) {
        auto id = static_cast<hnswlib::tableint>(i);
        if (g.element_levels_[i] > g.maxlevel_) return false;
        if (!check_list(g.get_linklist0(id), g.maxM0_)) return false;
        for (int level = 1; level <= g.element_levels_[i]; level++)
            if (!check_list(g.get_linklist(id, level), g.maxM_)) return false;
    }
    return true;
}

void check_params(const IndexParams& p) {
    if (p.M < 2 || p.M > max_M)
        throw Error(ErrorKind::internal, fmt::format("index M must be between 2 and {}, not {}", max_M, p.M));
    if (p.ef_construction == 0 || p.ef_search == 0)
        throw Error(ErrorKind::internal, "index ef_construction and ef_search must be positive");
}

nlohmann::json header_to_json(const IndexHeader& h) {
    return {{"format", index_format_name},
            {"format_version", index_format_version},
            {"model_id", h.model_id},
            {"profile", h.profile},
            {"dim", h.dim},
            {"metric", h.metric},
            {"params", {{"M", h.params.M}, {"ef_construction", h.params.ef_construction}, {"ef_search", h.params.ef_search}}},
            {"count", h.count},
            {"deleted", h.deleted},
            {"embeddings_checksum", hash_to_hex(h.embeddings_checksum)},
            {"payload_hash", hash_to_hex(h.payload_hash)}};
}

IndexHeader header_from_json(const std::string& text, const std::string& file) {
    auto bad = [&](const std::string& why) { return Error(ErrorKind::format, fmt::format("{}: {}", file, why)); };
    nlohmann::json json;
    try {
        json = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        throw bad(fmt::format("not valid JSON ({})", e.what()));
    }
    if (!json.is_object()) throw bad("not an index header (not a JSON object)");
    auto field = [&](const nlohmann::json& object, const char* name) -> const nlohmann::json& {
        auto it = object.find(name);
        if (it == object.end()) throw bad(fmt::format("missing field \"{}\"", name));
        return *it;
    };
    auto text_field = [&](const nlohmann::json& object, const char* name) {
        const auto& value = field(object, name);
        if (!value.is_string()) throw bad(fmt::format("field \"{}\" is not a string", name));
        return value.get<std::string>();
    };
    auto size_field = [&](const nlohmann::json& object, const char* name) {
        const auto& value = field(object, name);
        if (!value.is_number_unsigned()) throw bad(fmt::format("field \"{}\" is not a non-negative integer", name));
        return value.get<size_t>();
    };
    auto hash_field = [&](const nlohmann::json& object, const char* name) {
        uint64_t hash = 0;
        if (!hash_from_hex(text_field(object, name), hash))
            throw bad(fmt::format("field \"{}\" is not 16 hex digits", name));
        return hash;
    };

    std::string format = text_field(json, "format");
    if (format != index_format_name)
        throw bad(fmt::format("format is \"{}\", not \"{}\"", format, index_format_name));
    const auto& version = field(json, "format_version");
    if (!version.is_number_integer()) throw bad("field \"format_version\" is not an integer");
    auto v = version.get<int64_t>();
    if (v > index_format_version)
        throw bad(fmt::format("written as {} version {}; this audiosim reads version {}: upgrade audiosim or "
                              "rebuild the index",
                              index_format_name, v, index_format_version));
    if (v < 1) throw bad(fmt::format("unknown format_version {}", v));

    IndexHeader h;
    h.model_id = text_field(json, "model_id");
    h.profile = text_field(json, "profile");
    h.dim = size_field(json, "dim");
    if (h.dim == 0) throw bad("dim is 0");
    h.metric = text_field(json, "metric");
    if (h.metric != "cosine") throw bad(fmt::format("unknown metric \"{}\" (only \"cosine\")", h.metric));
    const auto& params = field(json, "params");
    if (!params.is_object()) throw bad("field \"params\" is not an object");
    h.params.M = size_field(params, "M");
    h.params.ef_construction = size_field(params, "ef_construction");
    h.params.ef_search = size_field(params, "ef_search");
    if (h.params.M < 2 || h.params.M > max_M || h.params.ef_construction == 0 || h.params.ef_search == 0)
        throw bad("params M, ef_construction or ef_search out of range");
    h.count = size_field(json, "count");
    h.deleted = size_field(json, "deleted");
    h.embeddings_checksum = hash_field(json, "embeddings_checksum");
    h.payload_hash = hash_field(json, "payload_hash");
    return h;
}

}  // namespace

struct HnswIndex::Impl {
    IndexHeader header;
    std::unique_ptr<hnswlib::InnerProductSpace> space;  // must outlive graph
    std::unique_ptr<Graph> graph;
};

HnswIndex::HnswIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HnswIndex::HnswIndex(HnswIndex&&) noexcept = default;
HnswIndex& HnswIndex::operator=(HnswIndex&&) noexcept = default;
HnswIndex::~HnswIndex() = default;

const IndexHeader& HnswIndex::header() const { return impl_->header; }

void HnswIndex::set_ef(size_t ef) { impl_->graph->setEf(std::max<size_t>(ef, 1)); }

std::string index_header_path(const std::string& payload_path) { return payload_path + ".json"; }

IndexHeader read_index_header(const std::string& payload_path) {
    const std::string header_path = index_header_path(payload_path);
    return header_from_json(read_text_file(header_path), header_path);
}

namespace {

// The checks build() and add() share: sizes, and finite values (hnswlib would store NaN silently).
void check_vectors(const std::vector<uint64_t>& ids, const std::vector<float>& vectors, size_t dim, const char* what) {
    const size_t n = ids.size();
    if (vectors.size() / dim != n || vectors.size() % dim != 0)
        throw Error(ErrorKind::internal,
                    fmt::format("index {}: {} floats for {} vectors of dim {}", what, vectors.size(), n, dim));
    if (n > std::numeric_limits<hnswlib::tableint>::max())
        throw Error(ErrorKind::internal, fmt::format("index {}: {} vectors are too many", what, n));
    std::unordered_set<uint64_t> seen(ids.begin(), ids.end());
    if (seen.size() != n) throw Error(ErrorKind::internal, fmt::format("index {}: duplicate ids", what));
    for (size_t i = 0; i < vectors.size(); i++)
        if (!std::isfinite(vectors[i]))
            throw Error(ErrorKind::input, fmt::format("index {}: vector of id {} holds a non-finite value", what,
                                                      ids[i / dim]));
}

// Inserts rows [0, n) on `threads` workers. The first row goes in alone when the graph is empty:
// it becomes the entry point, as in hnswlib's Python binding.
void add_points(Graph& graph, const std::vector<uint64_t>& ids, const std::vector<float>& vectors, size_t dim,
                unsigned threads) {
    const size_t n = ids.size();
    auto add = [&](size_t i) { graph.addPoint(vectors.data() + i * dim, static_cast<hnswlib::labeltype>(ids[i])); };
    size_t workers = std::min<size_t>(std::max(threads, 1u), n);
    size_t first = 0;
    if (workers > 1 && graph.cur_element_count == 0) add(first++);
    if (workers <= 1) {
        for (size_t i = first; i < n; i++) add(i);
        return;
    }
    std::atomic<size_t> next{first};
    std::exception_ptr failure;
    std::mutex failure_mutex;
    std::vector<std::thread> pool;
    for (size_t t = 0; t < workers; t++) {
        pool.emplace_back([&] {
            try {
                for (size_t i = next++; i < n; i = next++) add(i);
            } catch (...) {
                std::lock_guard<std::mutex> lock(failure_mutex);
                if (!failure) failure = std::current_exception();
                next = n;
            }
        });
    }
    for (auto& thread : pool) thread.join();
    if (failure) std::rethrow_exception(failure);
}

// Runs a graph change, turning hnswlib's exceptions into ours.
template <typename Change>
void change_graph(const char* what, size_t n, size_t dim, Change change) {
    try {
        change();
    } catch (const std::bad_alloc&) {
        throw Error(ErrorKind::io, fmt::format("index {}: out of memory for {} vectors of dim {}", what, n, dim));
    } catch (const std::runtime_error& e) {
        if (dynamic_cast<const Error*>(&e)) throw;
        throw Error(ErrorKind::internal, fmt::format("index {}: hnswlib: {}", what, e.what()));
    }
}

}  // namespace

HnswIndex HnswIndex::build(const IndexHeader& header, const std::vector<uint64_t>& ids,
                           const std::vector<float>& vectors, unsigned threads) {
    check_hnsw_cpu_support();
    if (header.dim == 0) throw Error(ErrorKind::internal, "index dim is 0");
    if (header.metric != "cosine")
        throw Error(ErrorKind::internal, fmt::format("unknown index metric \"{}\"", header.metric));
    check_params(header.params);
    const size_t dim = header.dim;
    check_vectors(ids, vectors, dim, "build");
    const size_t n = ids.size();

    auto impl = std::make_unique<Impl>();
    impl->header = header;
    impl->header.count = n;
    impl->header.deleted = 0;
    impl->header.payload_hash = 0;
    impl->space = std::make_unique<hnswlib::InnerProductSpace>(dim);
    change_graph("build", n, dim, [&] {
        // hnswlib allocates max_elements rows: one at least, so malloc(0) never comes up.
        impl->graph = std::make_unique<Graph>(impl->space.get(), std::max<size_t>(n, 1), header.params.M,
                                              header.params.ef_construction);
        add_points(*impl->graph, ids, vectors, dim, threads);
    });
    impl->graph->setEf(header.params.ef_search);
    return HnswIndex(std::move(impl));
}

void HnswIndex::add(const std::vector<uint64_t>& ids, const std::vector<float>& vectors, unsigned threads) {
    const size_t dim = impl_->header.dim;
    check_vectors(ids, vectors, dim, "update");
    Graph& graph = *impl_->graph;
    for (uint64_t id : ids)
        if (graph.label_lookup_.count(static_cast<hnswlib::labeltype>(id)))
            throw Error(ErrorKind::internal, fmt::format("index update: id {} is in the index already", id));
    if (ids.empty()) return;
    change_graph("update", ids.size(), dim, [&] {
        size_t needed = graph.cur_element_count + ids.size();
        if (needed > graph.max_elements_) graph.resizeIndex(needed);
        add_points(graph, ids, vectors, dim, threads);
    });
    impl_->header.count += ids.size();
    impl_->header.payload_hash = 0;
}

void HnswIndex::remove(const std::vector<uint64_t>& ids) {
    Graph& graph = *impl_->graph;
    for (uint64_t id : ids) {
        auto found = graph.label_lookup_.find(static_cast<hnswlib::labeltype>(id));
        if (found == graph.label_lookup_.end() || graph.isMarkedDeleted(found->second))
            throw Error(ErrorKind::internal, fmt::format("index update: id {} is not in the index", id));
        graph.markDeletedInternal(found->second);
        --impl_->header.count;
        ++impl_->header.deleted;
    }
    if (!ids.empty()) impl_->header.payload_hash = 0;
}

std::vector<uint64_t> HnswIndex::ids() const {
    const Graph& graph = *impl_->graph;
    std::vector<uint64_t> live;
    live.reserve(impl_->header.count);
    for (const auto& [label, internal] : graph.label_lookup_)
        if (!graph.isMarkedDeleted(internal)) live.push_back(static_cast<uint64_t>(label));
    std::sort(live.begin(), live.end());
    return live;
}

bool HnswIndex::contains(uint64_t id) const {
    const Graph& graph = *impl_->graph;
    auto found = graph.label_lookup_.find(static_cast<hnswlib::labeltype>(id));
    return found != graph.label_lookup_.end() && !graph.isMarkedDeleted(found->second);
}

void HnswIndex::append_vector(uint64_t id, std::vector<float>& out) const {
    const Graph& graph = *impl_->graph;
    auto found = graph.label_lookup_.find(static_cast<hnswlib::labeltype>(id));
    if (found == graph.label_lookup_.end() || graph.isMarkedDeleted(found->second))
        throw Error(ErrorKind::internal, fmt::format("index: no vector of id {}", id));
    const auto* data = reinterpret_cast<const float*>(graph.getDataByInternalId(found->second));
    out.insert(out.end(), data, data + impl_->header.dim);
}

void HnswIndex::set_embeddings_checksum(uint64_t checksum) { impl_->header.embeddings_checksum = checksum; }

void HnswIndex::set_ef_search(size_t ef) {
    check_params({impl_->header.params.M, impl_->header.params.ef_construction, ef});
    impl_->header.params.ef_search = ef;
    impl_->graph->setEf(ef);
}

std::vector<std::pair<uint64_t, float>> HnswIndex::search(const float* query, size_t k) const {
    std::vector<std::pair<uint64_t, float>> result;
    if (k == 0 || impl_->header.count == 0) return result;  // hnswlib would search deleted-only graphs
    auto queue = impl_->graph->searchKnn(query, k);
    result.resize(queue.size());
    // The queue pops the farthest first: fill from the back.
    for (size_t i = result.size(); i-- > 0; queue.pop())
        result[i] = {static_cast<uint64_t>(queue.top().second), 1.0f - queue.top().first};
    return result;
}

std::vector<std::string> HnswIndex::save(const std::string& path) const {
    Graph& graph = *impl_->graph;
    uint64_t expected = expected_payload_size(graph);
    AtomicFile payload(path);
    try {
        graph.saveIndex(payload.temporary_path());
    } catch (const std::exception& e) {
        throw Error(ErrorKind::io, fmt::format("cannot write {}: {}", payload.temporary_path(), e.what()));
    }
    auto [hash, bytes] = hash_file(payload.temporary_path());
    if (bytes != expected)
        throw Error(ErrorKind::io, fmt::format("cannot write {}: wrote {} bytes of {} (disk full?)",
                                               payload.temporary_path(), bytes, expected));
    payload.commit();
    impl_->header.payload_hash = hash;  // a cache of what the payload on disk is; the index is unchanged

    AtomicFile header_file(index_header_path(path));
    header_file.write(header_to_json(impl_->header).dump(2) + "\n");
    header_file.commit();
    return {path, index_header_path(path)};
}

HnswIndex HnswIndex::load(const std::string& path) {
    check_hnsw_cpu_support();
    const std::string header_path = index_header_path(path);
    IndexHeader header = read_index_header(path);
    auto bad = [&](const std::string& why) { return Error(ErrorKind::format, fmt::format("{}: {}", path, why)); };

    auto [hash, bytes] = hash_file(path);
    if (bytes == 0) throw bad("index payload is empty");
    if (hash != header.payload_hash)
        throw bad(fmt::format("index payload is corrupted or truncated ({} bytes, XXH3 {} but {} records {}): "
                              "rebuild the index",
                              bytes, hash_to_hex(hash), file_name(header_path), hash_to_hex(header.payload_hash)));

    // Check what hnswlib would allocate from before it does: it trusts these numbers.
    const size_t dim = header.dim;
    PayloadPrefix p;
    if (!read_prefix(path, p)) throw bad("index payload is truncated");
    const size_t links0 = 2 * header.params.M * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint);
    if (p.count != header.count + header.deleted)
        throw bad(fmt::format("index payload holds {} vectors but {} records {} (and {} deleted)", p.count,
                              file_name(header_path), header.count, header.deleted));
    if (p.m != header.params.M || p.max_m != header.params.M || p.max_m0 != 2 * header.params.M)
        throw bad(fmt::format("index payload was built with M {} but {} records M {}", p.m, file_name(header_path),
                              header.params.M));
    if (p.offset_data != links0 || p.label_offset < p.offset_data ||
        p.label_offset - p.offset_data != dim * sizeof(float))
        throw bad(fmt::format("index payload does not hold vectors of dim {} as {} records", dim,
                              file_name(header_path)));
    if (p.offset_level0 != 0 || p.size_data_per_element != p.label_offset + sizeof(hnswlib::labeltype) ||
        !std::isfinite(p.mult))
        throw bad("index payload has an unknown layout");
    if (p.count > 0 && bytes / p.count < p.size_data_per_element) throw bad("index payload is truncated");

    auto impl = std::make_unique<Impl>();
    impl->header = header;
    impl->space = std::make_unique<hnswlib::InnerProductSpace>(dim);
    impl->graph = std::make_unique<Graph>(impl->space.get());
    {
        // hnswlib 0.6.2's loading constructor leaves these unset: loadIndex counts deleted ones up
        // from num_deleted_, and the destructor frees the rest, also after loadIndex threw.
        Graph& g = *impl->graph;
        g.num_deleted_ = 0;
        g.data_level0_memory_ = nullptr;
        g.linkLists_ = nullptr;
        g.visited_list_pool_ = nullptr;
    }
    try {
        impl->graph->loadIndex(path, impl->space.get(), std::max<size_t>(header.count + header.deleted, 1));
    } catch (const std::bad_alloc&) {
        impl->graph->cur_element_count = 0;  // see below
        throw bad("index payload does not fit in memory");
    } catch (const std::runtime_error& e) {
        // loadIndex throws after reading the element count but before sizing what the destructor
        // walks for that many elements.
        impl->graph->cur_element_count = 0;
        throw bad(fmt::format("unreadable index payload: {}", e.what()));
    }
    const Graph& graph = *impl->graph;
    if (graph.cur_element_count != header.count + header.deleted || graph.num_deleted_ != header.deleted ||
        graph.data_size_ != dim * sizeof(float))
        throw bad(fmt::format("index payload disagrees with {} (count or dim)", file_name(header_path)));
    if (!links_are_sane(graph)) throw bad("index payload has links outside the graph");
    impl->graph->setEf(header.params.ef_search);
    return HnswIndex(std::move(impl));
}

double recall_at_k(const HnswIndex& index, const std::vector<uint64_t>& ids, const std::vector<float>& vectors,
                   size_t dim, size_t k, size_t sample_queries, uint64_t seed, unsigned threads) {
    const size_t n = ids.size();
    if (dim == 0 || vectors.size() != n * dim)
        throw Error(ErrorKind::internal, fmt::format("recall_at_k: {} floats for {} vectors of dim {}", vectors.size(),
                                                     n, dim));
    if (dim != index.dim())
        throw Error(ErrorKind::internal, fmt::format("recall_at_k: dim {} but the index has {}", dim, index.dim()));
    const size_t kk = std::min(k, n);
    const size_t queries = std::min(sample_queries, n);
    if (kk == 0 || queries == 0) return 1.0;

    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), size_t{0});
    std::mt19937_64 random(seed);
    for (size_t i = 0; i < queries; i++) {  // partial Fisher-Yates: the first `queries` are the sample
        std::uniform_int_distribution<size_t> pick(i, n - 1);
        std::swap(order[i], order[pick(random)]);
    }
    std::vector<float> sample;
    sample.reserve(queries * dim);
    for (size_t q = 0; q < queries; q++)
        sample.insert(sample.end(), vectors.begin() + static_cast<std::ptrdiff_t>(order[q] * dim),
                      vectors.begin() + static_cast<std::ptrdiff_t>((order[q] + 1) * dim));
    std::vector<Neighbours> exact = make_cpu_exact_search(ids, vectors, dim, threads)->search(sample.data(), queries, kk);

    size_t found = 0;
    std::unordered_set<uint64_t> expected;
    for (size_t q = 0; q < queries; q++) {
        expected.clear();
        for (const auto& hit : exact[q]) expected.insert(hit.first);
        for (const auto& [id, similarity] : index.search(sample.data() + q * dim, kk)) found += expected.count(id);
    }
    return static_cast<double>(found) / static_cast<double>(queries * kk);
}

}  // namespace audiosim
