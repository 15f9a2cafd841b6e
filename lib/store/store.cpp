#include "store/store.hpp"

#include <filesystem>
#include <set>
#include <unistd.h>

#include <fmt/format.h>

#include "index/hnsw_index.hpp"
#include "store/stamp.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/lock.hpp"
#include "util/system.hpp"

namespace audiosim {

namespace {

constexpr const char* manifest_name = "manifest.json";
constexpr const char* catalog_folder = "catalog";
constexpr const char* lock_name = "lock";

std::string chunk_folder(const std::string& profile) { return fmt::format("chunks/{}", profile); }
std::string embedding_folder(const EmbeddingSet& set) { return fmt::format("embeddings/{}/{}", set.profile, set.model_id); }

std::string index_file(const std::string& key, int64_t generation) { return fmt::format("indexes/{}/{:08}.hnsw", key, generation); }
std::string pairs_file(const std::string& key, int64_t generation) { return fmt::format("pairs/{}/{:08}.h5", key, generation); }

nlohmann::json derived_to_json(const std::map<std::string, DerivedFile>& files) {
    nlohmann::json json = nlohmann::json::object();
    for (const auto& [key, entry] : files) json[key] = {{"file", entry.file}, {"generation", entry.generation}};
    return json;
}

std::string dump(const nlohmann::json& json) {
    return json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

Manifest read_manifest(const std::string& store_path) {
    std::string path = join_path(store_path, manifest_name);
    if (!path_exists(path))
        throw Error(ErrorKind::input, fmt::format("{}: no audiosim store here (no {})", store_path, manifest_name));
    std::string text = read_text_file(path);
    nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
    if (json.is_discarded()) throw Error(ErrorKind::format, fmt::format("{}: not valid JSON", path));
    return manifest_from_json(json, path);
}

nlohmann::json segments_to_json(const std::vector<SegmentEntry>& segments) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& segment : segments)
        list.push_back({{"file", segment.file}, {"kind", segment.kind}, {"rows", segment.rows}, {"removed", segment.removed}});
    return list;
}

// A file named by a manifest stays inside the store: a forged manifest must not point readers or
// the garbage collector elsewhere.
std::string file_in_store(const nlohmann::json& file, const std::string& source) {
    std::string path = file.get<std::string>();
    if (path.find("..") != std::string::npos || path.empty() || path[0] == '/')
        throw Error(ErrorKind::format, fmt::format("{}: file path '{}' leaves the store", source, path));
    return path;
}

std::vector<SegmentEntry> segments_from_json(const nlohmann::json& list, const std::string& source) {
    std::vector<SegmentEntry> segments;
    for (const auto& segment : list)
        segments.push_back({file_in_store(segment.at("file"), source), segment.at("kind").get<std::string>(),
                            segment.at("rows").get<int64_t>(), segment.at("removed").get<int64_t>()});
    return segments;
}

template <typename Table, typename Read>
Table fold_segments(const std::string& store_path, const std::vector<SegmentEntry>& segments, Read read) {
    Table table;
    for (const auto& segment : segments) table.apply(read(join_path(store_path, segment.file)));
    return table;
}

bool deltas_outgrew_base(const std::vector<SegmentEntry>& segments) {
    int64_t base_rows = 0, delta_rows = 0, deltas = 0;
    for (const auto& segment : segments) {
        if (segment.kind == "base") {
            base_rows += segment.rows;
        } else {
            delta_rows += segment.rows + segment.removed;
            ++deltas;
        }
    }
    constexpr int64_t max_deltas = 8;
    return deltas > 0 && (deltas >= max_deltas || delta_rows * 4 >= base_rows);
}

}  // namespace

nlohmann::json manifest_to_json(const Manifest& manifest) {
    nlohmann::json runs = nlohmann::json::array();
    for (const auto& run : manifest.runs)
        runs.push_back({{"generation", run.generation}, {"command", run.command}, {"command_line", run.command_line},
                        {"finished", run.finished}, {"summary", run.summary}});
    nlohmann::json chunk_sets = nlohmann::json::object();
    for (const auto& [name, set] : manifest.chunk_sets)
        chunk_sets[name] = {{"profile", set.profile.to_json()}, {"segments", segments_to_json(set.segments)},
                            {"next_chunk_id", set.next_chunk_id}};
    nlohmann::json embedding_sets = nlohmann::json::object();
    for (const auto& [key, set] : manifest.embedding_sets)
        embedding_sets[key] = {{"model_id", set.model_id}, {"profile", set.profile}, {"dim", set.dim},
                               {"model", set.model}, {"segments", segments_to_json(set.segments)}};
    return {{"format", store_format_name},
            {"format_version", store_format_version},
            {"writer", manifest.writer},
            {"command_line", manifest.command_line},
            {"created", manifest.created},
            {"updated", manifest.updated},
            {"generation", manifest.generation},
            {"library_root", manifest.library_root},
            {"next_file_id", manifest.next_file_id},
            {"catalog", segments_to_json(manifest.catalog)},
            {"chunks", chunk_sets},
            {"embeddings", embedding_sets},
            {"indexes", derived_to_json(manifest.indexes)},
            {"pairs", derived_to_json(manifest.pairs)},
            {"runs", runs}};
}

Manifest manifest_from_json(const nlohmann::json& json, const std::string& source) {
    try {
        if (!json.is_object() || json.value("format", "") != store_format_name)
            throw Error(ErrorKind::format, fmt::format("{}: not an {} manifest", source, store_format_name));
        int64_t version = json.at("format_version").get<int64_t>();
        if (version < 1 || version > store_format_version)
            throw Error(ErrorKind::format,
                        fmt::format("{}: store format version {} (written by {}); this audiosim reads versions 1 to {}",
                                    source, version, json.value("writer", "?"), store_format_version));
        Manifest manifest;
        manifest.generation = json.at("generation").get<int64_t>();
        manifest.writer = json.at("writer").get<std::string>();
        manifest.command_line = json.at("command_line").get<std::string>();
        manifest.created = json.at("created").get<std::string>();
        manifest.updated = json.at("updated").get<std::string>();
        manifest.library_root = json.at("library_root").get<std::string>();
        manifest.next_file_id = json.at("next_file_id").get<uint64_t>();
        manifest.catalog = segments_from_json(json.at("catalog"), source);
        if (json.contains("chunks"))
            for (const auto& [name, set] : json.at("chunks").items())
                manifest.chunk_sets[name] = {ChunkProfile::from_json(set.at("profile")),
                                             segments_from_json(set.at("segments"), source),
                                             set.at("next_chunk_id").get<uint64_t>()};
        if (json.contains("embeddings"))
            for (const auto& [key, set] : json.at("embeddings").items())
                manifest.embedding_sets[key] = {set.at("model_id").get<std::string>(), set.at("profile").get<std::string>(),
                                                set.at("dim").get<int64_t>(), set.at("model"),
                                                segments_from_json(set.at("segments"), source)};
        for (auto [name, files] : {std::pair{"indexes", &manifest.indexes}, std::pair{"pairs", &manifest.pairs}})
            if (json.contains(name))
                for (const auto& [key, entry] : json.at(name).items())
                    (*files)[key] = {file_in_store(entry.at("file"), source), entry.at("generation").get<int64_t>()};
        for (const auto& run : json.at("runs"))
            manifest.runs.push_back({run.at("generation").get<int64_t>(), run.at("command").get<std::string>(),
                                     run.at("command_line").get<std::string>(), run.at("finished").get<std::string>(),
                                     run.at("summary")});
        return manifest;
    } catch (const nlohmann::json::exception& e) {
        throw Error(ErrorKind::format, fmt::format("{}: malformed manifest: {}", source, e.what()));
    }
}

std::optional<std::string> find_store(const std::string& option) {
    if (!option.empty()) return absolute_path(option);
    if (const char* env = std::getenv("AUDIOSIM_STORE"); env && *env) return absolute_path(env);
    std::string folder = absolute_path(".");
    for (;;) {
        std::string candidate = join_path(folder, ".audiosim");
        if (path_exists(join_path(candidate, manifest_name))) return candidate;
        if (folder == "/") return std::nullopt;
        folder = parent_path(folder);
    }
}

StoreReader::StoreReader(std::string path) : path_(std::move(path)) { load_manifest(); }

void StoreReader::load_manifest() { manifest_ = read_manifest(path_); }

// A writer may compact and delete the segments of the manifest we read, even while HDF5 opens one
// (it fails then in several ways). When the manifest has moved on, read the new one; when it has
// not, the error is real.
template <typename Load>
auto StoreReader::retrying(Load load) {
    constexpr int attempts = 10;
    for (int attempt = 1;; ++attempt) {
        try {
            return load();
        } catch (const Error&) {
            int64_t generation = manifest_.generation;
            load_manifest();
            if (manifest_.generation == generation || attempt == attempts) throw;
        }
    }
}

Catalog StoreReader::load_catalog() {
    return retrying([this] { return fold_segments<Catalog>(path_, manifest_.catalog, read_catalog_segment); });
}

EmbeddingTable StoreReader::load_embeddings(const std::string& key, bool with_vectors) {
    return retrying([&] {
        auto set = manifest_.embedding_sets.find(key);
        if (set == manifest_.embedding_sets.end()) {
            std::string keys;
            for (const auto& entry : manifest_.embedding_sets) keys += (keys.empty() ? "" : ", ") + entry.first;
            throw Error(ErrorKind::input, fmt::format("no embeddings {} in the store ({})", key,
                                                      keys.empty() ? "run audiosim embed" : "there are: " + keys));
        }
        return fold_segments<EmbeddingTable>(path_, set->second.segments,
                                             [&](const std::string& path) { return read_embedding_segment(path, with_vectors); });
    });
}

bool StoreReader::open_derived(const std::map<std::string, DerivedFile> Manifest::*files, const std::string& key,
                               const std::function<void(const std::string& path)>& open) {
    return retrying([&] {
        auto entry = (manifest_.*files).find(key);
        if (entry == (manifest_.*files).end()) return false;
        open(join_path(path_, entry->second.file));
        return true;
    });
}

bool StoreReader::open_index(const std::string& key, const std::function<void(const std::string& payload_path)>& open) {
    return open_derived(&Manifest::indexes, key, open);
}

bool StoreReader::open_pairs(const std::string& key, const std::function<void(const std::string& path)>& open) {
    return open_derived(&Manifest::pairs, key, open);
}

ChunkTable StoreReader::load_chunks(const std::string& profile) {
    return retrying([&] {
        auto set = manifest_.chunk_sets.find(profile);
        if (set == manifest_.chunk_sets.end()) {
            std::string names;
            for (const auto& entry : manifest_.chunk_sets) names += (names.empty() ? "" : ", ") + entry.first;
            throw Error(ErrorKind::input, fmt::format("no chunks of profile '{}' in the store ({})", profile,
                                                      names.empty() ? "run audiosim chunk" : "there are: " + names));
        }
        return fold_segments<ChunkTable>(path_, set->second.segments, read_chunk_segment);
    });
}

StoreWriter::StoreWriter(const std::string& path, const WriterOptions& options)
    : path_(path), options_(options) {
    make_directories(join_path(path_, catalog_folder));
    lock_ = std::make_unique<WriterLock>(join_path(path_, lock_name),
                                         fmt::format("pid {}: {}", ::getpid(), options.command_line),
                                         options.wait_seconds);
    std::string requested_root = options.library_root.empty() ? "" : absolute_path(options.library_root);
    if (path_exists(join_path(path_, manifest_name))) {
        manifest_ = read_manifest(path_);
        if (!requested_root.empty() && requested_root != manifest_.library_root)
            throw Error(ErrorKind::usage, fmt::format("{}: the store's library root is {}, not {}", path_,
                                                      manifest_.library_root, requested_root));
        catalog_ = fold_segments<Catalog>(path_, manifest_.catalog, read_catalog_segment);
    } else {
        manifest_.created = utc_timestamp(now_unix_ns());
        manifest_.library_root = requested_root.empty() ? absolute_path(".") : requested_root;
    }
    remove_unreferenced_files();
}

SegmentEntry StoreWriter::write_segment(const std::string& folder, const std::string& kind, int64_t rows,
                                        int64_t removed, const SegmentWriter& write) {
    int64_t generation = manifest_.generation + 1;
    make_directories(join_path(path_, folder));
    SegmentEntry entry{fmt::format("{}/{:08}-{}.h5", folder, generation, kind), kind, rows, removed};
    AtomicFile segment(join_path(path_, entry.file));
    write(segment.temporary_path(), {options_.command_line, generation});
    segment.commit();
    return entry;
}

void StoreWriter::commit(CatalogDelta delta) {
    if (!delta.empty())
        manifest_.catalog.push_back(write_segment(
            catalog_folder, "delta", static_cast<int64_t>(delta.records.size()),
            static_cast<int64_t>(delta.removed_paths.size()),
            [&](const std::string& path, const WriterStamp& stamp) { write_catalog_segment(path, delta, stamp); }));
    ++manifest_.generation;
    write_manifest();
    catalog_.apply(std::move(delta));
}

void StoreWriter::check_profile(const ChunkProfile& profile) const {
    auto set = manifest_.chunk_sets.find(profile.name);
    if (set != manifest_.chunk_sets.end() && set->second.profile.to_json() != profile.to_json())
        throw Error(ErrorKind::usage,
                    fmt::format("the store has chunks of profile '{}' with other parameters ({}); give this one another --name",
                                profile.name, set->second.profile.to_json().dump()));
}

void StoreWriter::commit_chunks(const ChunkProfile& profile, ChunkDelta delta) {
    check_profile(profile);
    auto set = manifest_.chunk_sets.try_emplace(profile.name, ChunkSet{profile, {}, 1}).first;
    for (Chunk& chunk : delta.chunks)
        if (chunk.chunk_id == 0) chunk.chunk_id = set->second.next_chunk_id++;
    if (!delta.empty())
        set->second.segments.push_back(write_segment(
            chunk_folder(profile.name), "delta", static_cast<int64_t>(delta.chunks.size()),
            static_cast<int64_t>(delta.dropped_file_ids.size()),
            [&](const std::string& path, const WriterStamp& stamp) { write_chunk_segment(path, profile, delta, stamp); }));
    ++manifest_.generation;
    write_manifest();
}

void StoreWriter::commit_embeddings(const EmbeddingSet& set, EmbeddingDelta delta) {
    auto entry = manifest_.embedding_sets.try_emplace(set.key(), EmbeddingSet{set.model_id, set.profile, set.dim, set.model, {}}).first;
    if (entry->second.dim != set.dim)
        throw Error(ErrorKind::model, fmt::format("embeddings {} have dimension {}, not {}", set.key(), entry->second.dim, set.dim));
    if (!delta.empty()) {
        EmbeddingSetInfo info{set.model_id, set.profile, set.model.dump()};
        entry->second.segments.push_back(write_segment(
            embedding_folder(set), "delta", static_cast<int64_t>(delta.chunk_ids.size()),
            static_cast<int64_t>(delta.dropped_file_ids.size()),
            [&](const std::string& path, const WriterStamp& stamp) { write_embedding_segment(path, info, delta, stamp); }));
    }
    ++manifest_.generation;
    write_manifest();
}

EmbeddingTable StoreWriter::load_embeddings(const std::string& key) const {
    auto set = manifest_.embedding_sets.find(key);
    if (set == manifest_.embedding_sets.end()) return EmbeddingTable();
    return fold_segments<EmbeddingTable>(path_, set->second.segments,
                                         [](const std::string& path) { return read_embedding_segment(path); });
}

ChunkTable StoreWriter::load_chunks(const std::string& profile) const {
    auto set = manifest_.chunk_sets.find(profile);
    if (set == manifest_.chunk_sets.end()) return {};
    return fold_segments<ChunkTable>(path_, set->second.segments, read_chunk_segment);
}

void StoreWriter::commit_derived(std::map<std::string, DerivedFile>& files, const std::string& key,
                                 const std::string& file, const std::function<void(const std::string& path)>& write) {
    std::string path = join_path(path_, file);
    make_directories(parent_path(path));
    write(path);
    files[key] = {file, manifest_.generation + 1};
    ++manifest_.generation;
    write_manifest();
    remove_unreferenced_files();
}

void StoreWriter::commit_index(const std::string& key, const std::function<void(const std::string& payload_path)>& save) {
    commit_derived(manifest_.indexes, key, index_file(key, manifest_.generation + 1), save);
}

void StoreWriter::commit_pairs(const std::string& key,
                               const std::function<void(const std::string& path, const WriterStamp& stamp)>& write) {
    commit_derived(manifest_.pairs, key, pairs_file(key, manifest_.generation + 1), [&](const std::string& path) {
        AtomicFile file(path);
        write(file.temporary_path(), {options_.command_line, manifest_.generation + 1});
        file.commit();
    });
}

void StoreWriter::finish_run(const std::string& command, nlohmann::json summary) {
    RunEntry run{manifest_.generation + 1, command, options_.command_line, utc_timestamp(now_unix_ns()),
                 std::move(summary)};
    manifest_.runs.insert(manifest_.runs.begin(), std::move(run));
    if (manifest_.runs.size() > max_runs_kept) manifest_.runs.resize(max_runs_kept);
    commit({});
}

void StoreWriter::compact_if_needed() {
    bool compacted = false;
    if (deltas_outgrew_base(manifest_.catalog)) {
        CatalogDelta merged;
        merged.records.reserve(catalog_.size());
        for (const FileRecord* record : catalog_.records_sorted_by_path()) merged.records.push_back(*record);
        manifest_.catalog = {write_segment(catalog_folder, "base", static_cast<int64_t>(merged.records.size()), 0,
                                           [&](const std::string& path, const WriterStamp& stamp) {
                                               write_catalog_segment(path, merged, stamp);
                                           })};
        compacted = true;
    }
    for (auto& [name, set] : manifest_.chunk_sets) {
        if (!deltas_outgrew_base(set.segments)) continue;
        ChunkDelta merged;
        ChunkTable table = load_chunks(name);
        for (auto& [file_id, chunks] : table.by_file())
            merged.chunks.insert(merged.chunks.end(), chunks.begin(), chunks.end());
        merged.failed = failures_of(table.failed());
        const ChunkProfile& profile = set.profile;
        set.segments = {write_segment(chunk_folder(name), "base", static_cast<int64_t>(merged.chunks.size()), 0,
                                      [&](const std::string& path, const WriterStamp& stamp) {
                                          write_chunk_segment(path, profile, merged, stamp);
                                      })};
        compacted = true;
    }
    for (auto& [key, set] : manifest_.embedding_sets) {
        if (!deltas_outgrew_base(set.segments)) continue;
        EmbeddingTable table = load_embeddings(key);
        EmbeddingDelta merged;
        merged.dim = static_cast<size_t>(set.dim);
        for (const auto& [file_id, vectors] : table.by_file()) {
            merged.chunk_ids.insert(merged.chunk_ids.end(), vectors.chunk_ids.begin(), vectors.chunk_ids.end());
            merged.file_ids.insert(merged.file_ids.end(), vectors.chunk_ids.size(), file_id);
            merged.vectors.insert(merged.vectors.end(), vectors.vectors.begin(), vectors.vectors.end());
        }
        merged.failed = failures_of(table.failed());
        EmbeddingSetInfo info{set.model_id, set.profile, set.model.dump()};
        set.segments = {write_segment(embedding_folder(set), "base", static_cast<int64_t>(merged.chunk_ids.size()), 0,
                                      [&](const std::string& path, const WriterStamp& stamp) {
                                          write_embedding_segment(path, info, merged, stamp);
                                      })};
        compacted = true;
    }
    if (!compacted) return;
    ++manifest_.generation;
    write_manifest();
    remove_unreferenced_files();
}

void StoreWriter::write_manifest() {
    manifest_.writer = writer_name();
    manifest_.command_line = options_.command_line;
    manifest_.updated = utc_timestamp(now_unix_ns());
    AtomicFile file(join_path(path_, manifest_name));
    file.write(dump(manifest_to_json(manifest_)));
    file.commit();
}

void StoreWriter::remove_unreferenced_files() {
    // Under the writer lock, any file in the store's folders that the manifest does not name is
    // garbage: segments replaced by a compaction, or temporaries of a writer that died before its
    // commit. The top level holds only the manifest, the lock and manifest temporaries.
    std::set<std::string> referenced;
    for (const auto& segment : manifest_.catalog) referenced.insert(segment.file);
    for (const auto& [name, set] : manifest_.chunk_sets)
        for (const auto& segment : set.segments) referenced.insert(segment.file);
    for (const auto& [key, set] : manifest_.embedding_sets)
        for (const auto& segment : set.segments) referenced.insert(segment.file);
    for (const auto& [key, entry] : manifest_.indexes) {
        referenced.insert(entry.file);
        referenced.insert(index_header_path(entry.file));
    }
    for (const auto& [key, entry] : manifest_.pairs) referenced.insert(entry.file);
    std::error_code error;
    for (auto it = std::filesystem::recursive_directory_iterator(path_, error);
         !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
        if (!it->is_regular_file(error)) continue;
        std::string relative = relative_to(it->path().string(), path_);
        bool top_level = relative.find('/') == std::string::npos;
        bool garbage = top_level ? relative.rfind(std::string(manifest_name) + ".tmp.", 0) == 0 : !referenced.count(relative);
        if (garbage) std::filesystem::remove(it->path(), error);
    }
}

}  // namespace audiosim
