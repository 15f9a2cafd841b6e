#include "store/chunks.hpp"

#include <fmt/format.h>

#include "store/h5.hpp"
#include "store/stamp.hpp"
#include "util/error.hpp"

namespace audiosim {

void ChunkTable::apply(ChunkDelta delta) {
    for (uint64_t file_id : delta.dropped_file_ids) {
        by_file_.erase(file_id);
        failed_.erase(file_id);
    }
    std::map<uint64_t, std::vector<Chunk>> fresh;
    for (Chunk& chunk : delta.chunks) fresh[chunk.file_id].push_back(chunk);
    apply_failures(delta.failed, fresh, failed_, by_file_);
    for (auto& [file_id, chunks] : fresh) by_file_[file_id] = std::move(chunks);
}

const std::vector<Chunk>* ChunkTable::chunks_of(uint64_t file_id) const {
    auto it = by_file_.find(file_id);
    return it == by_file_.end() ? nullptr : &it->second;
}

size_t ChunkTable::chunk_count() const {
    size_t count = 0;
    for (const auto& entry : by_file_) count += entry.second.size();
    return count;
}

void write_chunk_segment(const std::string& path, const ChunkProfile& profile, const ChunkDelta& delta,
                         const WriterStamp& stamp) {
    h5::File file = h5::File::create(path);
    write_stamp(file, chunks_format_name, chunks_format_version, stamp);
    h5::write_string_attribute(file, file.id(), "profile", profile.to_json().dump());
    const auto& chunks = delta.chunks;
    h5::Handle group = file.create_group("chunks");
    h5::write_int_attribute(file, group.get(), "rows", static_cast<int64_t>(chunks.size()));
    h5::write_column(file, group.get(), "chunk_id", h5::column_of<uint64_t>(chunks, [](auto& c) { return c.chunk_id; }));
    h5::write_column(file, group.get(), "file_id", h5::column_of<uint64_t>(chunks, [](auto& c) { return c.file_id; }));
    h5::write_column(file, group.get(), "start_frame", h5::column_of<int64_t>(chunks, [](auto& c) { return c.start_frame; }));
    h5::write_column(file, group.get(), "frames", h5::column_of<int64_t>(chunks, [](auto& c) { return c.frames; }));
    h5::write_column(file, group.get(), "start", h5::column_of<double>(chunks, [](auto& c) { return c.start; }));
    h5::write_column(file, group.get(), "duration", h5::column_of<double>(chunks, [](auto& c) { return c.duration; }));
    h5::write_column(file, group.get(), "rms_db", h5::column_of<float>(chunks, [](auto& c) { return c.rms_db; }));
    h5::write_column(file, group.get(), "peak_db", h5::column_of<float>(chunks, [](auto& c) { return c.peak_db; }));
    h5::write_column(file, group.get(), "flags", h5::column_of<uint8_t>(chunks, [](auto& c) { return c.flags; }));
    h5::Handle dropped = file.create_group("dropped");
    h5::write_int_attribute(file, dropped.get(), "rows", static_cast<int64_t>(delta.dropped_file_ids.size()));
    h5::write_column(file, dropped.get(), "file_id", delta.dropped_file_ids);
    write_failures(file, delta.failed);
    file.close();
}

ChunkDelta read_chunk_segment(const std::string& path) {
    h5::File file = h5::File::open_read_only(path);
    check_stamp(file, chunks_format_name, chunks_format_version);
    h5::Handle group = file.open_group("chunks");
    size_t rows = h5::read_row_count(file, group.get());
    auto chunk_id = h5::read_column<uint64_t>(file, group.get(), "chunk_id", rows);
    auto file_id = h5::read_column<uint64_t>(file, group.get(), "file_id", rows);
    auto start_frame = h5::read_column<int64_t>(file, group.get(), "start_frame", rows);
    auto frames = h5::read_column<int64_t>(file, group.get(), "frames", rows);
    auto start = h5::read_column<double>(file, group.get(), "start", rows);
    auto duration = h5::read_column<double>(file, group.get(), "duration", rows);
    auto rms_db = h5::read_column<float>(file, group.get(), "rms_db", rows);
    auto peak_db = h5::read_column<float>(file, group.get(), "peak_db", rows);
    auto flags = h5::read_column<uint8_t>(file, group.get(), "flags", rows);
    ChunkDelta delta;
    delta.chunks.resize(rows);
    for (size_t i = 0; i < rows; ++i)
        delta.chunks[i] = {chunk_id[i], file_id[i], start_frame[i], frames[i], start[i],
                           duration[i], rms_db[i],  peak_db[i],     flags[i]};
    h5::Handle dropped = file.open_group("dropped");
    delta.dropped_file_ids = h5::read_column<uint64_t>(file, dropped.get(), "file_id", h5::read_row_count(file, dropped.get()));
    delta.failed = read_failures(file);
    return delta;
}

}  // namespace audiosim
