#include "index/index_labels.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "store/stamp.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"
#include "util/json.hpp"
#include "util/system.hpp"

namespace audiosim {

namespace {

// The sections in file order, with the size of one element (path_bytes: one byte per byte).
struct SectionSpec {
    const char* name;
    size_t element;
};
constexpr SectionSpec section_specs[] = {
    {"chunk_ids", 8},      {"chunk_files", 4},     {"chunk_starts", 8},    {"chunk_durations", 8}, {"file_ids", 8},
    {"file_hashes", 8},    {"file_path_ends", 8},  {"file_chunk_ends", 8}, {"file_chunks", 4},     {"path_bytes", 1},
    {"chunk_elements", 4},
};
// Sections a reader does without: chunk_elements came after the first files were written.
bool optional_section(size_t s) { return std::string(section_specs[s].name) == "chunk_elements"; }
constexpr size_t alignment = 8;

size_t aligned(size_t bytes) { return (bytes + alignment - 1) / alignment * alignment; }

nlohmann::json segment_list(const std::vector<SegmentEntry>& segments) {
    nlohmann::json list = nlohmann::json::array();
    for (const SegmentEntry& segment : segments) list.push_back({{"file", segment.file}, {"xxh3", hash_to_hex(segment.checksum.xxh3)}});
    return list;
}

template <typename T> void put(std::vector<char>& out, size_t offset, size_t i, T value) {
    std::memcpy(out.data() + offset + i * sizeof(T), &value, sizeof(T));
}

}  // namespace

std::string index_labels_path(const std::string& payload_path) { return payload_path + ".labels"; }

nlohmann::json labels_basis(const Manifest& manifest, const EmbeddingSet& set) {
    auto chunks = manifest.chunk_sets.find(set.profile);
    return {{"catalog", segment_list(manifest.catalog)},
            {"chunks", segment_list(chunks == manifest.chunk_sets.end() ? std::vector<SegmentEntry>{} : chunks->second.segments)},
            {"embeddings", segment_list(set.segments)}};
}

IndexLabels::IndexLabels(IndexLabels&&) noexcept = default;
IndexLabels& IndexLabels::operator=(IndexLabels&&) noexcept = default;
IndexLabels::~IndexLabels() = default;

IndexLabels IndexLabels::build(const Catalog& catalog, const ChunkTable& chunks, const EmbeddingTable& embeddings,
                               nlohmann::json basis, uint64_t embeddings_checksum, const ElementOf& element_of) {
    std::vector<const FileRecord*> files;
    catalog.for_each([&](const FileRecord& file) {
        if (file.status == FileStatus::ok) files.push_back(&file);
    });
    std::sort(files.begin(), files.end(), [](const FileRecord* a, const FileRecord* b) { return a->file_id < b->file_id; });

    struct Row {
        uint64_t chunk_id;
        uint32_t file_row;
        double start, duration;
    };
    std::vector<Row> rows;  // per file in file id order, each file's chunks in the set's order
    std::vector<uint64_t> chunks_per_file(files.size(), 0);
    size_t file_row = 0;
    for (const auto& [file_id, vectors] : embeddings.by_file()) {
        while (file_row < files.size() && files[file_row]->file_id < file_id) ++file_row;
        if (file_row == files.size()) break;
        if (files[file_row]->file_id != file_id) continue;  // the file left the catalog after it was embedded
        const std::vector<Chunk>* stored = chunks.chunks_of(file_id);
        if (!stored) continue;
        for (uint64_t chunk_id : vectors.chunk_ids) {
            auto chunk = std::find_if(stored->begin(), stored->end(), [&](const Chunk& c) { return c.chunk_id == chunk_id; });
            if (chunk == stored->end()) continue;
            rows.push_back({chunk_id, static_cast<uint32_t>(file_row), chunk->start, chunk->duration});
            ++chunks_per_file[file_row];
        }
    }
    if (rows.size() >= std::numeric_limits<uint32_t>::max() || files.size() >= std::numeric_limits<uint32_t>::max())
        throw Error(ErrorKind::internal, fmt::format("index labels: {} chunks of {} files is past their 32-bit rows",
                                                     rows.size(), files.size()));
    std::vector<uint32_t> by_id(rows.size());  // row order: by chunk id, for binary search
    std::iota(by_id.begin(), by_id.end(), 0u);
    std::sort(by_id.begin(), by_id.end(), [&](uint32_t a, uint32_t b) { return rows[a].chunk_id < rows[b].chunk_id; });
    std::vector<uint32_t> sorted_row(rows.size());
    for (uint32_t i = 0; i < by_id.size(); ++i) sorted_row[by_id[i]] = i;

    size_t path_total = 0;
    for (const FileRecord* file : files) path_total += file->path.size();
    const size_t n = rows.size(), f = files.size();
    const size_t counts[] = {n, n, n, n, f, f, f, f, n, path_total, n};

    IndexLabels labels;
    labels.source_ = "index labels built in memory";
    labels.basis_ = std::move(basis);
    labels.embeddings_checksum_ = embeddings_checksum;
    labels.chunk_count_ = n;
    labels.file_count_ = f;
    nlohmann::json sections = nlohmann::json::object();
    size_t offset = 0;
    std::vector<size_t> offsets;
    for (size_t s = 0; s < std::size(section_specs); ++s) {
        size_t bytes = counts[s] * section_specs[s].element;
        sections[section_specs[s].name] = {{"offset", offset}, {"bytes", bytes}};
        offsets.push_back(offset);
        offset += aligned(bytes);
    }
    std::vector<char>& out = labels.owned_;
    out.assign(offset, 0);
    for (size_t i = 0; i < n; ++i) {
        const Row& row = rows[by_id[i]];
        put<uint64_t>(out, offsets[0], i, row.chunk_id);
        put<uint32_t>(out, offsets[1], i, row.file_row);
        put<double>(out, offsets[2], i, row.start);
        put<double>(out, offsets[3], i, row.duration);
        std::optional<uint32_t> element = element_of ? element_of(row.chunk_id) : std::nullopt;
        put<uint32_t>(out, offsets[10], i, element.value_or(no_element));
    }
    uint64_t path_end = 0, chunk_end = 0;
    for (size_t i = 0; i < f; ++i) {
        put<uint64_t>(out, offsets[4], i, files[i]->file_id);
        put<uint64_t>(out, offsets[5], i, files[i]->hash);
        std::memcpy(out.data() + offsets[9] + path_end, files[i]->path.data(), files[i]->path.size());
        path_end += files[i]->path.size();
        put<uint64_t>(out, offsets[6], i, path_end);
        chunk_end += chunks_per_file[i];
        put<uint64_t>(out, offsets[7], i, chunk_end);
    }
    for (size_t i = 0; i < n; ++i) put<uint32_t>(out, offsets[8], i, sorted_row[i]);

    labels.header_ = {{"chunks", n}, {"files", f}, {"sections", std::move(sections)}};
    labels.bytes_ = out.data();
    labels.size_ = out.size();
    labels.locate_sections(labels.source_);
    return labels;
}

std::string IndexLabels::save(const std::string& path, const WriterStamp& stamp, const std::string& model_id,
                              const std::string& profile) const {
    nlohmann::json header = {{"format", index_labels_format_name},
                             {"format_version", index_labels_format_version},
                             {"writer", writer_name()},
                             {"command_line", stamp.command_line},
                             {"created", utc_timestamp(now_unix_ns())},
                             {"generation", stamp.generation},
                             {"model_id", model_id},
                             {"profile", profile},
                             {"embeddings_checksum", hash_to_hex(embeddings_checksum_)},
                             {"basis", basis_},
                             {"chunks", chunk_count_},
                             {"files", file_count_},
                             {"sections", header_.at("sections")}};
    std::string text = header.dump();
    text.append(aligned(sizeof(uint64_t) + text.size()) - sizeof(uint64_t) - text.size(), ' ');
    uint64_t length = text.size();
    AtomicFile file(path);
    file.write(std::string_view(reinterpret_cast<const char*>(&length), sizeof length));
    file.write(text);
    file.write(std::string_view(bytes_, size_));
    file.commit();
    return path;
}

IndexLabels IndexLabels::open(const std::string& path) {
    IndexLabels labels;
    labels.source_ = path;
    labels.mapped_ = std::make_unique<MappedFile>(path);
    const MappedFile& file = *labels.mapped_;
    uint64_t length = 0;
    if (file.size() < sizeof length) labels.damaged("truncated (no header)");
    std::memcpy(&length, file.data(), sizeof length);
    if (length > file.size() - sizeof length || (sizeof length + length) % alignment != 0)
        labels.damaged("its header length does not fit the file (damaged or truncated)");
    try {
        labels.header_ = nlohmann::json::parse(file.data() + sizeof length, file.data() + sizeof length + length);
        const std::string format = labels.header_.at("format").get<std::string>();
        if (format != index_labels_format_name)
            labels.damaged(fmt::format("format '{}', not {}", format, index_labels_format_name));
        const auto version = json_integer<int64_t>(labels.header_.at("format_version"));
        if (version > index_labels_format_version)
            labels.damaged(fmt::format("written by {} as version {}; this audiosim reads up to version {}",
                                       labels.header_.value("writer", std::string("another audiosim")), version,
                                       index_labels_format_version));
        if (!hash_from_hex(labels.header_.at("embeddings_checksum").get<std::string>(), labels.embeddings_checksum_))
            labels.damaged("embeddings_checksum is not 16 hex digits");
        labels.basis_ = labels.header_.at("basis");
        labels.chunk_count_ = json_integer<size_t>(labels.header_.at("chunks"));
        labels.file_count_ = json_integer<size_t>(labels.header_.at("files"));
    } catch (const nlohmann::json::exception& error) {
        labels.damaged(fmt::format("its header is damaged: {}", error.what()));
    }
    labels.bytes_ = file.data() + sizeof length + length;
    labels.size_ = file.size() - sizeof length - length;
    labels.locate_sections(path);
    return labels;
}

void IndexLabels::locate_sections(const std::string& source) {
    const size_t counts[] = {chunk_count_, chunk_count_, chunk_count_, chunk_count_, file_count_,  file_count_,
                             file_count_,  file_count_,  chunk_count_, 0,            chunk_count_};
    Section* targets[] = {&chunk_ids_,       &chunk_files_, &chunk_starts_, &chunk_durations_,
                          &file_ids_,        &file_hashes_, &file_path_ends_, &file_chunk_ends_,
                          &file_chunks_,     &path_bytes_,  &chunk_elements_};
    if (chunk_count_ > size_ / sizeof(uint64_t) || file_count_ > size_ / sizeof(uint64_t))
        damaged(fmt::format("{} chunks and {} files cannot fit in {} bytes", chunk_count_, file_count_, size_));
    try {
        const nlohmann::json& sections = header_.at("sections");
        for (size_t s = 0; s < std::size(section_specs); ++s) {
            if (optional_section(s) && !sections.contains(section_specs[s].name)) continue;
            const nlohmann::json& entry = sections.at(section_specs[s].name);
            auto offset = json_integer<size_t>(entry.at("offset"));
            auto bytes = json_integer<size_t>(entry.at("bytes"));
            bool size_fits = std::string(section_specs[s].name) == "path_bytes" || bytes == counts[s] * section_specs[s].element;
            if (offset % alignment != 0 || offset > size_ || bytes > size_ - offset || !size_fits)
                damaged(fmt::format("section {} ({} bytes at {}) does not fit the file or its row count",
                                    section_specs[s].name, bytes, offset));
            *targets[s] = {bytes_ + offset, bytes};
        }
    } catch (const nlohmann::json::exception& error) {
        throw Error(ErrorKind::format, fmt::format("{}: its header is damaged: {}", source, error.what()));
    }
}

template <typename T> T IndexLabels::element(const Section& section, size_t i) const {
    T value;
    std::memcpy(&value, section.data + i * sizeof(T), sizeof(T));
    return value;
}

void IndexLabels::damaged(const std::string& why) const {
    throw Error(ErrorKind::format, fmt::format("{}: {}", source_, why));
}

bool IndexLabels::describes(const Manifest& manifest, const EmbeddingSet& set, uint64_t checksum) const {
    return embeddings_checksum_ == checksum && basis_ == labels_basis(manifest, set);
}

bool IndexLabels::knows_elements() const { return chunk_count_ == 0 || chunk(0).element != no_element; }

size_t IndexLabels::find_sorted(const Section& ids, size_t count, uint64_t id) const {
    size_t low = 0, high = count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (element<uint64_t>(ids, middle) < id) low = middle + 1;
        else high = middle;
    }
    return low < count && element<uint64_t>(ids, low) == id ? low : npos;
}

size_t IndexLabels::find_chunk(uint64_t chunk_id) const { return find_sorted(chunk_ids_, chunk_count_, chunk_id); }

LabelledChunk IndexLabels::chunk(size_t row) const {
    auto file_row = element<uint32_t>(chunk_files_, row);
    if (file_row >= file_count_) damaged(fmt::format("chunk row {} names file row {} of {}", row, file_row, file_count_));
    return {element<uint64_t>(chunk_ids_, row), element<uint64_t>(file_ids_, file_row), element<double>(chunk_starts_, row),
            element<double>(chunk_durations_, row),
            chunk_elements_.data ? element<uint32_t>(chunk_elements_, row) : no_element};
}

size_t IndexLabels::find_file(uint64_t file_id) const { return find_sorted(file_ids_, file_count_, file_id); }

LabelledFile IndexLabels::file(size_t row) const {
    uint64_t begin = row == 0 ? 0 : element<uint64_t>(file_path_ends_, row - 1);
    uint64_t end = element<uint64_t>(file_path_ends_, row);
    if (begin > end || end > path_bytes_.bytes) damaged(fmt::format("file row {}: its path lies outside the path bytes", row));
    return {element<uint64_t>(file_ids_, row), element<uint64_t>(file_hashes_, row),
            std::string_view(path_bytes_.data + begin, end - begin)};
}

size_t IndexLabels::find_path(std::string_view path) const {
    for (size_t row = 0; row < file_count_; ++row)
        if (file(row).path == path) return row;
    return npos;
}

std::vector<uint64_t> IndexLabels::files_with_hash(uint64_t hash) const {
    std::vector<uint64_t> out;
    for (size_t row = 0; row < file_count_; ++row)
        if (element<uint64_t>(file_hashes_, row) == hash) out.push_back(element<uint64_t>(file_ids_, row));
    return out;
}

std::vector<uint64_t> IndexLabels::chunks_of_file(size_t file_row) const {
    uint64_t begin = file_row == 0 ? 0 : element<uint64_t>(file_chunk_ends_, file_row - 1);
    uint64_t end = element<uint64_t>(file_chunk_ends_, file_row);
    if (begin > end || end > chunk_count_) damaged(fmt::format("file row {}: its chunks lie outside the chunk rows", file_row));
    std::vector<uint64_t> ids;
    ids.reserve(end - begin);
    for (uint64_t i = begin; i < end; ++i) {
        auto row = element<uint32_t>(file_chunks_, i);
        if (row >= chunk_count_) damaged(fmt::format("file row {} names chunk row {} of {}", file_row, row, chunk_count_));
        ids.push_back(element<uint64_t>(chunk_ids_, row));
    }
    return ids;
}

void IndexLabels::validate() const {
    for (size_t row = 0; row < chunk_count_; ++row) {
        if (row > 0 && element<uint64_t>(chunk_ids_, row - 1) >= element<uint64_t>(chunk_ids_, row))
            damaged(fmt::format("chunk ids are not ascending at row {}", row));
        chunk(row);
    }
    std::vector<bool> listed(chunk_count_, false);
    for (size_t row = 0; row < file_count_; ++row) {
        if (row > 0 && element<uint64_t>(file_ids_, row - 1) >= element<uint64_t>(file_ids_, row))
            damaged(fmt::format("file ids are not ascending at row {}", row));
        file(row);
        chunks_of_file(row);  // its bounds
        uint64_t begin = row == 0 ? 0 : element<uint64_t>(file_chunk_ends_, row - 1);
        for (uint64_t i = begin; i < element<uint64_t>(file_chunk_ends_, row); ++i) {
            auto chunk_row = element<uint32_t>(file_chunks_, i);
            if (listed[chunk_row] || element<uint32_t>(chunk_files_, chunk_row) != row)
                damaged(fmt::format("chunk row {} is listed twice or under another file than its own", chunk_row));
            listed[chunk_row] = true;
        }
    }
    if (std::find(listed.begin(), listed.end(), false) != listed.end()) damaged("a chunk is not listed under its file");
    if (file_count_ > 0 && element<uint64_t>(file_path_ends_, file_count_ - 1) != path_bytes_.bytes)
        damaged("its paths do not fill the path bytes");
}

}  // namespace audiosim
