#include "stage/chunking.hpp"

#include <chrono>

#include "stage/stage.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/ordered_pool.hpp"

namespace audiosim {

nlohmann::json ChunkSummary::to_json() const {
    return {{"files_chunked", files_chunked}, {"files_up_to_date", files_up_to_date}, {"files_failed", files_failed},
            {"files_failed_before", files_failed_before}, {"files_dropped", files_dropped}, {"chunks", chunks},
            {"flagged", flagged}, {"audio_seconds", audio_seconds}, {"elapsed_seconds", elapsed_seconds},
            {"commits", commits}, {"interrupted", interrupted}};
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

    StagePlan plan = plan_chunking(store.catalog(), table, options.retry_failed);
    const std::vector<const FileRecord*>& todo = plan.todo;
    summary.files_up_to_date = plan.up_to_date.size();
    summary.files_failed_before = plan.failed_before;
    summary.files_dropped = plan.dropped.size();
    ChunkDelta pending;
    pending.dropped_file_ids = plan.removals();

    CommitCadence cadence(options.commit_interval_seconds, options.commit_every_files);
    size_t pending_files = 0;
    auto commit = [&] {
        if (pending.empty()) return;
        store.commit_chunks(options.profile, std::move(pending));
        pending = {};
        pending_files = 0;
        ++summary.commits;
        cadence.committed();
    };
    const std::string& root = store.manifest().library_root;
    if (on_progress && !todo.empty()) on_progress(0, todo.size());
    {
        OrderedPool<ChunkedFile> pool(todo.size(), options.threads,
                                      [&](size_t i) { return chunk_one(todo[i], root, options.profile); }, options.cancel);
        for (size_t i = 0; i < todo.size() && !(options.cancel && options.cancel->load()); ++i) {
            std::optional<ChunkedFile> result = pool.take(i);
            if (!result) break;
            if (on_file) on_file(*result);
            ++pending_files;
            if (!result->error.empty()) {
                ++summary.files_failed;
                pending.failed.push_back({result->file->file_id, result->error});
            } else {
                ++summary.files_chunked;
                for (const Chunk& chunk : result->chunks) {
                    ++summary.chunks;
                    summary.audio_seconds += chunk.duration;
                    if (chunk.flags) ++summary.flagged[chunk_flag_names(chunk.flags)];
                }
                pending.chunks.insert(pending.chunks.end(), result->chunks.begin(), result->chunks.end());
            }
            if (on_progress) on_progress(i + 1, todo.size());
            if (cadence.due(pending_files)) commit();
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
