#include "index/store_index.hpp"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "index/index_labels.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"

namespace audiosim {

uint64_t embeddings_checksum(const EmbeddingTable& table) {
    std::vector<uint64_t> ids = table.chunk_ids();
    return hash_bytes(ids.data(), ids.size() * sizeof(uint64_t));
}

const char* index_state_name(IndexState state) {
    switch (state) {
    case IndexState::missing: return "missing";
    case IndexState::up_to_date: return "up to date";
    case IndexState::stale: return "stale";
    case IndexState::unreadable: return "unreadable";
    }
    return "?";
}

namespace {

const EmbeddingSet& embedding_set(const Manifest& manifest, const std::string& key) {
    auto set = manifest.embedding_sets.find(key);
    if (set != manifest.embedding_sets.end()) return set->second;
    std::string keys;
    for (const auto& entry : manifest.embedding_sets) keys += (keys.empty() ? "" : ", ") + entry.first;
    throw Error(ErrorKind::input, fmt::format("no embeddings {} in the store ({})", key,
                                              keys.empty() ? "run audiosim embed" : "there are: " + keys));
}

// The rows of `ids` (a flattened set) whose id is in `wanted`, as (ids, vectors).
void select_rows(const std::vector<uint64_t>& ids, const std::vector<float>& vectors, size_t dim,
                 const std::vector<uint64_t>& wanted_sorted, std::vector<uint64_t>& out_ids, std::vector<float>& out_vectors) {
    for (size_t i = 0; i < ids.size(); ++i) {
        if (!std::binary_search(wanted_sorted.begin(), wanted_sorted.end(), ids[i])) continue;
        out_ids.push_back(ids[i]);
        out_vectors.insert(out_vectors.end(), vectors.begin() + static_cast<std::ptrdiff_t>(i * dim),
                           vectors.begin() + static_cast<std::ptrdiff_t>((i + 1) * dim));
    }
}

// Whether the index entry lists labels made from the tables `basis` names, for the set whose ids
// hash to `checksum`.
bool labels_fit(const std::string& store_path, const DerivedFile& entry, const nlohmann::json& basis, uint64_t checksum) {
    const std::string labels = index_labels_path(entry.file);
    if (!entry.files.count(labels)) return false;
    try {
        IndexLabels stored = IndexLabels::open(join_path(store_path, labels));
        return stored.basis() == basis && stored.embeddings_checksum() == checksum;
    } catch (const Error&) {
        return false;  // damaged: written again
    }
}

}  // namespace

IndexBuildResult update_index(StoreWriter& store, const std::string& key, const IndexBuildOptions& options) {
    auto start = std::chrono::steady_clock::now();
    const EmbeddingSet& set = embedding_set(store.manifest(), key);
    EmbeddingTable table = store.load_embeddings(key);
    std::vector<uint64_t> ids;
    std::vector<float> vectors;
    table.flatten(ids, vectors);
    const size_t dim = static_cast<size_t>(set.dim);
    const uint64_t checksum = embeddings_checksum(table);

    IndexBuildResult result;
    result.key = key;
    std::optional<HnswIndex> index;
    auto entry = store.manifest().indexes.find(key);
    if (entry != store.manifest().indexes.end()) {
        try {
            index = HnswIndex::load(join_path(store.path(), entry->second.file));
            if (index->dim() != dim || index->header().model_id != set.model_id || index->header().profile != set.profile)
                throw Error(ErrorKind::format, fmt::format("{}: built for {} vectors of dim {}, not {} of dim {}",
                                                           entry->second.file, index->header().model_id, index->dim(),
                                                           set.model_id, dim));
        } catch (const Error& error) {
            if (error.kind() != ErrorKind::format && error.kind() != ErrorKind::input) throw;
            index.reset();
            result.reason = fmt::format("the index could not be loaded: {}", error.what());
        }
    }

    IndexParams params = index ? index->header().params : IndexParams{};
    params.M = options.M.value_or(params.M);
    params.ef_construction = options.ef_construction.value_or(params.ef_construction);
    params.ef_search = options.ef_search.value_or(params.ef_search);
    bool ef_changed = index && params.ef_search != index->header().params.ef_search;
    if (index && options.rebuild) result.reason = "--rebuild";
    if (index && (params.M != index->header().params.M || params.ef_construction != index->header().params.ef_construction))
        result.reason = fmt::format("parameters changed (M {} -> {}, ef_construction {} -> {})", index->header().params.M,
                                    params.M, index->header().params.ef_construction, params.ef_construction);

    std::vector<uint64_t> to_add, to_remove;
    if (index && result.reason.empty()) {
        std::vector<uint64_t> live = table.chunk_ids(), indexed = index->ids();
        std::set_difference(live.begin(), live.end(), indexed.begin(), indexed.end(), std::back_inserter(to_add));
        std::set_difference(indexed.begin(), indexed.end(), live.begin(), live.end(), std::back_inserter(to_remove));
        size_t graph = index->size() + index->header().deleted + to_add.size();
        size_t deleted = index->header().deleted + to_remove.size();
        if (graph > 0 && static_cast<double>(deleted) > options.max_deleted_share * static_cast<double>(graph))
            result.reason = fmt::format("{:.0f}% of the graph would be deleted vectors (rebuilding above {:.0f}%)",
                                        100.0 * static_cast<double>(deleted) / static_cast<double>(graph),
                                        100.0 * options.max_deleted_share);
    }

    if (!index || !result.reason.empty()) {
        IndexHeader header;
        header.model_id = set.model_id;
        header.profile = set.profile;
        header.dim = dim;
        header.params = params;
        header.embeddings_checksum = checksum;
        result.action = entry == store.manifest().indexes.end() ? "built" : "rebuilt";
        result.added = ids.size();
        index = HnswIndex::build(header, ids, vectors, options.threads);
    } else if (to_add.empty() && to_remove.empty() && !ef_changed && index->header().embeddings_checksum == checksum) {
        result.action = "up to date";
    } else {
        std::vector<uint64_t> add_ids;
        std::vector<float> add_vectors;
        select_rows(ids, vectors, dim, to_add, add_ids, add_vectors);
        index->remove(to_remove);
        index->add(add_ids, add_vectors, options.threads);
        index->set_ef_search(params.ef_search);
        index->set_embeddings_checksum(checksum);
        result.action = "updated";
        result.added = add_ids.size();
        result.removed = to_remove.size();
    }
    // The labels follow every new graph, and an unchanged graph gets new ones when the store's
    // tables moved on (files renamed or removed, segments compacted): a query uses labels only
    // when they describe the tables as they are.
    const nlohmann::json basis = labels_basis(store.manifest(), set);
    const bool graph_changed = result.action != "up to date";
    if (graph_changed || !labels_fit(store.path(), entry->second, basis, checksum)) {
        IndexLabels labels = IndexLabels::build(store.catalog(), store.load_chunks(set.profile), table, basis, checksum);
        const std::string old_payload = graph_changed ? "" : join_path(store.path(), entry->second.file);
        store.commit_index(key, [&](const std::string& path, const WriterStamp& stamp) {
            std::vector<std::string> written;
            if (graph_changed) {
                written = index->save(path);
            } else {
                link_or_copy(old_payload, path);
                link_or_copy(index_header_path(old_payload), index_header_path(path));
                written = {path, index_header_path(path)};
            }
            written.push_back(labels.save(index_labels_path(path), stamp, set.model_id, set.profile));
            return written;
        });
        result.labels_written = true;
    }

    result.count = index->size();
    result.deleted = index->header().deleted;
    result.params = index->header().params;
    result.file = join_path(store.path(), store.manifest().indexes.at(key).file);
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

std::string index_misfit(const IndexHeader& header, const EmbeddingSet& set) {
    if (static_cast<int64_t>(header.dim) == set.dim && header.model_id == set.model_id && header.profile == set.profile) return "";
    return fmt::format("built for {}/{} (dim {}), not {} (dim {})", header.profile, header.model_id, header.dim, set.key(), set.dim);
}

IndexStatus index_status(const std::string& store_path, const Manifest& manifest, const std::string& key,
                         const EmbeddingTable& set) {
    IndexStatus status;
    status.set_vectors = set.vector_count();
    auto entry = manifest.indexes.find(key);
    if (entry == manifest.indexes.end()) return status;
    status.file = join_path(store_path, entry->second.file);
    try {
        status.header = read_index_header(status.file);
    } catch (const Error& error) {
        status.state = IndexState::unreadable;
        status.error = error.what();
        return status;
    }
    status.state = status.header.embeddings_checksum == embeddings_checksum(set) ? IndexState::up_to_date : IndexState::stale;
    return status;
}

double verify_index(const HnswIndex& index, const EmbeddingTable& set, size_t k, size_t queries, uint64_t seed,
                    unsigned threads) {
    std::vector<uint64_t> ids;
    std::vector<float> vectors;
    set.flatten(ids, vectors);
    return recall_at_k(index, ids, vectors, set.dim(), k, queries, seed, threads);
}

}  // namespace audiosim
