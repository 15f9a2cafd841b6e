#include "index/store_index.hpp"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <optional>
#include <functional>
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

// Whether the set's index entry lists labels that describe the store as `manifest` names it, for
// set ids hashing to `checksum`, and know each chunk's element.
bool labels_fit(const std::string& store_path, const Manifest& manifest, const EmbeddingSet& set, uint64_t checksum) {
    const DerivedFile& entry = manifest.indexes.at(set.key());
    const std::string labels = index_labels_path(entry.file);
    if (!entry.files.count(labels)) return false;
    try {
        IndexLabels stored = IndexLabels::open(join_path(store_path, labels));
        return stored.describes(manifest, set, checksum) && stored.knows_elements();
    } catch (const Error&) {
        return false;  // damaged: written again
    }
}

// Commits the index of `key`: `save_graph(path)` writes the payload and its header under the new
// name and returns their paths; the labels are made from the store's tables as they are now.
void commit_with_labels(StoreWriter& store, const std::string& key, const EmbeddingSet& set, const EmbeddingTable& ids,
                        uint64_t checksum, const ElementOf& element_of,
                        const std::function<std::vector<std::string>(const std::string&)>& save_graph) {
    IndexLabels labels = IndexLabels::build(store.catalog(), store.load_chunks(set.profile), ids,
                                            labels_basis(store.manifest(), set), checksum, element_of);
    store.commit_index(key, [&](const std::string& path, const WriterStamp& stamp) {
        std::vector<std::string> written = save_graph(path);
        written.push_back(labels.save(index_labels_path(path), stamp, set.model_id, set.profile));
        return written;
    });
}

// An unchanged graph gets new labels when the store's tables moved on (files renamed or removed,
// segments compacted): a query uses labels only when they describe the tables as they are. The
// payload and header keep their bytes under the new generation's names. True when it wrote them.
bool refresh_labels(StoreWriter& store, const std::string& key, const EmbeddingSet& set, const EmbeddingTable& ids,
                    uint64_t checksum) {
    const DerivedFile& entry = store.manifest().indexes.at(key);
    if (labels_fit(store.path(), store.manifest(), set, checksum)) return false;
    const std::string old_payload = join_path(store.path(), entry.file);
    // The graph is the same: the old labels know where each chunk's element lies; without them
    // (damaged, or written before they kept it) the mapped payload is read once for it.
    std::optional<IndexLabels> old_labels;
    try {
        if (entry.files.count(index_labels_path(entry.file))) old_labels = IndexLabels::open(index_labels_path(old_payload));
        if (old_labels && !old_labels->knows_elements()) old_labels.reset();
    } catch (const Error&) {
        old_labels.reset();
    }
    std::optional<HnswIndex> payload;
    if (!old_labels) payload = HnswIndex::open(old_payload);
    auto element_of = [&](uint64_t chunk_id) -> std::optional<uint32_t> {
        if (payload) return payload->element_of(chunk_id);
        size_t row = old_labels->find_chunk(chunk_id);
        if (row == IndexLabels::npos) return std::nullopt;
        return old_labels->chunk(row).element;
    };
    commit_with_labels(store, key, set, ids, checksum, element_of, [&](const std::string& path) {
        link_or_copy(old_payload, path);
        link_or_copy(index_header_path(old_payload), index_header_path(path));
        return std::vector<std::string>{path, index_header_path(path)};
    });
    return true;
}

// The header of the set's index when it is up to date for ids hashing to `checksum`, with the
// parameters asked for and a payload whose bytes are the ones committed; otherwise nothing (the
// caller loads it and updates, rebuilds or finds out why).
std::optional<IndexHeader> unchanged_index(const StoreWriter& store, const std::string& key, const EmbeddingSet& set,
                                           uint64_t checksum, const IndexBuildOptions& options) {
    auto entry = store.manifest().indexes.find(key);
    if (options.rebuild || entry == store.manifest().indexes.end()) return std::nullopt;
    try {
        for (const auto& [file, file_checksum] : entry->second.files)
            if (file != index_labels_path(entry->second.file)) verify_store_file(store.path(), file, file_checksum);
        IndexHeader header = read_index_header(join_path(store.path(), entry->second.file));
        const IndexParams& params = header.params;
        bool same_params = options.M.value_or(params.M) == params.M &&
                           options.ef_construction.value_or(params.ef_construction) == params.ef_construction &&
                           options.ef_search.value_or(params.ef_search) == params.ef_search;
        if (header.embeddings_checksum != checksum || !same_params || !index_misfit(header, set).empty()) return std::nullopt;
        return header;
    } catch (const Error&) {
        return std::nullopt;  // damaged or unreadable: the full path rebuilds it
    }
}

}  // namespace

IndexBuildResult update_index(StoreWriter& store, const std::string& key, const IndexBuildOptions& options) {
    auto start = std::chrono::steady_clock::now();
    const EmbeddingSet& set = stored_embedding_set(store.manifest(), key);
    IndexBuildResult result;
    result.key = key;
    auto finished = [&] {
        result.file = join_path(store.path(), store.manifest().indexes.at(key).file);
        result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return result;
    };
    {
        // The common run from cron finds nothing to do: answered from the header and the set's ids,
        // without reading the vectors or the payload (1,000,000 vectors: 1.5 GB).
        EmbeddingTable ids_only = store.load_embeddings(key, /*with_vectors=*/false);
        const uint64_t checksum = embeddings_checksum(ids_only);
        if (std::optional<IndexHeader> header = unchanged_index(store, key, set, checksum, options)) {
            result.action = "up to date";
            result.labels_written = refresh_labels(store, key, set, ids_only, checksum);
            result.count = header->count;
            result.deleted = header->deleted;
            result.params = header->params;
            return finished();
        }
    }
    EmbeddingTable table = store.load_embeddings(key);
    std::vector<uint64_t> ids;
    std::vector<float> vectors;
    table.flatten(ids, vectors);
    const size_t dim = static_cast<size_t>(set.dim);
    const uint64_t checksum = embeddings_checksum(table);

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
    if (result.action != "up to date") {
        commit_with_labels(
            store, key, set, table, checksum, [&](uint64_t chunk_id) { return index->element_of(chunk_id); },
            [&](const std::string& path) { return index->save(path); });
        result.labels_written = true;
    } else {
        result.labels_written = refresh_labels(store, key, set, table, checksum);
    }

    result.count = index->size();
    result.deleted = index->header().deleted;
    result.params = index->header().params;
    return finished();
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
    const uint64_t checksum = embeddings_checksum(set);
    status.state = status.header.embeddings_checksum == checksum ? IndexState::up_to_date : IndexState::stale;
    auto embedding_set = manifest.embedding_sets.find(key);
    status.labels_current = embedding_set != manifest.embedding_sets.end() &&
                            labels_fit(store_path, manifest, embedding_set->second, checksum);
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
