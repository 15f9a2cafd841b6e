// The one translation unit that includes hnswlib (it defines non-inline functions).
#include "index/hnsw_index.hpp"


#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <limits>
#include <mutex>
#include <new>
#include <numeric>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

constexpr size_t payload_prefix_bytes = 96;  // the fields of PayloadPrefix as saveIndex writes them

// Reads the prefix from the first bytes of a payload; false when there are fewer than it needs.
bool parse_prefix(const char* bytes, size_t size, PayloadPrefix& p) {
    if (size < payload_prefix_bytes) return false;
    size_t at = 0;
    auto take = [&](auto& value) {
        std::memcpy(&value, bytes + at, sizeof value);
        at += sizeof value;
    };
    take(p.offset_level0), take(p.max_elements), take(p.count), take(p.size_data_per_element), take(p.label_offset);
    take(p.offset_data), take(p.max_level), take(p.enter_point), take(p.max_m), take(p.max_m0), take(p.m), take(p.mult);
    take(p.ef_construction);
    return at == payload_prefix_bytes;
}

bool read_prefix(const std::string& path, PayloadPrefix& p) {
    char bytes[payload_prefix_bytes];
    std::ifstream in(path, std::ios::binary);
    in.read(bytes, sizeof bytes);
    return in && parse_prefix(bytes, sizeof bytes, p);
}

// What load() and open() check of the prefix before they use it: the header's count, M and dim,
// the only layout hnswlib 0.6.2 writes, and enough bytes for every element's level-0 block.
void check_prefix(const PayloadPrefix& p, const IndexHeader& header, uint64_t bytes, const std::string& header_path,
                  const std::function<Error(const std::string&)>& bad) {
    const size_t links0 = 2 * header.params.M * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint);
    if (header.dim > std::numeric_limits<size_t>::max() / sizeof(float) / 2) throw bad("index dim is impossibly large");
    if (p.count != header.count + header.deleted)
        throw bad(fmt::format("index payload holds {} vectors but {} records {} (and {} deleted)", p.count,
                              file_name(header_path), header.count, header.deleted));
    if (p.m != header.params.M || p.max_m != header.params.M || p.max_m0 != 2 * header.params.M)
        throw bad(fmt::format("index payload was built with M {} but {} records M {}", p.m, file_name(header_path),
                              header.params.M));
    if (p.offset_data != links0 || p.label_offset < p.offset_data ||
        p.label_offset - p.offset_data != header.dim * sizeof(float))
        throw bad(fmt::format("index payload does not hold vectors of dim {} as {} records", header.dim,
                              file_name(header_path)));
    if (p.offset_level0 != 0 || p.size_data_per_element != p.label_offset + sizeof(hnswlib::labeltype) ||
        !std::isfinite(p.mult))
        throw bad("index payload has an unknown layout");
    if (p.count > 0 && bytes / p.count < p.size_data_per_element) throw bad("index payload is truncated");
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

// A payload searched in place (HnswIndex::open): saveIndex's layout read from a mapping, so a
// search touches only the pages of the elements it visits. The upper levels' lists are located
// and checked once (a small share of the file); level-0 lists are checked as a search follows
// them. The search is hnswlib 0.6.2's searchKnn (same steps, same heaps, so the same answers),
// with those checks added: damaged bytes give Error(format), never a read outside the mapping.
class MappedGraph {
public:
    MappedGraph(const std::string& path, const IndexHeader& header, hnswlib::InnerProductSpace& space)
        : file_(path), path_(path), has_deleted_(header.deleted > 0), ef_(header.params.ef_search),
          distance_(space.get_dist_func()), distance_param_(space.get_dist_func_param()) {
        auto bad = [&](const std::string& why) { return Error(ErrorKind::format, fmt::format("{}: {}", path, why)); };
        if (file_.size() == 0) throw bad("index payload is empty");
        if (!parse_prefix(file_.data(), file_.size(), p_)) throw bad("index payload is truncated");
        check_prefix(p_, header, file_.size(), index_header_path(path), bad);
        if (p_.count > std::numeric_limits<hnswlib::tableint>::max()) throw bad("index payload holds too many vectors");
        level0_ = file_.data() + payload_prefix_bytes;
        // Past the level-0 blocks: per element, the byte count of its upper-level lists, then the lists.
        const size_t upper_bytes = p_.max_m * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint);
        size_t at = payload_prefix_bytes + p_.count * p_.size_data_per_element;
        if (at > file_.size()) throw bad("index payload is truncated");
        for (size_t i = 0; i < p_.count; i++) {
            unsigned int bytes = 0;
            if (file_.size() - at < sizeof bytes) throw bad("index payload is truncated");
            std::memcpy(&bytes, file_.data() + at, sizeof bytes);
            at += sizeof bytes;
            if (bytes == 0) continue;
            if (bytes % upper_bytes != 0 || bytes / upper_bytes > static_cast<size_t>(std::max(p_.max_level, 0)) ||
                file_.size() - at < bytes)
                throw bad("index payload has an element with impossible levels (damaged or truncated)");
            int levels = static_cast<int>(bytes / upper_bytes);
            for (int level = 1; level <= levels; level++) check_list(file_.data() + at + (level - 1) * upper_bytes, p_.max_m);
            upper_[static_cast<hnswlib::tableint>(i)] = {at, levels};
            at += bytes;
        }
        if (at != file_.size()) throw bad("index payload has bytes after its last element (damaged)");
        if (p_.count > 0 && (p_.max_level < 0 || p_.enter_point >= p_.count || level_of(p_.enter_point) != p_.max_level))
            throw bad("index payload has an entry point outside the graph");
        visited_ = std::make_unique<hnswlib::VisitedListPool>(1, static_cast<int>(std::max<size_t>(p_.count, 1)));
        file_.expect_random_access();  // after the walk above, which reads ahead usefully
    }

    void set_ef(size_t ef) { ef_ = ef; }
    size_t elements() const { return p_.count; }
    const float* vector(hnswlib::tableint id) const {
        return reinterpret_cast<const float*>(element(id) + p_.offset_data);
    }
    bool is_deleted(hnswlib::tableint id) const {
        return static_cast<unsigned char>(element(id)[2]) & 0x01;  // hnswlib's DELETE_MARK
    }
    hnswlib::labeltype label(hnswlib::tableint id) const {
        hnswlib::labeltype value;
        std::memcpy(&value, element(id) + p_.label_offset, sizeof value);
        return value;
    }

    // Label -> element, read from every element on first use (that touches the whole payload).
    const std::unordered_map<hnswlib::labeltype, hnswlib::tableint>& labels() const {
        std::call_once(labels_made_, [&] {
            labels_.reserve(p_.count);
            for (size_t i = 0; i < p_.count; i++) labels_[label(static_cast<hnswlib::tableint>(i))] = static_cast<hnswlib::tableint>(i);
        });
        return labels_;
    }

    // searchKnn of hnswlib 0.6.2 (hnswalg.h): greedy descent through the upper levels, then
    // searchBaseLayerST with ef = max(ef, k).
    std::priority_queue<std::pair<float, hnswlib::labeltype>> search(const float* query, size_t k) const {
        std::priority_queue<std::pair<float, hnswlib::labeltype>> result;
        if (p_.count == 0) return result;
        hnswlib::tableint current = p_.enter_point;
        float current_distance = distance(query, current);
        for (int level = p_.max_level; level > 0; level--) {
            for (bool changed = true; changed;) {
                changed = false;
                auto upper = upper_.find(current);
                if (upper == upper_.end() || upper->second.levels < level)
                    throw damaged("a link to an element below the link's level");
                const char* list = file_.data() + upper->second.offset +
                                   static_cast<size_t>(level - 1) * (p_.max_m * sizeof(hnswlib::tableint) + sizeof(hnswlib::linklistsizeint));
                const auto* targets = reinterpret_cast<const hnswlib::tableint*>(list + sizeof(hnswlib::linklistsizeint));
                for (size_t i = 0, n = list_count(list); i < n; i++) {
                    float d = distance(query, targets[i]);  // checked in the constructor
                    if (d < current_distance) {
                        current_distance = d;
                        current = targets[i];
                        changed = true;
                    }
                }
            }
        }
        Candidates top = search_level0(current, query, std::max(ef_, k));
        while (top.size() > k) top.pop();
        for (; !top.empty(); top.pop()) result.emplace(top.top().first, label(top.top().second));
        return result;
    }

private:
    using Candidates = std::priority_queue<std::pair<float, hnswlib::tableint>, std::vector<std::pair<float, hnswlib::tableint>>,
                                           Graph::CompareByFirst>;
    struct Upper {
        size_t offset = 0;  // of its level-1 list in the file
        int levels = 0;
    };

    Error damaged(const char* what) const {
        return Error(ErrorKind::format, fmt::format("{}: index payload is damaged ({}): rebuild the index", path_, what));
    }
    const char* element(hnswlib::tableint id) const { return level0_ + id * p_.size_data_per_element; }
    static size_t list_count(const char* list) {
        unsigned short count;  // hnswlib keeps a list's length in its first two bytes
        std::memcpy(&count, list, sizeof count);
        return count;
    }
    void check_list(const char* list, size_t max_links) const {
        size_t n = list_count(list);
        if (n > max_links) throw damaged("a list longer than M allows");
        const auto* targets = reinterpret_cast<const hnswlib::tableint*>(list + sizeof(hnswlib::linklistsizeint));
        for (size_t j = 0; j < n; j++)
            if (targets[j] >= p_.count) throw damaged("a link outside the graph");
    }
    int level_of(hnswlib::tableint id) const {
        auto upper = upper_.find(id);
        return upper == upper_.end() ? 0 : upper->second.levels;
    }
    float distance(const float* query, hnswlib::tableint id) const {
        return distance_(query, vector(id), distance_param_);
    }

    // searchBaseLayerST<has_deletions, collect_metrics=true> (metrics left out; they change nothing).
    Candidates search_level0(hnswlib::tableint entry, const float* query, size_t ef) const {
        struct Release {
            hnswlib::VisitedListPool& pool;
            hnswlib::VisitedList* list;
            ~Release() { pool.releaseVisitedList(list); }
        } visited{*visited_, visited_->getFreeVisitedList()};
        hnswlib::vl_type* marks = visited.list->mass;
        const hnswlib::vl_type tag = visited.list->curV;

        Candidates top, candidates;
        float lower_bound;
        if (!has_deleted_ || !is_deleted(entry)) {
            float d = distance(query, entry);
            lower_bound = d;
            top.emplace(d, entry);
            candidates.emplace(-d, entry);
        } else {
            lower_bound = std::numeric_limits<float>::max();
            candidates.emplace(-lower_bound, entry);
        }
        marks[entry] = tag;
        while (!candidates.empty()) {
            std::pair<float, hnswlib::tableint> current = candidates.top();
            if (-current.first > lower_bound && (top.size() == ef || !has_deleted_)) break;
            candidates.pop();
            const char* list = element(current.second);
            check_list(list, p_.max_m0);
            const auto* targets = reinterpret_cast<const hnswlib::tableint*>(list + sizeof(hnswlib::linklistsizeint));
            for (size_t j = 0, n = list_count(list); j < n; j++) {
                hnswlib::tableint candidate = targets[j];
                if (marks[candidate] == tag) continue;
                marks[candidate] = tag;
                float d = distance(query, candidate);
                if (top.size() < ef || lower_bound > d) {
                    candidates.emplace(-d, candidate);
                    if (!has_deleted_ || !is_deleted(candidate)) top.emplace(d, candidate);
                    if (top.size() > ef) top.pop();
                    if (!top.empty()) lower_bound = top.top().first;
                }
            }
        }
        return top;
    }

    MappedFile file_;
    std::string path_;
    PayloadPrefix p_;
    const char* level0_ = nullptr;
    std::unordered_map<hnswlib::tableint, Upper> upper_;  // elements above level 0
    bool has_deleted_;  // the header's deleted count, as hnswlib's num_deleted_ after loadIndex
    size_t ef_;
    hnswlib::DISTFUNC<float> distance_;
    void* distance_param_;
    std::unique_ptr<hnswlib::VisitedListPool> visited_;
    mutable std::once_flag labels_made_;
    mutable std::unordered_map<hnswlib::labeltype, hnswlib::tableint> labels_;
};

}  // namespace

struct HnswIndex::Impl {
    IndexHeader header;
    std::unique_ptr<hnswlib::InnerProductSpace> space;  // must outlive graph and mapped
    std::unique_ptr<Graph> graph;          // built or load()ed: every operation
    std::unique_ptr<MappedGraph> mapped;   // open()ed: search and reads, no changes

    Graph& writable(const char* what) {
        if (!graph) throw Error(ErrorKind::internal, fmt::format("index {}: the index was opened for search only", what));
        return *graph;
    }
    const std::unordered_map<hnswlib::labeltype, hnswlib::tableint>& labels() const {
        return graph ? graph->label_lookup_ : mapped->labels();
    }
    bool is_deleted(hnswlib::tableint id) const { return graph ? graph->isMarkedDeleted(id) : mapped->is_deleted(id); }
    // The element of a live id, or none.
    std::optional<hnswlib::tableint> live(uint64_t id) const {
        auto found = labels().find(static_cast<hnswlib::labeltype>(id));
        if (found == labels().end() || is_deleted(found->second)) return std::nullopt;
        return found->second;
    }
};

HnswIndex::HnswIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HnswIndex::HnswIndex(HnswIndex&&) noexcept = default;
HnswIndex& HnswIndex::operator=(HnswIndex&&) noexcept = default;
HnswIndex::~HnswIndex() = default;

const IndexHeader& HnswIndex::header() const { return impl_->header; }

void HnswIndex::set_ef(size_t ef) {
    ef = std::max<size_t>(ef, 1);
    if (impl_->graph) impl_->graph->setEf(ef);
    if (impl_->mapped) impl_->mapped->set_ef(ef);
}

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
    Graph& graph = impl_->writable("update");
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
    Graph& graph = impl_->writable("update");
    for (uint64_t id : ids) {
        std::optional<hnswlib::tableint> internal = impl_->live(id);
        if (!internal) throw Error(ErrorKind::internal, fmt::format("index update: id {} is not in the index", id));
        graph.markDeletedInternal(*internal);
        --impl_->header.count;
        ++impl_->header.deleted;
    }
    if (!ids.empty()) impl_->header.payload_hash = 0;
}

std::vector<uint64_t> HnswIndex::ids() const {
    std::vector<uint64_t> live;
    live.reserve(impl_->header.count);
    for (const auto& [label, internal] : impl_->labels())
        if (!impl_->is_deleted(internal)) live.push_back(static_cast<uint64_t>(label));
    std::sort(live.begin(), live.end());
    return live;
}

bool HnswIndex::contains(uint64_t id) const { return impl_->live(id).has_value(); }

void HnswIndex::append_vector(uint64_t id, std::vector<float>& out) const {
    std::optional<hnswlib::tableint> internal = impl_->live(id);
    if (!internal) throw Error(ErrorKind::internal, fmt::format("index: no vector of id {}", id));
    const auto* data = impl_->graph ? reinterpret_cast<const float*>(impl_->graph->getDataByInternalId(*internal))
                                    : impl_->mapped->vector(*internal);
    out.insert(out.end(), data, data + impl_->header.dim);
}

std::optional<uint32_t> HnswIndex::element_of(uint64_t id) const {
    std::optional<hnswlib::tableint> internal = impl_->live(id);
    if (!internal) return std::nullopt;
    return static_cast<uint32_t>(*internal);
}

void HnswIndex::append_vector_at(uint32_t element, uint64_t id, std::vector<float>& out) const {
    const Impl& impl = *impl_;
    size_t elements = impl.graph ? static_cast<size_t>(impl.graph->cur_element_count) : impl.mapped->elements();
    auto internal = static_cast<hnswlib::tableint>(element);
    bool holds = element < elements &&
                 (impl.graph ? impl.graph->getExternalLabel(internal) : impl.mapped->label(internal)) == id &&
                 !impl.is_deleted(internal);
    if (!holds)
        throw Error(ErrorKind::format, fmt::format("index: element {} does not hold chunk {} (labels of another "
                                                   "payload, or damaged)",
                                                   element, id));
    const auto* data = impl.graph ? reinterpret_cast<const float*>(impl.graph->getDataByInternalId(internal))
                                  : impl.mapped->vector(internal);
    out.insert(out.end(), data, data + impl.header.dim);
}

void HnswIndex::set_embeddings_checksum(uint64_t checksum) { impl_->header.embeddings_checksum = checksum; }

void HnswIndex::set_ef_search(size_t ef) {
    check_params({impl_->header.params.M, impl_->header.params.ef_construction, ef});
    impl_->header.params.ef_search = ef;
    set_ef(ef);
}

std::vector<std::pair<uint64_t, float>> HnswIndex::search(const float* query, size_t k) const {
    std::vector<std::pair<uint64_t, float>> result;
    if (k == 0 || impl_->header.count == 0) return result;  // hnswlib would search deleted-only graphs
    auto queue = impl_->graph ? impl_->graph->searchKnn(query, k) : impl_->mapped->search(query, k);
    result.resize(queue.size());
    // The queue pops the farthest first: fill from the back.
    for (size_t i = result.size(); i-- > 0; queue.pop())
        result[i] = {static_cast<uint64_t>(queue.top().second), 1.0f - queue.top().first};
    return result;
}

std::vector<std::string> HnswIndex::save(const std::string& path) const {
    Graph& graph = impl_->writable("save");
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
    check_prefix(p, header, bytes, header_path, bad);

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

HnswIndex HnswIndex::open(const std::string& path) {
    check_hnsw_cpu_support();
    auto impl = std::make_unique<Impl>();
    impl->header = read_index_header(path);
    impl->space = std::make_unique<hnswlib::InnerProductSpace>(impl->header.dim);
    impl->mapped = std::make_unique<MappedGraph>(path, impl->header, *impl->space);
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
