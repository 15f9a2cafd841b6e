#include "stage/stage.hpp"

#include <algorithm>
#include <set>

namespace audiosim {
namespace {

// The stage's results and failure records that belong to no file of `live`.
template <typename Table>
void plan_removals(const Table& table, const std::set<uint64_t>& live, StagePlan& plan) {
    for (const auto& entry : table.by_file())
        if (!live.count(entry.first)) plan.dropped.push_back(entry.first);
    for (const auto& entry : table.failed())
        if (!live.count(entry.first)) plan.stale_failures.push_back(entry.first);
}

// Sorts each file of `candidates` into done, failed before, or to do.
template <typename Table, typename IsDone>
StagePlan plan_stage(const std::vector<const FileRecord*>& candidates, const Table& table, bool retry_failed,
                     IsDone is_done) {
    StagePlan plan;
    std::set<uint64_t> live;
    for (const FileRecord* file : candidates) {
        live.insert(file->file_id);
        if (is_done(*file)) plan.up_to_date.push_back(file);
        else if (table.failed().count(file->file_id) && !retry_failed) ++plan.failed_before;
        else plan.todo.push_back(file);
    }
    plan_removals(table, live, plan);
    return plan;
}

template <typename Keep>
std::vector<const FileRecord*> ok_files(const Catalog& catalog, Keep keep) {
    std::vector<const FileRecord*> files;
    for (const FileRecord* file : catalog.records_sorted_by_path())
        if (file->status == FileStatus::ok && keep(*file)) files.push_back(file);
    return files;
}

}  // namespace

std::vector<uint64_t> StagePlan::removals() const {
    std::vector<uint64_t> ids = dropped;
    ids.insert(ids.end(), stale_failures.begin(), stale_failures.end());
    return ids;
}

bool has_embeddable_chunk(const std::vector<Chunk>& chunks) {
    return std::any_of(chunks.begin(), chunks.end(), [](const Chunk& chunk) { return chunk.flags == 0; });
}

StagePlan plan_chunking(const Catalog& catalog, const ChunkTable& chunks, bool retry_failed) {
    return plan_stage(ok_files(catalog, [](const FileRecord&) { return true; }), chunks, retry_failed,
                      [&](const FileRecord& file) { return chunks.has_file(file.file_id); });
}

StagePlan plan_embedding(const Catalog& catalog, const ChunkTable& chunks, const EmbeddingTable& embeddings,
                         bool retry_failed) {
    auto chunked = ok_files(catalog, [&](const FileRecord& file) { return chunks.has_file(file.file_id); });
    return plan_stage(chunked, embeddings, retry_failed, [&](const FileRecord& file) {
        return embeddings.has_file(file.file_id) || !has_embeddable_chunk(*chunks.chunks_of(file.file_id));
    });
}

CommitCadence::CommitCadence(double interval_seconds, size_t every_files)
    : interval_(interval_seconds), every_files_(every_files), last_(std::chrono::steady_clock::now()) {}

bool CommitCadence::due(size_t pending_files) const {
    if (pending_files == 0) return false;
    return (every_files_ > 0 && pending_files >= every_files_) || std::chrono::steady_clock::now() - last_ >= interval_;
}

void CommitCadence::committed() { last_ = std::chrono::steady_clock::now(); }

}  // namespace audiosim
