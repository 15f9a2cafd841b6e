#include "check/store_check.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "index/hnsw_index.hpp"
#include "index/index_labels.hpp"
#include "index/store_index.hpp"
#include "store/h5.hpp"
#include "pairs/pairs_file.hpp"
#include "store/stamp.hpp"
#include "store/store.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"

namespace audiosim {

nlohmann::json StoreCheckReport::to_json() const {
    nlohmann::json problem_list = nlohmann::json::array();
    for (const auto& problem : problems) problem_list.push_back({{"file", problem.file}, {"cause", problem.cause}});
    return {{"generation", generation},         {"files_checked", files_checked},   {"bytes_checked", bytes_checked},
            {"files_without_checksum", files_without_checksum}, {"unreferenced_files", unreferenced_files},
            {"problems", problem_list},         {"repairs", repairs},
            {"elapsed_seconds", elapsed_seconds}};
}

namespace {

// Runs `parse` in a child process, so that bytes which make HDF5 crash end the child, not check.
// Returns "" when it parsed, else the cause. check is single-threaded when it forks.
std::string parse_in_child(const std::function<void()>& parse) {
    int fds[2];
    if (::pipe(fds) != 0) throw_errno("cannot make a pipe");
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) throw_errno("cannot start a process");
    if (pid == 0) {
        ::close(fds[0]);
        std::string cause = "unknown error";
        try {
            parse();
            ::_exit(0);
        } catch (const std::exception& error) {
            cause = error.what();
        } catch (...) {
        }
        ssize_t written = ::write(fds[1], cause.data(), cause.size());
        ::_exit(written >= 0 ? 1 : 2);
    }
    ::close(fds[1]);
    std::string cause;
    char buffer[4096];
    for (;;) {
        ssize_t n = ::read(fds[0], buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        cause.append(buffer, static_cast<size_t>(n));
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
    if (WIFSIGNALED(status)) return fmt::format("reading it crashed the reader (signal {})", WTERMSIG(status));
    return cause.empty() ? "unreadable" : cause;
}

enum class FileKind { catalog, chunks, embeddings, index, index_header, index_labels, pairs };

// What a data file's path says: catalog/G-K.h5, chunks/P/G-K.h5, embeddings/P/M/G-K.h5,
// indexes/P/M/G.hnsw[.json], pairs/P/M/G.h5 (docs/FORMAT.md).
struct DataFile {
    std::string file;
    FileKind kind = FileKind::catalog;
    std::string key;           // profile (chunks) or PROFILE/MODEL_ID
    int64_t generation = 0;
    std::string segment_kind;  // base or delta
};

bool parse_generation(const std::string& digits, int64_t& generation) {
    if (digits.size() != 8 || digits.find_first_not_of("0123456789") != std::string::npos) return false;
    generation = std::stoll(digits);
    return true;
}

std::optional<DataFile> classify(const std::string& file) {
    std::vector<std::string> parts;
    for (size_t start = 0;;) {
        size_t slash = file.find('/', start);
        parts.push_back(file.substr(start, slash - start));
        if (slash == std::string::npos) break;
        start = slash + 1;
    }
    const std::string& folder = parts.front();
    const std::string& name = parts.back();
    DataFile data{file, FileKind::catalog, "", 0, ""};
    auto segment = [&](FileKind kind, size_t depth) -> std::optional<DataFile> {
        if (parts.size() != depth || !parse_generation(name.substr(0, 8), data.generation)) return std::nullopt;
        std::string rest = name.substr(8);
        if (rest != "-base.h5" && rest != "-delta.h5") return std::nullopt;
        data.kind = kind;
        data.segment_kind = rest == "-base.h5" ? "base" : "delta";
        if (depth == 3) data.key = parts[1];
        if (depth == 4) data.key = parts[1] + "/" + parts[2];
        return data;
    };
    if (folder == "catalog") return segment(FileKind::catalog, 2);
    if (folder == "chunks") return segment(FileKind::chunks, 3);
    if (folder == "embeddings") return segment(FileKind::embeddings, 4);
    if (parts.size() != 4 || !parse_generation(name.substr(0, 8), data.generation)) return std::nullopt;
    data.key = parts[1] + "/" + parts[2];
    std::string rest = name.substr(8);
    if (folder == "indexes" && (rest == ".hnsw" || rest == ".hnsw.json" || rest == ".hnsw.labels")) {
        data.kind = rest == ".hnsw" ? FileKind::index : rest == ".hnsw.json" ? FileKind::index_header : FileKind::index_labels;
        return data;
    }
    if (folder == "pairs" && rest == ".h5") {
        data.kind = FileKind::pairs;
        return data;
    }
    return std::nullopt;
}

// Parses a file as its kind wants and checks what it can check alone. Throws Error naming it.
void inspect(const std::string& path, FileKind kind) {
    switch (kind) {
        case FileKind::catalog: read_catalog_segment(path); break;
        case FileKind::chunks: read_chunk_segment(path); break;
        case FileKind::embeddings: read_embedding_segment(path, /*with_vectors=*/true); break;
        case FileKind::pairs: read_pairs_file(path); break;
        case FileKind::index: {
            IndexHeader header = read_index_header(path);
            if (hash_file(path).hash != header.payload_hash)
                throw Error(ErrorKind::format, fmt::format("{}: the payload's XXH3 differs from its header's", path));
            break;
        }
        case FileKind::index_header: read_index_header(path.substr(0, path.size() - 5)); break;
        case FileKind::index_labels: IndexLabels::open(path).validate(); break;
    }
}

const char* kind_name(FileKind kind) {
    switch (kind) {
        case FileKind::catalog: return "catalog segment";
        case FileKind::chunks: return "chunk segment";
        case FileKind::embeddings: return "embedding segment";
        case FileKind::index: return "index";
        case FileKind::index_header: return "index header";
        case FileKind::index_labels: return "index labels";
        case FileKind::pairs: return "pairs file";
    }
    return "file";
}

class Checker {
public:
    Checker(std::string store_path, const StoreCheckOptions& options) : path_(std::move(store_path)), options_(options) {}

    StoreCheckReport run();

private:
    void problem(const std::string& file, const std::string& cause) { report_.problems.push_back({file, cause}); }
    bool examine(const std::string& file, const FileChecksum& checksum, FileKind kind);
    void examine_manifest_files(const Manifest& manifest);
    struct Fixes {
        std::map<std::string, std::vector<uint64_t>> embedding_files_to_drop;  // by set key
        std::set<std::string> indexes_to_drop, pairs_to_drop;
        uint64_t next_file_id = 1;
        std::map<std::string, uint64_t> next_chunk_id;
    };
    Fixes assess(const Manifest& manifest, bool report_problems);
    Manifest without_damaged(Manifest manifest) const;
    Manifest rebuilt_from_files();
    void quarantine_damaged();
    void progress() {
        if (options_.on_progress) options_.on_progress(++done_, total_);
    }

    std::string path_;
    const StoreCheckOptions& options_;
    StoreCheckReport report_;
    std::map<std::string, std::string> damaged_;  // file -> cause
    size_t done_ = 0, total_ = 0;
};

// Intact when present, of the recorded checksum, and parsable with its own checks. Files named
// without a checksum (older stores) are parsed in a child process: damaged bytes may crash HDF5.
bool Checker::examine(const std::string& file, const FileChecksum& checksum, FileKind kind) {
    progress();
    if (damaged_.count(file)) return false;
    std::string path = join_path(path_, file);
    auto damaged = [&](const std::string& cause) {
        damaged_[file] = cause;
        problem(file, cause);
        return false;
    };
    if (!path_exists(path)) return damaged(fmt::format("{} missing, but the manifest names it", kind_name(kind)));
    ++report_.files_checked;
    std::string cause;
    if (checksum.recorded) {
        FileChecksum actual = checksum_of(path);
        report_.bytes_checked += actual.bytes;
        if (actual.bytes != checksum.bytes || actual.xxh3 != checksum.xxh3)
            return damaged(fmt::format("{} damaged: {} bytes with XXH3 {}; the manifest records {} bytes with XXH3 {}",
                                       kind_name(kind), actual.bytes, hash_to_hex(actual.xxh3), checksum.bytes,
                                       hash_to_hex(checksum.xxh3)));
        try {
            inspect(path, kind);
        } catch (const Error& error) {
            cause = error.what();
        }
    } else {
        ++report_.files_without_checksum;
        cause = parse_in_child([&] { inspect(path, kind); });
    }
    if (!cause.empty()) return damaged(fmt::format("{} unreadable: {}", kind_name(kind), cause));
    return true;
}

void Checker::examine_manifest_files(const Manifest& manifest) {
    total_ = files_named_by(manifest).size();
    for (const auto& segment : manifest.catalog) examine(segment.file, segment.checksum, FileKind::catalog);
    for (const auto& [name, set] : manifest.chunk_sets)
        for (const auto& segment : set.segments) examine(segment.file, segment.checksum, FileKind::chunks);
    for (const auto& [key, set] : manifest.embedding_sets)
        for (const auto& segment : set.segments) examine(segment.file, segment.checksum, FileKind::embeddings);
    for (auto [files, kind] : {std::pair{&manifest.indexes, FileKind::index}, std::pair{&manifest.pairs, FileKind::pairs}})
        for (const auto& [key, entry] : *files)
            for (const auto& [file, checksum] : entry.files)
                examine(file, checksum, file == entry.file                ? kind
                                        : file == index_labels_path(entry.file) ? FileKind::index_labels
                                                                                : FileKind::index_header);
}

// Problems of the store as a whole, over its intact files, and what repair does about them.
Checker::Fixes Checker::assess(const Manifest& manifest, bool report_problems) {
    Fixes fixes;
    auto note = [&](const std::string& file, const std::string& cause) {
        if (report_problems) problem(file, cause);
    };
    auto intact = [&](const std::vector<SegmentEntry>& segments) {
        std::vector<const SegmentEntry*> kept;
        for (const auto& segment : segments)
            if (!damaged_.count(segment.file)) kept.push_back(&segment);
        return kept;
    };
    auto rows_differ = [&](const SegmentEntry& segment, size_t rows, size_t removed) {
        if (static_cast<int64_t>(rows) == segment.rows && static_cast<int64_t>(removed) == segment.removed) return;
        note(segment.file, fmt::format("holds {} rows and {} removals; the manifest records {} and {}", rows, removed,
                                       segment.rows, segment.removed));
    };
    uint64_t max_file_id = 0;
    Catalog catalog;
    for (const SegmentEntry* segment : intact(manifest.catalog)) {
        CatalogDelta delta = read_catalog_segment(join_path(path_, segment->file));
        rows_differ(*segment, delta.records.size(), delta.removed_paths.size());
        for (const auto& record : delta.records) max_file_id = std::max(max_file_id, record.file_id);
        catalog.apply(std::move(delta));
    }
    std::map<uint64_t, std::string> live;  // file id -> path, of every catalog record
    catalog.for_each([&](const FileRecord& record) {
        auto [it, added] = live.emplace(record.file_id, record.path);
        if (!added) note("", fmt::format("file id {} is recorded for two paths: {} and {}", record.file_id, it->second, record.path));
    });
    std::map<std::string, ChunkTable> chunk_tables;
    for (const auto& [name, set] : manifest.chunk_sets) {
        ChunkTable& table = chunk_tables[name];
        uint64_t max_chunk_id = 0;
        for (const SegmentEntry* segment : intact(set.segments)) {
            ChunkDelta delta = read_chunk_segment(join_path(path_, segment->file));
            rows_differ(*segment, delta.chunks.size(), delta.dropped_file_ids.size());
            for (const Chunk& chunk : delta.chunks) {
                max_chunk_id = std::max(max_chunk_id, chunk.chunk_id);
                max_file_id = std::max(max_file_id, chunk.file_id);
            }
            table.apply(std::move(delta));
        }
        if (max_chunk_id >= set.next_chunk_id)
            note("", fmt::format("chunks {}: chunk id {} was used, but the next id to give is {}", name, max_chunk_id,
                                 set.next_chunk_id));
        fixes.next_chunk_id[name] = std::max(set.next_chunk_id, max_chunk_id + 1);
    }
    for (const auto& [key, set] : manifest.embedding_sets) {
        auto chunks = chunk_tables.find(set.profile);
        EmbeddingTable table(static_cast<size_t>(set.dim));
        for (const SegmentEntry* segment : intact(set.segments)) {
            EmbeddingDelta delta = read_embedding_segment(join_path(path_, segment->file), /*with_vectors=*/false);
            rows_differ(*segment, delta.chunk_ids.size(), delta.dropped_file_ids.size());
            if (static_cast<int64_t>(delta.dim) != set.dim)
                note(segment->file, fmt::format("vectors of dimension {}; the set's is {}", delta.dim, set.dim));
            for (uint64_t file_id : delta.file_ids) max_file_id = std::max(max_file_id, file_id);
            table.apply(std::move(delta));
        }
        // A vector must belong to a stored chunk of its file: else the chunks it was made from were
        // lost (a damaged chunk segment) and the file must be embedded again.
        std::vector<uint64_t>& lost = fixes.embedding_files_to_drop[key];
        for (const auto& [file_id, vectors] : table.by_file()) {
            if (!live.count(file_id)) continue;
            const std::vector<Chunk>* file_chunks = chunks == chunk_tables.end() ? nullptr : chunks->second.chunks_of(file_id);
            std::set<uint64_t> stored;
            if (file_chunks)
                for (const Chunk& chunk : *file_chunks) stored.insert(chunk.chunk_id);
            for (uint64_t chunk_id : vectors.chunk_ids)
                if (!stored.count(chunk_id)) {
                    lost.push_back(file_id);
                    break;
                }
        }
        if (!lost.empty())
            note("", fmt::format("embeddings {}: {} files have vectors of chunks that are not stored (first: {})", key,
                                 lost.size(), live[lost.front()]));
    }
    for (const auto& [key, entry] : manifest.indexes) {
        if (damaged_.count(entry.file) || damaged_.count(entry.file + ".json")) continue;
        auto set = manifest.embedding_sets.find(key);
        IndexHeader header = read_index_header(join_path(path_, entry.file));
        std::string misfit = set == manifest.embedding_sets.end() ? "its embedding set is gone" : index_misfit(header, set->second);
        if (!misfit.empty()) {
            note(entry.file, fmt::format("the index does not fit embedding set {}: {}", key, misfit));
            fixes.indexes_to_drop.insert(key);
        }
    }
    for (const auto& [key, entry] : manifest.pairs) {
        if (damaged_.count(entry.file)) continue;
        StoredPairs stored = read_pairs_file(join_path(path_, entry.file));
        if (stored.embeddings != key || !manifest.embedding_sets.count(key)) {
            note(entry.file, fmt::format("pairs of set {} filed under {}", stored.embeddings, key));
            fixes.pairs_to_drop.insert(key);
        }
    }
    if (max_file_id >= manifest.next_file_id)
        note("", fmt::format("file id {} was used, but the next id to give is {}", max_file_id, manifest.next_file_id));
    fixes.next_file_id = std::max(manifest.next_file_id, max_file_id + 1);
    return fixes;
}

Manifest Checker::without_damaged(Manifest manifest) const {
    auto keep_intact = [&](std::vector<SegmentEntry>& segments) {
        segments.erase(std::remove_if(segments.begin(), segments.end(),
                                      [&](const SegmentEntry& segment) { return damaged_.count(segment.file) > 0; }),
                       segments.end());
    };
    keep_intact(manifest.catalog);
    for (auto& [name, set] : manifest.chunk_sets) keep_intact(set.segments);
    for (auto& [key, set] : manifest.embedding_sets) keep_intact(set.segments);
    for (auto* derived : {&manifest.indexes, &manifest.pairs})
        for (auto it = derived->begin(); it != derived->end();) {
            bool broken = std::any_of(it->second.files.begin(), it->second.files.end(),
                                      [&](const auto& part) { return damaged_.count(part.first) > 0; });
            it = broken ? derived->erase(it) : std::next(it);
        }
    return manifest;
}

// A lost manifest, rebuilt from what the files say of themselves: per table the newest intact base
// and the deltas after it (older segments were merged into that base), the newest intact index and
// pairs per set, ids above every id in use.
Manifest Checker::rebuilt_from_files() {
    std::vector<DataFile> files;
    for (const std::string& file : store_data_files(path_))
        if (auto data = classify(file)) files.push_back(*data);
    std::sort(files.begin(), files.end(), [](const DataFile& a, const DataFile& b) {
        return std::tie(a.generation, a.file) < std::tie(b.generation, b.file);
    });
    total_ = files.size();
    Manifest manifest;
    std::string oldest_created, library_root;
    std::map<std::string, std::vector<const DataFile*>> tables;  // "catalog", "chunks/P", "embeddings/P/M"
    std::map<std::string, const DataFile*> newest_index, newest_pairs;
    for (const DataFile& data : files) {
        std::string path = join_path(path_, data.file);
        if (data.kind == FileKind::index_header) continue;  // examined with its payload
        progress();
        ++report_.files_checked;
        std::string cause = parse_in_child([&] { inspect(path, data.kind); });
        if (data.kind == FileKind::index && cause.empty() && !path_exists(path + ".json")) cause = "its header is missing";
        if (!cause.empty()) {
            damaged_[data.file] = fmt::format("{} unreadable: {}", kind_name(data.kind), cause);
            problem(data.file, damaged_[data.file]);
            continue;
        }
        manifest.generation = std::max(manifest.generation, data.generation);
        if (data.kind == FileKind::index) newest_index[data.key] = &data;
        else if (data.kind == FileKind::pairs) newest_pairs[data.key] = &data;
        else if (data.kind == FileKind::index_labels) continue;  // added with its payload when intact
        else {
            std::string table = data.kind == FileKind::catalog ? "catalog"
                                : data.kind == FileKind::chunks ? "chunks/" + data.key
                                                                : "embeddings/" + data.key;
            tables[table].push_back(&data);
        }
    }
    for (auto& [table, segments] : tables) {
        auto base = std::find_if(segments.rbegin(), segments.rend(), [](const DataFile* d) { return d->segment_kind == "base"; });
        if (base != segments.rend()) segments.erase(segments.begin(), std::prev(base.base()));
        for (const DataFile* data : segments) {
            std::string path = join_path(path_, data->file);
            h5::File file = h5::File::open_read_only(path);
            StampInfo stamp = read_stamp(file);
            SegmentEntry entry{data->file, data->segment_kind, 0, 0, checksum_of(path)};
            if (data->kind == FileKind::catalog) {
                CatalogDelta delta = read_catalog_segment(path);
                entry.rows = static_cast<int64_t>(delta.records.size());
                entry.removed = static_cast<int64_t>(delta.removed_paths.size());
                manifest.catalog.push_back(entry);
                if (oldest_created.empty()) oldest_created = stamp.created;
            } else if (data->kind == FileKind::chunks) {
                ChunkDelta delta = read_chunk_segment(path);
                entry.rows = static_cast<int64_t>(delta.chunks.size());
                entry.removed = static_cast<int64_t>(delta.dropped_file_ids.size());
                ChunkSet& set = manifest.chunk_sets[data->key];
                set.profile = ChunkProfile::from_json(
                    nlohmann::json::parse(h5::read_string_attribute(file, file.id(), "profile")));
                set.segments.push_back(entry);
            } else {
                EmbeddingDelta delta = read_embedding_segment(path, /*with_vectors=*/false);
                entry.rows = static_cast<int64_t>(delta.chunk_ids.size());
                entry.removed = static_cast<int64_t>(delta.dropped_file_ids.size());
                EmbeddingSet& set = manifest.embedding_sets[data->key];
                set.model_id = h5::read_string_attribute(file, file.id(), "model_id");
                set.profile = h5::read_string_attribute(file, file.id(), "profile");
                set.model = nlohmann::json::parse(h5::read_string_attribute(file, file.id(), "model"));
                set.dim = static_cast<int64_t>(delta.dim);
                set.segments.push_back(entry);
            }
            if (!stamp.library_root.empty()) library_root = stamp.library_root;
        }
    }
    for (auto [newest, derived] : {std::pair{&newest_index, &manifest.indexes}, std::pair{&newest_pairs, &manifest.pairs}})
        for (const auto& [key, data] : *newest) {
            if (!manifest.embedding_sets.count(key)) continue;
            DerivedFile entry{data->file, data->generation, {}};
            entry.files[data->file] = checksum_of(join_path(path_, data->file));
            if (data->kind == FileKind::index) {
                entry.files[data->file + ".json"] = checksum_of(join_path(path_, data->file + ".json"));
                const std::string labels = index_labels_path(data->file);
                if (path_exists(join_path(path_, labels)) && !damaged_.count(labels))
                    entry.files[labels] = checksum_of(join_path(path_, labels));
            }
            (*derived)[key] = entry;
        }
    if (library_root.empty()) library_root = options_.library_root.empty() ? "" : absolute_path(options_.library_root);
    if (library_root.empty())
        throw Error(ErrorKind::usage, fmt::format("{}: the store's files do not record its library root (they are older "
                                                  "than audiosim check); give it with --root DIR",
                                                  path_));
    manifest.library_root = library_root;
    manifest.created = oldest_created;
    report_.repairs.push_back(fmt::format("rebuilt {} from {} files: {} catalog segments, {} chunk sets, {} embedding "
                                          "sets, {} indexes, {} pairs files",
                                          store_manifest_name, files.size(), manifest.catalog.size(),
                                          manifest.chunk_sets.size(), manifest.embedding_sets.size(),
                                          manifest.indexes.size(), manifest.pairs.size()));
    return manifest;
}

// Damaged files are moved, not deleted: the user may want to look at them.
void Checker::quarantine_damaged() {
    for (const auto& [file, cause] : damaged_) {
        std::string from = join_path(path_, file);
        if (!path_exists(from)) continue;
        std::string to = join_path(join_path(path_, store_quarantine_folder), file);
        make_directories(parent_path(to));
        if (::rename(from.c_str(), to.c_str()) != 0) throw_errno("cannot move " + from + " to " + to);
        report_.repairs.push_back(fmt::format("moved {} to {}/", file, store_quarantine_folder));
    }
}

StoreCheckReport Checker::run() {
    auto start = std::chrono::steady_clock::now();
    if (!path_exists(join_path(path_, store_manifest_name)) && store_data_files(path_).empty())
        throw Error(ErrorKind::input, fmt::format("{}: no audiosim store here", path_));
    std::unique_ptr<StoreWriter> writer;  // repair checks under the writer lock, so nothing moves meanwhile
    if (options_.repair)
        writer = std::make_unique<StoreWriter>(path_, WriterOptions{options_.command_line, "", options_.wait_seconds,
                                                                    StoreOpen::repair});
    std::optional<Manifest> manifest;
    try {
        manifest = read_store_manifest(path_);
    } catch (const Error& error) {
        if (error.kind() != ErrorKind::format) throw;
        problem(store_manifest_name, error.what());
    }
    if (manifest) {
        report_.generation = manifest->generation;
        examine_manifest_files(*manifest);
        assess(*manifest, /*report_problems=*/true);
        std::vector<std::string> named = files_named_by(*manifest);
        std::set<std::string> named_set(named.begin(), named.end());
        for (const std::string& file : store_data_files(path_)) report_.unreferenced_files += !named_set.count(file);
    }
    if (writer && !report_.problems.empty()) {
        Manifest repaired = manifest ? without_damaged(*manifest) : rebuilt_from_files();
        Fixes fixes = assess(repaired, /*report_problems=*/false);
        repaired.next_file_id = fixes.next_file_id;
        for (auto& [name, set] : repaired.chunk_sets) set.next_chunk_id = fixes.next_chunk_id[name];
        for (const std::string& key : fixes.indexes_to_drop) repaired.indexes.erase(key);
        for (const std::string& key : fixes.pairs_to_drop) repaired.pairs.erase(key);
        for (const auto& [file, cause] : damaged_) report_.repairs.push_back(fmt::format("dropped {}: {}", file, cause));
        quarantine_damaged();
        writer->install_manifest(std::move(repaired));
        for (const auto& [key, files] : fixes.embedding_files_to_drop) {
            if (files.empty()) continue;
            EmbeddingDelta drop;
            drop.dim = static_cast<size_t>(writer->manifest().embedding_sets.at(key).dim);
            drop.dropped_file_ids = files;
            writer->commit_embeddings(writer->manifest().embedding_sets.at(key), std::move(drop));
            report_.repairs.push_back(
                fmt::format("embeddings {}: dropped the vectors of {} files whose chunks were lost", key, files.size()));
        }
        report_.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        writer->finish_run("check", report_.to_json());
    }
    report_.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return report_;
}

}  // namespace

StoreCheckReport check_store(const std::string& store_path, const StoreCheckOptions& options) {
    constexpr int attempts = 3;
    for (int attempt = 1;; ++attempt) {
        StoreCheckReport report = Checker(store_path, options).run();
        if (options.repair || report.problems.empty() || report.generation < 0 || attempt == attempts) return report;
        try {
            if (read_store_manifest(store_path).generation == report.generation) return report;
        } catch (const Error&) {
            return report;
        }
    }
}

}  // namespace audiosim
