#include "store/catalog.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "store/h5.hpp"
#include "store/stamp.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace audiosim {

const std::string* FileRecord::metadata_value(const std::string& column) const {
    auto it = std::lower_bound(metadata.begin(), metadata.end(), column,
                               [](const auto& entry, const std::string& key) { return entry.first < key; });
    return it != metadata.end() && it->first == column ? &it->second : nullptr;
}

void FileRecord::set_metadata(const std::string& column, std::string value) {
    auto it = std::lower_bound(metadata.begin(), metadata.end(), column,
                               [](const auto& entry, const std::string& key) { return entry.first < key; });
    if (it != metadata.end() && it->first == column)
        it->second = std::move(value);
    else
        metadata.emplace(it, column, std::move(value));
}

std::vector<std::string> split_tags(const std::string& value) {
    std::set<std::string> tags;
    for (size_t begin = 0; begin <= value.size();) {
        size_t end = std::min(value.find_first_of(",;", begin), value.size());
        size_t first = value.find_first_not_of(" \t", begin);
        if (first < end) tags.insert(value.substr(first, value.find_last_not_of(" \t", end - 1) - first + 1));
        begin = end + 1;
    }
    return {tags.begin(), tags.end()};
}

std::vector<std::string> Catalog::metadata_columns() const {
    std::set<std::string> columns;
    for (const auto& entry : by_path_)
        for (const auto& [column, value] : entry.second.metadata) columns.insert(column);
    return {columns.begin(), columns.end()};
}

void check_catalog_field(const Catalog& catalog, const std::string& option, const std::string& field,
                         const std::vector<std::string>& builtins) {
    std::vector<std::string> known = builtins;
    for (const std::string& column : catalog.metadata_columns())
        if (std::find(known.begin(), known.end(), column) == known.end()) known.push_back(column);
    if (std::find(known.begin(), known.end(), field) != known.end()) return;
    std::string list;
    for (const std::string& name : known) list += (list.empty() ? "" : ", ") + name;
    throw Error(ErrorKind::usage, fmt::format("{} {}: no such field in the catalog (known: {})", option, field, list));
}

std::string catalog_path_of(const std::string& path, const std::string& library_root) {
    if (path.empty() || path[0] != '/') return path;
    std::string absolute = absolute_path(path);
    std::string inside = relative_to(absolute, library_root);
    return inside.empty() ? absolute : inside;
}

std::string library_path(const std::string& library_root, const std::string& catalog_path) {
    return !catalog_path.empty() && catalog_path[0] == '/' ? catalog_path : join_path(library_root, catalog_path);
}

void Catalog::apply(CatalogDelta delta) {
    auto forget_hash = [this](const FileRecord& record) {
        auto range = paths_by_hash_.equal_range(record.hash);
        for (auto it = range.first; it != range.second; ++it)
            if (it->second == record.path) {
                paths_by_hash_.erase(it);
                break;
            }
    };
    for (const auto& path : delta.removed_paths) {
        auto it = by_path_.find(path);
        if (it == by_path_.end()) continue;
        forget_hash(it->second);
        by_path_.erase(it);
    }
    for (auto& record : delta.records) {
        auto it = by_path_.find(record.path);
        if (it != by_path_.end()) {
            forget_hash(it->second);
            it->second = std::move(record);
        } else {
            it = by_path_.emplace(record.path, std::move(record)).first;
        }
        if (it->second.status == FileStatus::ok) paths_by_hash_.emplace(it->second.hash, it->first);
    }
}

const FileRecord* Catalog::find(const std::string& path) const {
    auto it = by_path_.find(path);
    return it == by_path_.end() ? nullptr : &it->second;
}

std::vector<std::string> Catalog::ok_paths_with_hash(uint64_t hash) const {
    std::vector<std::string> paths;
    auto range = paths_by_hash_.equal_range(hash);
    for (auto it = range.first; it != range.second; ++it) paths.push_back(it->second);
    std::sort(paths.begin(), paths.end());
    return paths;
}

std::vector<const FileRecord*> Catalog::records_sorted_by_path() const {
    std::vector<const FileRecord*> records;
    records.reserve(by_path_.size());
    for (const auto& entry : by_path_) records.push_back(&entry.second);
    std::sort(records.begin(), records.end(), [](auto* a, auto* b) { return a->path < b->path; });
    return records;
}

namespace {

void write_metadata(const h5::File& file, hid_t files_group, const std::vector<FileRecord>& records) {
    std::set<std::string> columns;
    for (const auto& record : records)
        for (const auto& entry : record.metadata) columns.insert(entry.first);
    h5::Handle meta(H5Gcreate2(files_group, "meta", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    if (meta.get() < 0) throw Error(ErrorKind::io, fmt::format("{}: cannot write group files/meta", file.path()));
    for (const auto& column : columns) {
        std::vector<std::string> values;
        std::vector<uint8_t> present;
        values.reserve(records.size());
        for (const auto& record : records) {
            const std::string* value = record.metadata_value(column);
            values.push_back(value ? *value : std::string());
            present.push_back(value ? 1 : 0);
        }
        h5::Handle column_group(H5Gcreate2(meta.get(), column.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
        if (column_group.get() < 0)
            throw Error(ErrorKind::io, fmt::format("{}: cannot write metadata column {}", file.path(), column));
        h5::write_string_column(file, column_group.get(), "value", values, h5::Charset::utf8);
        h5::write_column(file, column_group.get(), "present", present);
    }
}

void read_metadata(const h5::File& file, hid_t files_group, std::vector<FileRecord>& records) {
    if (H5Lexists(files_group, "meta", H5P_DEFAULT) <= 0) return;
    h5::Handle meta(H5Gopen2(files_group, "meta", H5P_DEFAULT), H5Gclose);
    for (const auto& column : h5::list_children(file, meta.get())) {
        h5::Handle column_group(H5Gopen2(meta.get(), column.c_str(), H5P_DEFAULT), H5Gclose);
        auto values = h5::read_string_column(file, column_group.get(), "value", records.size());
        auto present = h5::read_column<uint8_t>(file, column_group.get(), "present", records.size());
        for (size_t i = 0; i < records.size(); ++i)
            if (present[i]) records[i].set_metadata(column, std::move(values[i]));
    }
}

}  // namespace

void write_catalog_segment(const std::string& path, const CatalogDelta& delta, const WriterStamp& stamp) {
    h5::File file = h5::File::create(path);
    write_stamp(file, catalog_format_name, catalog_format_version, stamp);
    const auto& records = delta.records;
    h5::Handle files = file.create_group("files");
    h5::write_int_attribute(file, files.get(), "rows", static_cast<int64_t>(records.size()));
    h5::write_column(file, files.get(), "file_id", h5::column_of<uint64_t>(records, [](auto& r) { return r.file_id; }));
    h5::write_string_column(file, files.get(), "path", h5::column_of<std::string>(records, [](auto& r) { return r.path; }),
                            h5::Charset::bytes);
    h5::write_column(file, files.get(), "size", h5::column_of<uint64_t>(records, [](auto& r) { return r.size; }));
    h5::write_column(file, files.get(), "mtime_ns", h5::column_of<int64_t>(records, [](auto& r) { return r.mtime_ns; }));
    h5::write_column(file, files.get(), "hash", h5::column_of<uint64_t>(records, [](auto& r) { return r.hash; }));
    h5::write_enum_column(file, files.get(), "status",
                          h5::column_of<uint8_t>(records, [](auto& r) { return r.status; }), file_status_names());
    h5::write_string_column(file, files.get(), "error", h5::column_of<std::string>(records, [](auto& r) { return r.error; }),
                            h5::Charset::utf8);
    h5::write_string_column(file, files.get(), "container",
                            h5::column_of<std::string>(records, [](auto& r) { return r.audio.container; }), h5::Charset::utf8);
    h5::write_string_column(file, files.get(), "codec",
                            h5::column_of<std::string>(records, [](auto& r) { return r.audio.codec; }), h5::Charset::utf8);
    h5::write_column(file, files.get(), "sample_rate",
                     h5::column_of<uint32_t>(records, [](auto& r) { return r.audio.sample_rate; }));
    h5::write_column(file, files.get(), "channels", h5::column_of<uint32_t>(records, [](auto& r) { return r.audio.channels; }));
    h5::write_column(file, files.get(), "frames", h5::column_of<int64_t>(records, [](auto& r) { return r.audio.frames; }));
    h5::write_column(file, files.get(), "duration", h5::column_of<double>(records, [](auto& r) { return r.audio.duration; }));
    h5::write_column(file, files.get(), "ingested_ns", h5::column_of<int64_t>(records, [](auto& r) { return r.ingested_ns; }));
    h5::write_string_column(file, files.get(), "warning", h5::column_of<std::string>(records, [](auto& r) { return r.warning; }),
                            h5::Charset::utf8);
    h5::write_column(file, files.get(), "frames_estimated",
                     h5::column_of<uint8_t>(records, [](auto& r) { return r.audio.frames_estimated; }));
    write_metadata(file, files.get(), records);

    h5::Handle removed = file.create_group("removed");
    h5::write_int_attribute(file, removed.get(), "rows", static_cast<int64_t>(delta.removed_paths.size()));
    h5::write_string_column(file, removed.get(), "path", delta.removed_paths, h5::Charset::bytes);
    file.close();
}

CatalogDelta read_catalog_segment(const std::string& path) {
    h5::File file = h5::File::open_read_only(path);
    check_stamp(file, catalog_format_name, catalog_format_version);
    CatalogDelta delta;
    h5::Handle files = file.open_group("files");
    size_t rows = h5::read_row_count(file, files.get());
    auto file_id = h5::read_column<uint64_t>(file, files.get(), "file_id", rows);
    auto paths = h5::read_string_column(file, files.get(), "path", rows);
    auto size = h5::read_column<uint64_t>(file, files.get(), "size", rows);
    auto mtime = h5::read_column<int64_t>(file, files.get(), "mtime_ns", rows);
    auto hash = h5::read_column<uint64_t>(file, files.get(), "hash", rows);
    auto status = h5::read_enum_column(file, files.get(), "status", rows, file_status_names().size());
    auto error = h5::read_string_column(file, files.get(), "error", rows);
    auto container = h5::read_string_column(file, files.get(), "container", rows);
    auto codec = h5::read_string_column(file, files.get(), "codec", rows);
    auto rate = h5::read_column<uint32_t>(file, files.get(), "sample_rate", rows);
    auto channels = h5::read_column<uint32_t>(file, files.get(), "channels", rows);
    auto frames = h5::read_column<int64_t>(file, files.get(), "frames", rows);
    auto duration = h5::read_column<double>(file, files.get(), "duration", rows);
    auto ingested = h5::read_column<int64_t>(file, files.get(), "ingested_ns", rows);
    // Segments written before these columns: no warnings, and MP3 lengths were libsndfile's estimate.
    bool current = H5Lexists(files.get(), "warning", H5P_DEFAULT) > 0;
    auto warning = current ? h5::read_string_column(file, files.get(), "warning", rows) : std::vector<std::string>(rows);
    auto estimated = current ? h5::read_column<uint8_t>(file, files.get(), "frames_estimated", rows) : std::vector<uint8_t>();
    delta.records.resize(rows);
    for (size_t i = 0; i < rows; ++i) {
        FileRecord& r = delta.records[i];
        r.file_id = file_id[i];
        r.path = std::move(paths[i]);
        r.size = size[i];
        r.mtime_ns = mtime[i];
        r.hash = hash[i];
        r.status = static_cast<FileStatus>(status[i]);
        r.error = std::move(error[i]);
        r.audio.container = std::move(container[i]);
        r.audio.codec = std::move(codec[i]);
        r.audio.sample_rate = rate[i];
        r.audio.channels = channels[i];
        r.audio.frames = frames[i];
        r.audio.duration = duration[i];
        r.ingested_ns = ingested[i];
        r.warning = std::move(warning[i]);
        r.audio.frames_estimated = current ? estimated[i] != 0 : r.audio.container == "MPEG";
    }
    read_metadata(file, files.get(), delta.records);
    h5::Handle removed = file.open_group("removed");
    delta.removed_paths = h5::read_string_column(file, removed.get(), "path", h5::read_row_count(file, removed.get()));
    return delta;
}

}  // namespace audiosim
