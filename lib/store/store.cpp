#include "store/store.hpp"

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "store/stamp.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"
#include "util/json.hpp"
#include "util/lock.hpp"
#include "util/system.hpp"

namespace audiosim {

namespace {

constexpr const char* manifest_name = store_manifest_name;
constexpr const char* catalog_folder = "catalog";
constexpr const char* data_folders[] = {"catalog", "chunks", "embeddings", "indexes", "pairs"};
constexpr const char* lock_name = "lock";

std::string chunk_folder(const std::string& profile) { return fmt::format("chunks/{}", profile); }
std::string embedding_folder(const EmbeddingSet& set) { return fmt::format("embeddings/{}/{}", set.profile, set.model_id); }

std::string index_file(const std::string& key, int64_t generation) { return fmt::format("indexes/{}/{:08}.hnsw", key, generation); }
std::string pairs_file(const std::string& key, int64_t generation) { return fmt::format("pairs/{}/{:08}.h5", key, generation); }

nlohmann::json checksum_to_json(const FileChecksum& checksum) {
    return {{"xxh3", hash_to_hex(checksum.xxh3)}, {"bytes", checksum.bytes}};
}

// Absent in manifests written before checksums: the file is then read unverified.
FileChecksum checksum_from_json(const nlohmann::json& json, const std::string& source) {
    FileChecksum checksum;
    if (!json.contains("xxh3")) return checksum;
    if (!hash_from_hex(json.at("xxh3").get<std::string>(), checksum.xxh3))
        throw Error(ErrorKind::format, fmt::format("{}: malformed checksum '{}'", source, json.at("xxh3").dump()));
    checksum.bytes = json_integer<uint64_t>(json.at("bytes"));
    checksum.recorded = true;
    return checksum;
}

nlohmann::json derived_to_json(const std::map<std::string, DerivedFile>& files) {
    nlohmann::json json = nlohmann::json::object();
    for (const auto& [key, entry] : files) {
        nlohmann::json parts = nlohmann::json::object();
        for (const auto& [file, checksum] : entry.files) parts[file] = checksum_to_json(checksum);
        json[key] = {{"file", entry.file}, {"generation", entry.generation}, {"files", parts}};
    }
    return json;
}

std::string dump(const nlohmann::json& json) {
    return json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

const char* const repair_hint = "run `audiosim check --repair`";

// A folder without a manifest is no store, unless it holds data files: then the manifest was lost,
// and the data must be neither ignored nor garbage-collected.
[[noreturn]] void throw_no_manifest(const std::string& store_path) {
    if (std::vector<std::string> data = store_data_files(store_path); !data.empty())
        throw Error(ErrorKind::format, fmt::format("{}: damaged store: {} is missing but {} data files remain; {}",
                                                   store_path, manifest_name, data.size(), repair_hint));
    throw Error(ErrorKind::input, fmt::format("{}: no audiosim store here (run audiosim ingest to make one)", store_path));
}

}  // namespace

Manifest read_store_manifest(const std::string& store_path) {
    std::string path = join_path(store_path, manifest_name);
    if (!path_exists(path)) throw_no_manifest(store_path);
    std::string text = read_text_file(path);
    nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
    if (json.is_discarded()) throw Error(ErrorKind::format, fmt::format("{}: not valid JSON; {}", path, repair_hint));
    return manifest_from_json(json, path);
}

namespace {

nlohmann::json segments_to_json(const std::vector<SegmentEntry>& segments) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& segment : segments) {
        nlohmann::json entry = {{"file", segment.file}, {"kind", segment.kind}, {"rows", segment.rows}, {"removed", segment.removed}};
        if (segment.checksum.recorded) entry.update(checksum_to_json(segment.checksum));
        list.push_back(entry);
    }
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
                            json_integer<int64_t>(segment.at("rows")), json_integer<int64_t>(segment.at("removed")),
                            checksum_from_json(segment, source)});
    return segments;
}

// Writes the store's verification cache if files were verified since: once per table read, not
// once per file (a table may have hundreds of segments).
void save_verified_files(const std::string& store_path);

template <typename Table, typename Read>
Table fold_segments(const std::string& store_path, const std::vector<SegmentEntry>& segments, Read read) {
    Table table;
    for (const auto& segment : segments) {
        verify_store_file(store_path, segment.file, segment.checksum);
        table.apply(read(join_path(store_path, segment.file)));
    }
    save_verified_files(store_path);
    return table;
}

// Index entries written before manifests listed a derived file's parts had a payload and its
// header `payload.json` (lib/index); pairs were one file.
std::map<std::string, FileChecksum> legacy_derived_files(const std::string& kind, const std::string& file) {
    std::map<std::string, FileChecksum> files{{file, {}}};
    if (kind == "indexes") files[file + ".json"] = {};
    return files;
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
        int64_t version = json_integer<int64_t>(json.at("format_version"));
        if (version < 1 || version > store_format_version)
            throw Error(ErrorKind::format,
                        fmt::format("{}: store format version {} (written by {}); this audiosim reads versions 1 to {}",
                                    source, version, json.value("writer", "?"), store_format_version));
        Manifest manifest;
        manifest.generation = json_integer<int64_t>(json.at("generation"));
        manifest.writer = json.at("writer").get<std::string>();
        manifest.command_line = json.at("command_line").get<std::string>();
        manifest.created = json.at("created").get<std::string>();
        manifest.updated = json.at("updated").get<std::string>();
        manifest.library_root = json.at("library_root").get<std::string>();
        manifest.next_file_id = json_integer<uint64_t>(json.at("next_file_id"));
        manifest.catalog = segments_from_json(json.at("catalog"), source);
        if (json.contains("chunks"))
            for (const auto& [name, set] : json.at("chunks").items())
                manifest.chunk_sets[name] = {ChunkProfile::from_json(set.at("profile")),
                                             segments_from_json(set.at("segments"), source),
                                             json_integer<uint64_t>(set.at("next_chunk_id"))};
        if (json.contains("embeddings"))
            for (const auto& [key, set] : json.at("embeddings").items())
                manifest.embedding_sets[key] = {set.at("model_id").get<std::string>(), set.at("profile").get<std::string>(),
                                                json_integer<int64_t>(set.at("dim")), set.at("model"),
                                                segments_from_json(set.at("segments"), source)};
        for (auto [name, files] : {std::pair{"indexes", &manifest.indexes}, std::pair{"pairs", &manifest.pairs}})
            if (json.contains(name))
                for (const auto& [key, entry] : json.at(name).items()) {
                    DerivedFile derived{file_in_store(entry.at("file"), source),
                                        json_integer<int64_t>(entry.at("generation")), {}};
                    if (entry.contains("files"))
                        for (const auto& [file, checksum] : entry.at("files").items())
                            derived.files[file_in_store(file, source)] = checksum_from_json(checksum, source);
                    else
                        derived.files = legacy_derived_files(name, derived.file);
                    (*files)[key] = std::move(derived);
                }
        for (const auto& run : json.at("runs"))
            manifest.runs.push_back({json_integer<int64_t>(run.at("generation")), run.at("command").get<std::string>(),
                                     run.at("command_line").get<std::string>(), run.at("finished").get<std::string>(),
                                     run.at("summary")});
        return manifest;
    } catch (const nlohmann::json::exception& e) {
        throw Error(ErrorKind::format, fmt::format("{}: malformed manifest: {}", source, e.what()));
    }
}

FileChecksum checksum_of(const std::string& path) {
    FileHash hash = hash_file(path);
    return {hash.hash, hash.bytes, true};
}

namespace {

// What stat(2) says of a file: a write to it changes ctime (and mtime), a replacement the inode.
struct FileIdentity {
    uint64_t device = 0, inode = 0, bytes = 0;
    int64_t mtime_ns = 0, ctime_ns = 0;
    bool operator==(const FileIdentity& o) const {
        return device == o.device && inode == o.inode && bytes == o.bytes && mtime_ns == o.mtime_ns && ctime_ns == o.ctime_ns;
    }
};

std::optional<FileIdentity> identity_of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
    auto ns = [](const timespec& t) { return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; };
    return FileIdentity{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                        static_cast<uint64_t>(st.st_size), ns(st.st_mtim), ns(st.st_ctim)};
}

// The files of one store whose bytes were found to match their checksum, with the identity they
// had then (verified.json, docs/FORMAT.md): a file of the same checksum and identity is not hashed
// again, in this process or a later one. Damage without a write (media bit-rot) keeps the
// identity, so this misses it; `audiosim check` hashes every file regardless (docs/RELIABILITY.md).
class VerifiedFiles {
public:
    explicit VerifiedFiles(std::string store_path) : store_path_(std::move(store_path)) { read(); }

    bool known(const std::string& file, const FileChecksum& checksum, const FileIdentity& identity) const {
        auto entry = entries_.find(file);
        return entry != entries_.end() && entry->second.checksum.xxh3 == checksum.xxh3 &&
               entry->second.checksum.bytes == checksum.bytes && entry->second.identity == identity;
    }
    // `changed_ns_ago`: how long before the stat the file last changed. The clock that stamps
    // ctime ticks coarsely (milliseconds; seconds on some filesystems), so a write just after our
    // stat may leave ctime as it was: such recent files are trusted in this process only, as
    // git treats "racily clean" index entries.
    void add(const std::string& file, const FileChecksum& checksum, const FileIdentity& identity, int64_t changed_ns_ago) {
        bool settled = changed_ns_ago >= settle_ns;
        entries_[file] = {checksum, identity, settled};
        dirty_ = dirty_ || settled;
    }
    // Best effort: a store on read-only media, or a writer's garbage collection racing the rename,
    // costs only the hashing next time.
    void save() {
        if (!dirty_) return;
        dirty_ = false;
        nlohmann::json files = nlohmann::json::object();
        for (const auto& [file, entry] : entries_) {
            if (!entry.settled || !path_exists(join_path(store_path_, file))) continue;  // dropped by the store
            const FileIdentity& id = entry.identity;
            files[file] = {{"xxh3", hash_to_hex(entry.checksum.xxh3)}, {"bytes", entry.checksum.bytes},
                           {"device", id.device}, {"inode", id.inode}, {"size", id.bytes},
                           {"mtime_ns", id.mtime_ns}, {"ctime_ns", id.ctime_ns}};
        }
        nlohmann::json json = {{"format", verified_format_name}, {"format_version", verified_format_version},
                               {"about", "files audiosim found intact and their stat(2) then; safe to delete"},
                               {"files", files}};
        try {
            AtomicFile out(join_path(store_path_, store_verified_name));
            out.write(dump(json));
            out.commit();
        } catch (const std::exception&) {
        }
    }

private:
    static constexpr const char* verified_format_name = "audiosim-verified";
    static constexpr int64_t verified_format_version = 1;
    static constexpr int64_t settle_ns = 2'000'000'000;  // FAT's 2 s, the coarsest of common filesystems
    struct Entry {
        FileChecksum checksum;
        FileIdentity identity;
        bool settled = true;
    };

    // Anything unreadable, malformed or of another version counts as no entries: it is a cache.
    void read() {
        std::string path = join_path(store_path_, store_verified_name);
        if (!path_exists(path)) return;
        try {
            nlohmann::json json = nlohmann::json::parse(read_text_file(path));
            if (json.at("format") != verified_format_name || json.at("format_version") != verified_format_version) return;
            for (const auto& [file, entry] : json.at("files").items()) {
                Entry e;
                if (!hash_from_hex(entry.at("xxh3").get<std::string>(), e.checksum.xxh3)) continue;
                e.checksum.bytes = json_integer<uint64_t>(entry.at("bytes"));
                e.identity = {json_integer<uint64_t>(entry.at("device")), json_integer<uint64_t>(entry.at("inode")),
                              json_integer<uint64_t>(entry.at("size")), json_integer<int64_t>(entry.at("mtime_ns")),
                              json_integer<int64_t>(entry.at("ctime_ns"))};
                entries_[file] = e;
            }
        } catch (const std::exception&) {
            entries_.clear();
        }
    }

    std::string store_path_;
    std::map<std::string, Entry> entries_;
    bool dirty_ = false;
};

std::mutex verified_mutex;  // guards every VerifiedFiles

VerifiedFiles& verified_files(const std::string& store_path) {
    static std::map<std::string, std::unique_ptr<VerifiedFiles>> stores;
    auto& files = stores[store_path];
    if (!files) files = std::make_unique<VerifiedFiles>(store_path);
    return *files;
}

void save_verified_files(const std::string& store_path) {
    std::lock_guard<std::mutex> lock(verified_mutex);
    verified_files(store_path).save();
}

}  // namespace

void verify_store_file(const std::string& store_path, const std::string& file, const FileChecksum& expected,
                       const std::string& remedy) {
    const std::string& hint = remedy.empty() ? repair_hint : remedy;
    std::string path = join_path(store_path, file);
    if (!path_exists(path))
        throw Error(ErrorKind::format, fmt::format("{}: missing, but the store's manifest names it; {}", path, hint));
    if (!expected.recorded) return;  // a store from before checksums: nothing to compare with
    const int64_t now_ns = now_unix_ns();
    std::optional<FileIdentity> identity = identity_of(path);  // before hashing: a write meanwhile changes it
    if (identity) {
        std::lock_guard<std::mutex> lock(verified_mutex);
        if (verified_files(store_path).known(file, expected, *identity)) return;
    }
    FileChecksum actual;
    try {
        actual = checksum_of(path);
    } catch (const Error& error) {
        throw Error(ErrorKind::format, fmt::format("{}; {}", error.what(), hint));
    }
    if (actual.bytes != expected.bytes || actual.xxh3 != expected.xxh3)
        throw Error(ErrorKind::format,
                    fmt::format("{}: damaged: {} bytes with XXH3 {}, but the manifest records {} bytes with XXH3 {}; {}",
                                path, actual.bytes, hash_to_hex(actual.xxh3), expected.bytes,
                                hash_to_hex(expected.xxh3), hint));
    if (!identity) return;
    std::lock_guard<std::mutex> lock(verified_mutex);
    verified_files(store_path).add(file, expected, *identity, now_ns - identity->ctime_ns);
}

const EmbeddingSet& stored_embedding_set(const Manifest& manifest, const std::string& key) {
    auto set = manifest.embedding_sets.find(key);
    if (set != manifest.embedding_sets.end()) return set->second;
    std::string keys;
    for (const auto& entry : manifest.embedding_sets) keys += (keys.empty() ? "" : ", ") + entry.first;
    throw Error(ErrorKind::input, fmt::format("no embeddings {} in the store ({})", key,
                                              keys.empty() ? "run audiosim embed" : "there are: " + keys));
}

ChunkProfile stored_or_preset_profile(const Manifest& manifest, const std::string& name) {
    if (auto stored = manifest.chunk_sets.find(name); stored != manifest.chunk_sets.end()) return stored->second.profile;
    const std::vector<std::string> presets = preset_names();
    if (std::find(presets.begin(), presets.end(), name) != presets.end()) return preset_profile(name);
    std::string stored_names;
    for (const auto& [stored_name, set] : manifest.chunk_sets) stored_names += (stored_names.empty() ? "" : ", ") + stored_name;
    throw Error(ErrorKind::usage, fmt::format("unknown chunk profile '{}' (presets: {}; stored: {})", name, fmt::join(presets, ", "),
                                              stored_names.empty() ? "none" : stored_names));
}

std::vector<std::string> files_named_by(const Manifest& manifest) {
    std::vector<std::string> files;
    auto add_segments = [&](const std::vector<SegmentEntry>& segments) {
        for (const auto& segment : segments) files.push_back(segment.file);
    };
    add_segments(manifest.catalog);
    for (const auto& [name, set] : manifest.chunk_sets) add_segments(set.segments);
    for (const auto& [key, set] : manifest.embedding_sets) add_segments(set.segments);
    for (const auto* derived : {&manifest.indexes, &manifest.pairs})
        for (const auto& [key, entry] : *derived)
            for (const auto& [file, checksum] : entry.files) files.push_back(file);
    return files;
}

std::vector<std::string> store_data_files(const std::string& store_path) {
    std::vector<std::string> files;
    for (const char* folder : data_folders) {
        std::error_code error;
        for (auto it = std::filesystem::recursive_directory_iterator(join_path(store_path, folder), error);
             !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
            if (!it->is_regular_file(error) || it->path().filename().string().find(".tmp.") != std::string::npos) continue;
            files.push_back(relative_to(it->path().string(), store_path));
        }
    }
    std::sort(files.begin(), files.end());
    return files;
}

std::optional<std::string> find_store(const std::string& option) {
    if (!option.empty()) return absolute_path(option);
    if (const char* env = std::getenv("AUDIOSIM_STORE"); env && *env) return absolute_path(env);
    std::string folder = absolute_path(".");
    for (;;) {
        std::string candidate = join_path(folder, ".audiosim");
        if (path_exists(join_path(candidate, manifest_name)) || !store_data_files(candidate).empty()) return candidate;
        if (folder == "/") return std::nullopt;
        folder = parent_path(folder);
    }
}

StoreReader::StoreReader(std::string path) : path_(std::move(path)) { load_manifest(); }

void StoreReader::load_manifest() { manifests_.push_back(read_store_manifest(path_)); }

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
            int64_t generation = manifest().generation;
            load_manifest();
            if (manifest().generation == generation || attempt == attempts) throw;
        }
    }
}

Catalog StoreReader::load_catalog() {
    return retrying([this] { return fold_segments<Catalog>(path_, manifest().catalog, read_catalog_segment); });
}

EmbeddingTable StoreReader::load_embeddings(const std::string& key, bool with_vectors) {
    return retrying([&] {
        return fold_segments<EmbeddingTable>(path_, stored_embedding_set(manifest(), key).segments,
                                             [&](const std::string& path) { return read_embedding_segment(path, with_vectors); });
    });
}

bool StoreReader::open_derived(const std::map<std::string, DerivedFile> Manifest::*files, const std::string& key,
                               const std::string& remedy, const std::function<void(const std::string& path)>& open) {
    return retrying([&] {
        auto entry = (manifest().*files).find(key);
        if (entry == (manifest().*files).end()) return false;
        for (const auto& [file, checksum] : entry->second.files) verify_store_file(path_, file, checksum, remedy);
        save_verified_files(path_);
        open(join_path(path_, entry->second.file));
        return true;
    });
}

bool StoreReader::open_index(const std::string& key, const std::function<void(const std::string& payload_path)>& open) {
    return open_derived(&Manifest::indexes, key, "run `audiosim index`: it rebuilds it", open);
}

bool StoreReader::open_pairs(const std::string& key, const std::function<void(const std::string& path)>& open) {
    return open_derived(&Manifest::pairs, key, "run `audiosim pairs` to make them again", open);
}

ChunkTable StoreReader::load_chunks(const std::string& profile) {
    return retrying([&] {
        auto set = manifest().chunk_sets.find(profile);
        if (set == manifest().chunk_sets.end()) {
            std::string names;
            for (const auto& entry : manifest().chunk_sets) names += (names.empty() ? "" : ", ") + entry.first;
            throw Error(ErrorKind::input, fmt::format("no chunks of profile '{}' in the store ({})", profile,
                                                      names.empty() ? "run audiosim chunk" : "there are: " + names));
        }
        return fold_segments<ChunkTable>(path_, set->second.segments, read_chunk_segment);
    });
}

StoreWriter::StoreWriter(const std::string& path, const WriterOptions& options)
    : path_(path), options_(options) {
    // Nothing is made before we know there is (or is to be) a store here: a mistyped --store must
    // not leave a folder behind.
    if (options.open == StoreOpen::existing && !path_exists(join_path(path_, manifest_name))) throw_no_manifest(path_);
    make_directories(path_);
    lock_ = std::make_unique<WriterLock>(join_path(path_, lock_name),
                                         fmt::format("pid {}: {}", ::getpid(), options.command_line),
                                         options.wait_seconds);
    if (options.open == StoreOpen::repair) return;  // check --repair reads the files itself
    std::string requested_root = options.library_root.empty() ? "" : absolute_path(options.library_root);
    if (path_exists(join_path(path_, manifest_name))) {
        manifest_ = read_store_manifest(path_);
        if (!requested_root.empty() && requested_root != manifest_.library_root)
            throw Error(ErrorKind::usage, fmt::format("{}: the store's library root is {}, not {}", path_,
                                                      manifest_.library_root, requested_root));
        catalog_ = fold_segments<Catalog>(path_, manifest_.catalog, read_catalog_segment);
    } else {
        if (options.open != StoreOpen::create) throw_no_manifest(path_);
        throw_if_data_without_manifest();
        manifest_.created = utc_timestamp(now_unix_ns());
        manifest_.library_root = requested_root.empty() ? absolute_path(".") : requested_root;
    }
    remove_unreferenced_files();
}

void StoreWriter::throw_if_data_without_manifest() const {
    if (!store_data_files(path_).empty()) throw_no_manifest(path_);
}

SegmentEntry StoreWriter::write_segment(const std::string& folder, const std::string& kind, int64_t rows,
                                        int64_t removed, const SegmentWriter& write) {
    int64_t generation = manifest_.generation + 1;
    make_directories(join_path(path_, folder));
    SegmentEntry entry{fmt::format("{}/{:08}-{}.h5", folder, generation, kind), kind, rows, removed, {}};
    AtomicFile segment(join_path(path_, entry.file));
    write(segment.temporary_path(), stamp_for(generation));
    entry.checksum = checksum_of(segment.temporary_path());
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

EmbeddingTable StoreWriter::load_embeddings(const std::string& key, bool with_vectors) const {
    auto set = manifest_.embedding_sets.find(key);
    if (set == manifest_.embedding_sets.end()) return EmbeddingTable();
    return fold_segments<EmbeddingTable>(path_, set->second.segments, [with_vectors](const std::string& path) {
        return read_embedding_segment(path, with_vectors);
    });
}

ChunkTable StoreWriter::load_chunks(const std::string& profile) const {
    auto set = manifest_.chunk_sets.find(profile);
    if (set == manifest_.chunk_sets.end()) return {};
    return fold_segments<ChunkTable>(path_, set->second.segments, read_chunk_segment);
}

WriterStamp StoreWriter::stamp_for(int64_t generation) const {
    return {options_.command_line, generation, manifest_.library_root};
}

void StoreWriter::commit_derived(std::map<std::string, DerivedFile>& files, const std::string& key,
                                 const std::string& file,
                                 const std::function<std::vector<std::string>(const std::string& path)>& write) {
    std::string path = join_path(path_, file);
    make_directories(parent_path(path));
    DerivedFile derived{file, manifest_.generation + 1, {}};
    for (const std::string& written : write(path)) derived.files[relative_to(written, path_)] = checksum_of(written);
    files[key] = std::move(derived);
    ++manifest_.generation;
    write_manifest();
    remove_unreferenced_files();
}

void StoreWriter::commit_index(const std::string& key,
                               const std::function<std::vector<std::string>(const std::string& payload_path, const WriterStamp& stamp)>& save) {
    commit_derived(manifest_.indexes, key, index_file(key, manifest_.generation + 1),
                   [&](const std::string& path) { return save(path, stamp_for(manifest_.generation + 1)); });
}

void StoreWriter::commit_pairs(const std::string& key,
                               const std::function<void(const std::string& path, const WriterStamp& stamp)>& write) {
    commit_derived(manifest_.pairs, key, pairs_file(key, manifest_.generation + 1), [&](const std::string& path) {
        AtomicFile file(path);
        write(file.temporary_path(), stamp_for(manifest_.generation + 1));
        file.commit();
        return std::vector<std::string>{path};
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

void StoreWriter::install_manifest(Manifest manifest) {
    manifest_ = std::move(manifest);
    catalog_ = fold_segments<Catalog>(path_, manifest_.catalog, read_catalog_segment);
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
    // The quarantine folder of check --repair is the user's to delete.
    std::vector<std::string> named = files_named_by(manifest_);
    std::set<std::string> referenced(named.begin(), named.end());
    std::error_code error;
    for (auto it = std::filesystem::recursive_directory_iterator(path_, error);
         !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
        if (it->is_directory(error) && it->path().filename() == store_quarantine_folder && it.depth() == 0) {
            it.disable_recursion_pending();
            continue;
        }
        if (!it->is_regular_file(error)) continue;
        std::string relative = relative_to(it->path().string(), path_);
        bool top_level = relative.find('/') == std::string::npos;
        bool garbage = top_level ? relative.rfind(std::string(manifest_name) + ".tmp.", 0) == 0 ||
                                       relative.rfind(std::string(store_verified_name) + ".tmp.", 0) == 0
                                 : !referenced.count(relative);
        if (garbage) std::filesystem::remove(it->path(), error);
    }
}

}  // namespace audiosim
