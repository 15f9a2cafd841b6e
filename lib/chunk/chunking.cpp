#include "chunk/chunking.hpp"

#include <chrono>
#include <set>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/ordered_pool.hpp"

namespace audiosim {

std::string library_path(const std::string& library_root, const std::string& catalog_path) {
    return !catalog_path.empty() && catalog_path[0] == '/' ? catalog_path : join_path(library_root, catalog_path);
}

nlohmann::json ChunkSummary::to_json() const {
    return {{"files_chunked", files_chunked}, {"files_up_to_date", files_up_to_date}, {"files_failed", files_failed},
            {"files_failed_before", files_failed_before}, {"files_dropped", files_dropped}, {"chunks", chunks},                     {"flagged", flagged},
            {"audio_seconds", audio_seconds}, {"elapsed_seconds", elapsed_seconds},   {"commits", commits},
            {"interrupted", interrupted}};
}

namespace {

using Clock = std::chrono::steady_clock;

ChunkedFile chunk_one(const FileRecord* file, const std::string& root, const ChunkProfile& profile) {
    ChunkedFile result;
    result.file = file;
    std::string path = library_path(root, file->path);
    try {
        result.chunks = chunk_file(path, profile);
        for (Chunk& chunk : result.chunks) chunk.file_id = file->file_id;
    } catch (const Error& error) {
        result.error = cause_of(error.what(), path);
    }
    return result;
}

}  // namespace

ChunkSummary chunk_files(StoreWriter& store, const ChunkRunOptions& options,
                         const std::function<void(const ChunkedFile&)>& on_file,
                         const std::function<void(size_t done, size_t total)>& on_progress) {
    options.profile.validate();
    store.check_profile(options.profile);
    auto start = Clock::now();
    ChunkSummary summary;
    ChunkTable table = store.load_chunks(options.profile.name);

    std::vector<const FileRecord*> todo;
    std::set<uint64_t> live;
    for (const FileRecord* file : store.catalog().records_sorted_by_path()) {
        if (file->status != FileStatus::ok) continue;
        live.insert(file->file_id);
        if (table.has_file(file->file_id)) ++summary.files_up_to_date;
        else if (table.failed().count(file->file_id) && !options.retry_failed) ++summary.files_failed_before;
        else todo.push_back(file);
    }
    ChunkDelta pending;
    for (const auto& entry : table.by_file())
        if (!live.count(entry.first)) pending.dropped_file_ids.push_back(entry.first);
    summary.files_dropped = pending.dropped_file_ids.size();
    for (const auto& entry : table.failed())  // failures of files changed or gone: forgotten
        if (!live.count(entry.first)) pending.dropped_file_ids.push_back(entry.first);

    auto last_commit = Clock::now();
    size_t pending_files = 0;
    auto commit = [&] {
        if (pending.empty()) return;
        store.commit_chunks(options.profile, std::move(pending));
        pending = {};
        pending_files = 0;
        ++summary.commits;
        last_commit = Clock::now();
    };
    const std::string& root = store.manifest().library_root;
    {
        OrderedPool<ChunkedFile> pool(todo.size(), options.threads,
                                      [&](size_t i) { return chunk_one(todo[i], root, options.profile); }, options.cancel);
        for (size_t i = 0; i < todo.size() && !(options.cancel && options.cancel->load()); ++i) {
            std::optional<ChunkedFile> result = pool.take(i);
            if (!result) break;
            if (on_file) on_file(*result);
            if (!result->error.empty()) {
                ++summary.files_failed;
                pending.failed.push_back({result->file->file_id, result->error});
            } else {
                ++summary.files_chunked;
                ++pending_files;
                for (const Chunk& chunk : result->chunks) {
                    ++summary.chunks;
                    summary.audio_seconds += chunk.duration;
                    if (chunk.flags) ++summary.flagged[chunk_flag_names(chunk.flags)];
                }
                pending.chunks.insert(pending.chunks.end(), result->chunks.begin(), result->chunks.end());
            }
            if (on_progress) on_progress(i + 1, todo.size());
            bool by_count = options.commit_every_files > 0 && pending_files >= options.commit_every_files;
            bool by_time = Clock::now() - last_commit >= std::chrono::duration<double>(options.commit_interval_seconds);
            if (by_count || by_time) commit();
        }
    }
    summary.interrupted = options.cancel && options.cancel->load();
    commit();
    summary.elapsed_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    store.finish_run("chunk", summary.to_json());
    if (!summary.interrupted) store.compact_if_needed();
    return summary;
}

}  // namespace audiosim
