#include "query/query.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "index/store_index.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace audiosim {

namespace {

// Below these, a filtered search is exact: cheaper than widening the index's candidate list.
constexpr size_t exact_subset_chunks = 20000;
constexpr double exact_subset_share = 0.05;

bool is_number(const std::string& text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool passes_filter(const FileRecord& file, const MetadataFilter& filter) {
    if (filter.field == "path") return file.path == filter.value;
    if (filter.field == "folder") {
        std::string folder = filter.value;
        while (folder.size() > 1 && folder.back() == '/') folder.pop_back();
        if (folder == "." || folder.empty()) return file.path.find('/') == std::string::npos;
        return file.path.size() > folder.size() && file.path.compare(0, folder.size(), folder) == 0 &&
               file.path[folder.size()] == '/';
    }
    const std::string* value = file.metadata_value(filter.field);
    if (!value) return false;
    if (filter.field == "tags") {
        std::vector<std::string> tags = split_tags(*value);
        return std::binary_search(tags.begin(), tags.end(), filter.value);
    }
    return *value == filter.value;
}

std::string filters_key(const std::vector<MetadataFilter>& filters) {
    std::string key;
    for (const auto& filter : filters) key += filter.field + '\0' + filter.value + '\0';
    return key;
}

}  // namespace

MetadataFilter parse_metadata_filter(const std::string& text) {
    auto equals = text.find('=');
    if (equals == std::string::npos || equals == 0)
        throw Error(ErrorKind::usage, fmt::format("--filter '{}': expected FIELD=VALUE (folder, tags, path or a metadata "
                                                  "column such as content_type)",
                                                  text));
    return {text.substr(0, equals), text.substr(equals + 1)};
}

bool passes_filters(const FileRecord& file, const std::vector<MetadataFilter>& filters) {
    for (size_t i = 0; i < filters.size(); ++i) {
        bool field_seen_before = false, any = false;
        for (size_t j = 0; j < filters.size(); ++j) {
            if (filters[j].field != filters[i].field) continue;
            if (j < i) field_seen_before = true;
            any = any || passes_filter(file, filters[j]);
        }
        if (!field_seen_before && !any) return false;
    }
    return true;
}

void check_filter_fields(const Catalog& catalog, const std::vector<MetadataFilter>& filters) {
    for (const MetadataFilter& filter : filters) check_catalog_field(catalog, "--filter", filter.field, {"folder", "tags", "path"});
}

struct QueryEngine::Subset {
    bool all = true;                       // no filter: every live chunk passes
    std::unordered_set<uint64_t> files;    // the files that pass (when not all)
    size_t indexed = 0;                    // passing chunks the index holds
    bool use_index = false;
    std::unique_ptr<ExactSearch> exact;    // passing chunks the index does not serve (all of them without it)
};

QueryEngine::QueryEngine(StoreReader& store, const std::string& key, Options options)
    : store_(store), library_root_(store.manifest().library_root), options_(std::move(options)) {
    auto set = store.manifest().embedding_sets.find(key);
    if (set == store.manifest().embedding_sets.end()) store.load_embeddings(key);  // throws, naming the sets there are
    set_ = set->second;
    auto chunk_set = store.manifest().chunk_sets.find(set_.profile);
    if (chunk_set == store.manifest().chunk_sets.end())
        throw Error(ErrorKind::format, fmt::format("{}: embeddings {} name chunk profile '{}', which the store lacks",
                                                   store.path(), key, set_.profile));
    profile_ = chunk_set->second.profile;

    if (!options_.exact) {
        store.open_index(key, [&](const std::string& path) {
            labels_.reset();
            try {
                index_ = HnswIndex::open(path);
                if (std::string misfit = index_misfit(index_->header(), set_); !misfit.empty())
                    throw Error(ErrorKind::format, fmt::format("{}: {}", path, misfit));
                // Labels made from the tables as they are now spare reading those tables.
                const Manifest& manifest = store.manifest();
                const DerivedFile& entry = manifest.indexes.at(key);
                auto current_set = manifest.embedding_sets.find(key);
                if (entry.files.count(index_labels_path(entry.file)) && current_set != manifest.embedding_sets.end()) {
                    IndexLabels labels = IndexLabels::open(index_labels_path(path));
                    if (labels.describes(manifest, current_set->second, index_->header().embeddings_checksum))
                        labels_ = std::move(labels);
                }
            } catch (const Error& error) {
                throw Error(ErrorKind::format, fmt::format("{} (run audiosim index to rebuild it, or query with --exact)",
                                                           error.what()));
            }
        });
    }
    labels_from_index_ = labels_.has_value();
    if (labels_from_index_) {
        index_current_ = true;  // the set is as the labels saw it, and so was the index
        return;
    }
    EmbeddingTable ids_only = store.load_embeddings(key, false);
    const uint64_t checksum = embeddings_checksum(ids_only);
    index_current_ = index_ && index_->header().embeddings_checksum == checksum;
    if (!index_current_) {
        vectors_ = store.load_embeddings(key, true);
        const size_t dim = static_cast<size_t>(set_.dim);
        for (const auto& [file_id, file] : vectors_.by_file())
            for (size_t i = 0; i < file.chunk_ids.size(); ++i) stored_vector_[file.chunk_ids[i]] = file.vectors.data() + i * dim;
    }
    catalog_ = store.load_catalog();
    labels_ = IndexLabels::build(*catalog_, store.load_chunks(set_.profile), ids_only, nlohmann::json(), checksum);
    if (index_ && !index_current_)
        for (size_t row = 0; row < labels_->chunk_count(); ++row)
            if (!index_->contains(labels_->chunk(row).chunk_id)) ++unindexed_;
}

QueryEngine::~QueryEngine() = default;

const Catalog& QueryEngine::catalog() const {
    if (!catalog_) catalog_ = store_.load_catalog();
    return *catalog_;
}

std::string QueryEngine::source() const {
    if (options_.exact) {
        const Subset& all = subset_for({});
        return fmt::format("exact search (--exact, {})", all.exact ? all.exact->device() : "nothing to search");
    }
    if (!index_) return "exact search (no index: run audiosim index)";
    std::string tables = labels_from_index_ ? "" : " (store tables read: its labels predate the store's last change)";
    if (unindexed_ == 0) return "index" + tables;
    return fmt::format("index + exact search of {} chunks added since it was built", unindexed_);
}

// A current index holds exactly the set's chunks (its checksum says so): asking it chunk by chunk
// would read every element of the payload.
bool QueryEngine::indexed(uint64_t chunk_id) const { return index_current_ || index_->contains(chunk_id); }

std::optional<LabelledChunk> QueryEngine::live_chunk(uint64_t chunk_id) const {
    size_t row = labels_->find_chunk(chunk_id);
    if (row == IndexLabels::npos) return std::nullopt;
    return labels_->chunk(row);
}

std::optional<LabelledFile> QueryEngine::file(uint64_t file_id) const {
    size_t row = labels_->find_file(file_id);
    if (row == IndexLabels::npos) return std::nullopt;
    return labels_->file(row);
}

std::string_view QueryEngine::path_of(uint64_t file_id) const {
    std::optional<LabelledFile> found = file(file_id);
    return found ? found->path : std::string_view();
}

std::vector<float> QueryEngine::vectors_of(const std::vector<uint64_t>& chunk_ids) const {
    std::vector<float> out;
    out.reserve(chunk_ids.size() * static_cast<size_t>(set_.dim));
    const size_t dim = static_cast<size_t>(set_.dim);
    for (uint64_t chunk_id : chunk_ids) {
        auto stored = stored_vector_.find(chunk_id);
        if (stored != stored_vector_.end()) {
            out.insert(out.end(), stored->second, stored->second + dim);
            continue;
        }
        // The mapped labels know each chunk's element: no need to read every element's id.
        std::optional<LabelledChunk> chunk = labels_from_index_ ? live_chunk(chunk_id) : std::nullopt;
        if (chunk && chunk->element != no_element) {
            index_->append_vector_at(chunk->element, chunk_id, out);
        } else {
            index_->append_vector(chunk_id, out);
        }
    }
    return out;
}

QueryInput QueryEngine::item(const std::string& path_or_id) const {
    size_t row = IndexLabels::npos;
    uint64_t file_id = 0;
    if (is_number(path_or_id) &&
        std::from_chars(path_or_id.data(), path_or_id.data() + path_or_id.size(), file_id).ec == std::errc())
        row = labels_->find_file(file_id);  // a number too large for an id is a path or nothing
    if (row == IndexLabels::npos) row = labels_->find_path(path_or_id);
    if (row == IndexLabels::npos) row = labels_->find_path(catalog_path_of(absolute_path(path_or_id), library_root_));
    if (row == IndexLabels::npos)
        throw Error(ErrorKind::input, fmt::format("{}: not a stored file (give a catalog path, a path inside the library "
                                                  "or a file id)",
                                                  path_or_id));
    const LabelledFile record = labels_->file(row);
    std::vector<uint64_t> chunk_ids = labels_->chunks_of_file(row);
    if (chunk_ids.empty())
        throw Error(ErrorKind::input, fmt::format("{}: no vectors in {}/{} (not embedded yet, or every chunk is silent)",
                                                  record.path, set_.profile, set_.model_id));
    QueryInput query;
    query.name = record.path;
    query.self_file_id = record.file_id;
    for (uint64_t chunk_id : chunk_ids) {
        LabelledChunk chunk = *live_chunk(chunk_id);
        query.starts.push_back(chunk.start);
        query.durations.push_back(chunk.duration);
    }
    query.vectors = vectors_of(chunk_ids);
    return query;
}

const QueryEngine::Subset& QueryEngine::subset_for(const std::vector<MetadataFilter>& filters) const {
    std::string key = filters_key(filters);
    auto cached = subsets_.find(key);
    if (cached != subsets_.end()) return *cached->second;

    auto subset = std::make_unique<Subset>();
    subset->all = filters.empty();
    if (!subset->all)
        catalog().for_each([&](const FileRecord& record) {
            if (record.status == FileStatus::ok && passes_filters(record, filters)) subset->files.insert(record.file_id);
        });
    std::vector<uint64_t> passing, unindexed;
    if (subset->all && index_ && !options_.exact && index_current_) {
        subset->indexed = labels_->chunk_count();  // all of them, without reading a row
    } else {
        for (size_t row = 0; row < labels_->chunk_count(); ++row) {
            const LabelledChunk chunk = labels_->chunk(row);
            if (!subset->all && !subset->files.count(chunk.file_id)) continue;
            passing.push_back(chunk.chunk_id);
            if (index_ && !options_.exact && indexed(chunk.chunk_id)) {
                ++subset->indexed;
            } else {
                unindexed.push_back(chunk.chunk_id);
            }
        }
    }
    subset->use_index = index_ && !options_.exact && subset->indexed > 0 &&
                        (subset->all || (subset->indexed > exact_subset_chunks &&
                                         static_cast<double>(subset->indexed) > exact_subset_share * static_cast<double>(index_->size())));
    std::vector<uint64_t>& exact_ids = subset->use_index ? unindexed : passing;
    std::sort(exact_ids.begin(), exact_ids.end());  // a deterministic row order
    if (!exact_ids.empty()) {
        std::vector<float> vectors = vectors_of(exact_ids);
        const size_t dim = static_cast<size_t>(set_.dim);
        subset->exact = options_.exact && options_.exact_factory
                            ? options_.exact_factory(std::move(exact_ids), std::move(vectors), dim)
                            : make_cpu_exact_search(std::move(exact_ids), std::move(vectors), dim, options_.threads);
    }
    return *subsets_.emplace(key, std::move(subset)).first->second;
}

Neighbours QueryEngine::search_chunk(const float* vector, size_t k, const Subset& subset,
                                     const std::unordered_set<uint64_t>& excluded_files) const {
    size_t excluded_chunks = 0;
    for (uint64_t file_id : excluded_files) {
        size_t row = labels_->find_file(file_id);
        if (row != IndexLabels::npos) excluded_chunks += labels_->chunks_of_file(row).size();
    }
    auto wanted = [&](uint64_t chunk_id) {
        std::optional<LabelledChunk> chunk = live_chunk(chunk_id);
        if (!chunk) return false;  // removed from the store since the index was built
        return (subset.all || subset.files.count(chunk->file_id)) && !excluded_files.count(chunk->file_id);
    };

    Neighbours found;
    if (subset.exact) {
        std::vector<Neighbours> exact = subset.exact->search(vector, 1, k + excluded_chunks);
        for (const auto& hit : exact.front())
            if (wanted(hit.first)) found.push_back(hit);
    }
    if (subset.use_index) {
        // Grow the candidate list until k wanted chunks come back or the index has no more.
        double share = static_cast<double>(subset.indexed) / static_cast<double>(std::max<size_t>(index_->size(), 1));
        size_t candidates = static_cast<size_t>(std::ceil(static_cast<double>(k) / std::max(share, 1e-9))) + excluded_chunks;
        candidates = std::min(std::max(candidates, k), index_->size());
        for (;;) {
            Neighbours hits = index_->search(vector, candidates);
            size_t kept = 0;
            Neighbours from_index;
            for (const auto& hit : hits)
                if (wanted(hit.first) && kept < k) {
                    from_index.push_back(hit);
                    ++kept;
                }
            if (kept >= k || candidates >= index_->size()) {
                found.insert(found.end(), from_index.begin(), from_index.end());
                break;
            }
            candidates = std::min(candidates * 2, index_->size());
        }
    }
    std::sort(found.begin(), found.end(), ranks_before);
    if (found.size() > k) found.resize(k);
    return found;
}

QueryResult QueryEngine::run(const QueryInput& query, const QueryOptions& options) const {
    auto start = std::chrono::steady_clock::now();
    const size_t dim = static_cast<size_t>(set_.dim);
    if (query.vectors.size() != query.chunks() * dim)
        throw Error(ErrorKind::internal, fmt::format("query {}: {} floats for {} chunks of dim {}", query.name,
                                                     query.vectors.size(), query.chunks(), dim));
    validate_fusion_options(options.fusion);
    std::unordered_set<uint64_t> excluded;
    if (options.exclude_self) {
        if (query.self_file_id) excluded.insert(*query.self_file_id);
        if (query.content_hash)
            for (uint64_t file_id : labels_->files_with_hash(*query.content_hash)) excluded.insert(file_id);
    }
    const Subset& subset = subset_for(options.filters);

    std::vector<QueryChunkHits> chunks(query.chunks());
    for (size_t c = 0; c < query.chunks(); ++c) {
        chunks[c].start = query.starts[c];
        chunks[c].duration = query.durations[c];
        for (const auto& [chunk_id, similarity] : search_chunk(query.vectors.data() + c * dim, options.neighbours, subset, excluded)) {
            const LabelledChunk chunk = *live_chunk(chunk_id);
            chunks[c].hits.push_back({chunk_id, chunk.file_id, similarity, chunk.start, chunk.duration});
        }
    }

    QueryResult result;
    std::vector<FileMatch> files = fuse(chunks, options.fusion, [&](uint64_t a, uint64_t b) {
        return path_of(a) < path_of(b);  // equal scores in path order, the same in every store
    });
    result.candidate_files = files.size();
    for (FileMatch& match : files) {
        if (result.files.size() >= options.limit) break;
        if (options.min_score && match.score < *options.min_score) break;  // best first: the rest score lower
        result.files.push_back(std::move(match));
    }
    if (options.explain) result.chunks = std::move(chunks);
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

}  // namespace audiosim
