#include "store/store.hpp"

#include <dirent.h>
#include <unistd.h>

#include <fmt/format.h>

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

}  // namespace

nlohmann::json manifest_to_json(const Manifest& manifest) {
    nlohmann::json segments = nlohmann::json::array();
    for (const auto& segment : manifest.catalog)
        segments.push_back({{"file", segment.file}, {"kind", segment.kind}, {"rows", segment.rows}, {"removed", segment.removed}});
    nlohmann::json runs = nlohmann::json::array();
    for (const auto& run : manifest.runs)
        runs.push_back({{"generation", run.generation}, {"command", run.command}, {"command_line", run.command_line},
                        {"finished", run.finished}, {"summary", run.summary}});
    return {{"format", store_format_name},
            {"format_version", store_format_version},
            {"writer", manifest.writer},
            {"command_line", manifest.command_line},
            {"created", manifest.created},
            {"updated", manifest.updated},
            {"generation", manifest.generation},
            {"library_root", manifest.library_root},
            {"next_file_id", manifest.next_file_id},
            {"catalog", segments},
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
        for (const auto& segment : json.at("catalog")) {
            SegmentEntry entry{segment.at("file").get<std::string>(), segment.at("kind").get<std::string>(),
                               segment.at("rows").get<int64_t>(), segment.at("removed").get<int64_t>()};
            if (entry.file.find("..") != std::string::npos || entry.file.empty() || entry.file[0] == '/')
                throw Error(ErrorKind::format, fmt::format("{}: segment path '{}' leaves the store", source, entry.file));
            manifest.catalog.push_back(std::move(entry));
        }
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

Catalog StoreReader::load_catalog() {
    // A writer may compact and delete the segments of the manifest we read, even while HDF5 opens
    // one (it fails then in several ways). When the manifest has moved on, read the new one; when
    // it has not, the error is real.
    constexpr int attempts = 10;
    for (int attempt = 1;; ++attempt) {
        try {
            Catalog catalog;
            for (const auto& segment : manifest_.catalog)
                catalog.apply(read_catalog_segment(join_path(path_, segment.file)));
            return catalog;
        } catch (const Error&) {
            int64_t generation = manifest_.generation;
            load_manifest();
            if (manifest_.generation == generation || attempt == attempts) throw;
        }
    }
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
        for (const auto& segment : manifest_.catalog)
            catalog_.apply(read_catalog_segment(join_path(path_, segment.file)));
    } else {
        manifest_.created = utc_timestamp(now_unix_ns());
        manifest_.library_root = requested_root.empty() ? absolute_path(".") : requested_root;
    }
    remove_unreferenced_files();
}

void StoreWriter::commit(CatalogDelta delta) {
    int64_t generation = manifest_.generation + 1;
    SegmentEntry entry;
    entry.file = fmt::format("{}/{:08}-delta.h5", catalog_folder, generation);
    entry.kind = "delta";
    entry.rows = static_cast<int64_t>(delta.records.size());
    entry.removed = static_cast<int64_t>(delta.removed_paths.size());
    if (!delta.empty()) {
        AtomicFile segment(join_path(path_, entry.file));
        write_catalog_segment(segment.temporary_path(), delta, {options_.command_line, generation});
        segment.commit();
    }
    manifest_.generation = generation;
    if (!delta.empty()) manifest_.catalog.push_back(entry);
    write_manifest();
    catalog_.apply(std::move(delta));
}

void StoreWriter::finish_run(const std::string& command, nlohmann::json summary) {
    RunEntry run{manifest_.generation + 1, command, options_.command_line, utc_timestamp(now_unix_ns()),
                 std::move(summary)};
    manifest_.runs.insert(manifest_.runs.begin(), std::move(run));
    if (manifest_.runs.size() > max_runs_kept) manifest_.runs.resize(max_runs_kept);
    commit({});
}

void StoreWriter::compact_if_needed() {
    int64_t base_rows = 0, delta_rows = 0, deltas = 0;
    for (const auto& segment : manifest_.catalog) {
        if (segment.kind == "base") base_rows += segment.rows;
        else {
            delta_rows += segment.rows + segment.removed;
            ++deltas;
        }
    }
    constexpr int64_t max_deltas = 8;
    if (deltas == 0 || (deltas < max_deltas && delta_rows * 4 < base_rows)) return;

    int64_t generation = manifest_.generation + 1;
    CatalogDelta merged;
    merged.records.reserve(catalog_.size());
    for (const FileRecord* record : catalog_.records_sorted_by_path()) merged.records.push_back(*record);
    SegmentEntry entry{fmt::format("{}/{:08}-base.h5", catalog_folder, generation), "base",
                       static_cast<int64_t>(merged.records.size()), 0};
    AtomicFile segment(join_path(path_, entry.file));
    write_catalog_segment(segment.temporary_path(), merged, {options_.command_line, generation});
    segment.commit();
    manifest_.generation = generation;
    manifest_.catalog = {entry};
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
    // Under the writer lock, anything in catalog/ the manifest does not name is garbage: segments
    // replaced by a compaction, or temporaries of a writer that died before its commit.
    std::string folder = join_path(path_, catalog_folder);
    DIR* dir = ::opendir(folder.c_str());
    if (!dir) return;
    std::vector<std::string> garbage;
    while (dirent* entry = ::readdir(dir)) {
        std::string name = entry->d_name;
        if (name == "." || name == "..") continue;
        std::string relative = fmt::format("{}/{}", catalog_folder, name);
        bool referenced = false;
        for (const auto& segment : manifest_.catalog) referenced |= segment.file == relative;
        if (!referenced) garbage.push_back(join_path(folder, name));
    }
    ::closedir(dir);
    for (const auto& path : garbage) ::unlink(path.c_str());
    // A manifest temporary left by a writer killed between write and rename.
    DIR* top = ::opendir(path_.c_str());
    if (!top) return;
    while (dirent* entry = ::readdir(top)) {
        std::string name = entry->d_name;
        if (name.rfind(std::string(manifest_name) + ".tmp.", 0) == 0) ::unlinkat(::dirfd(top), entry->d_name, 0);
    }
    ::closedir(top);
}

}  // namespace audiosim
