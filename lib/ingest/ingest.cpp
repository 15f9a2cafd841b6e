#include "ingest/ingest.hpp"

#include <algorithm>
#include <chrono>
#include <fcntl.h>
#include <memory>
#include <set>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "stage/stage.hpp"
#include "util/csv.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"
#include "util/ordered_pool.hpp"
#include "util/system.hpp"

namespace audiosim {

const char* change_kind_name(ChangeKind kind) {
    switch (kind) {
        case ChangeKind::added: return "added";
        case ChangeKind::changed: return "changed";
        case ChangeKind::touched: return "touched";
        case ChangeKind::metadata: return "metadata";
        case ChangeKind::failed: return "failed";
        case ChangeKind::vanished: return "vanished";
        case ChangeKind::removed: return "removed";
    }
    return "unknown";
}

nlohmann::json IngestSummary::to_json() const {
    return {{"scanned", scanned},          {"added", added},
            {"changed", changed},          {"touched", touched},
            {"unchanged", unchanged},      {"failed", failed},
            {"failed_by_status", failed_by_status},
            {"vanished", vanished},        {"removed", removed},
            {"duplicates", duplicates},    {"metadata_updated", metadata_updated},
            {"bytes_read", bytes_read},    {"audio_seconds_read", audio_seconds_read},
            {"library_files", library_files}, {"library_audio_seconds", library_audio_seconds},
            {"warnings_read", warnings_read}, {"library_estimated", library_estimated},
            {"elapsed_seconds", elapsed_seconds}, {"commits", commits},
            {"interrupted", interrupted}};
}

std::map<std::string, Metadata> read_metadata_csv(const std::string& csv_path, const std::string& library_root) {
    auto rows = parse_csv(read_text_file(csv_path), csv_path);
    if (rows.empty()) throw Error(ErrorKind::input, fmt::format("{}: empty metadata file", csv_path));
    const CsvRow& header = rows[0];
    auto path_column = std::find(header.begin(), header.end(), "path");
    if (path_column == header.end())
        throw Error(ErrorKind::input, fmt::format("{}: no 'path' column in the header", csv_path));
    size_t path_index = static_cast<size_t>(path_column - header.begin());
    check_unique_columns(header, csv_path);
    for (const auto& column : header)
        if (column.empty() || column.find('/') != std::string::npos || column == "." || column == "..")
            throw Error(ErrorKind::input, fmt::format("{}: column name '{}' is empty or has a '/'", csv_path, column));
    std::map<std::string, std::map<std::string, std::string>> columns_by_path;
    for (size_t row = 1; row < rows.size(); ++row) {
        const CsvRow& cells = rows[row];
        if (cells.size() != header.size())
            throw Error(ErrorKind::input, fmt::format("{}: row {} has {} fields, the header {}", csv_path, row + 1,
                                                      cells.size(), header.size()));
        const std::string& path = cells[path_index];
        std::string absolute = absolute_path(!path.empty() && path[0] == '/' ? path : join_path(library_root, path));
        std::string inside = relative_to(absolute, library_root);
        std::map<std::string, std::string>& entry = columns_by_path[inside.empty() ? absolute : inside];
        for (size_t i = 0; i < header.size(); ++i)
            if (i != path_index) entry[header[i]] = cells[i];  // a later row for the same file wins
    }
    std::map<std::string, Metadata> metadata;
    for (auto& [path, columns] : columns_by_path) metadata[path].assign(columns.begin(), columns.end());
    return metadata;
}

namespace {

// A file that needs reading: new, or its size or mtime changed, or its last try failed for a
// reason that may pass (unreadable, vanished).
struct Work {
    std::string absolute;
    std::string key;
    const FileRecord* previous = nullptr;
};

struct WorkResult {
    FileRecord record;
    bool same_content = false;  // hash equal to the previous record's: only the mtime moved
};

FileStatus status_for_errno(int error) { return error == ENOENT ? FileStatus::vanished : FileStatus::unreadable; }

WorkResult read_file(const Work& work, const ProbeOptions& probe_options) {
    WorkResult result;
    FileRecord& record = result.record;
    record.path = work.key;
    record.ingested_ns = now_unix_ns();
    // O_NONBLOCK: a file that became a FIFO since the scan must not block the open (a no-op on regular files).
    int fd = ::open(work.absolute.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        record.status = status_for_errno(errno);
        record.error = errno == ENOENT ? "vanished before it could be read" : std::strerror(errno);
        return result;
    }
    struct stat st;
    ::fstat(fd, &st);
    record.size = static_cast<uint64_t>(st.st_size);
    record.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        record.status = FileStatus::not_audio;
        record.error = not_a_regular_file(work.absolute);
        return result;
    }
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    uint64_t bytes = 0;
    if (!hash_stream(fd, record.hash, bytes)) {
        record.status = FileStatus::unreadable;
        record.error = std::string("read failed: ") + std::strerror(errno);
        ::close(fd);
        return result;
    }
    record.size = bytes;  // what we hashed, should the file have changed since fstat
    const FileRecord* previous = work.previous;
    if (previous && previous->status == FileStatus::ok && previous->hash == record.hash && previous->size == bytes) {
        int64_t mtime = record.mtime_ns;
        record = *previous;
        record.mtime_ns = mtime;
        result.same_content = true;
    } else if (bytes == 0) {
        record.status = FileStatus::empty;
        record.error = "empty file (0 bytes)";
    } else {
        ProbeResult probe = probe_audio(fd, probe_options);
        record.status = probe.status;
        record.error = probe.error;
        record.warning = probe.warning;
        record.audio = probe.info;
    }
    ::close(fd);
    return result;
}

bool worth_retrying(FileStatus status) { return status == FileStatus::unreadable || status == FileStatus::vanished; }

class Ingest {
public:
    Ingest(StoreWriter& store, const IngestOptions& options, const IngestEventCallback& on_event,
           const IngestProgressCallback& on_progress)
        : store_(store), options_(options), on_event_(on_event), on_progress_(on_progress),
          root_(store.manifest().library_root), cadence_(options.commit_interval_seconds, options.commit_every_files) {}

    IngestSummary run() {
        auto start = std::chrono::steady_clock::now();
        if (!options_.metadata_csv.empty()) metadata_ = read_metadata_csv(options_.metadata_csv, root_);
        ScanResult scan = scan_inputs(options_.inputs, options_.scan);
        report_scan_problems(scan);
        summary_.scanned = scan.files.size();

        std::vector<Work> work = plan(scan);
        const ProbeOptions probe_options{options_.verify, options_.strict};
        {
            OrderedPool<WorkResult> pool(work.size(), options_.threads,
                                         [&](size_t i) { return read_file(work[i], probe_options); }, options_.cancel);
            for (size_t i = 0; i < work.size() && !cancelled(); ++i) {
                std::optional<WorkResult> result = pool.take(i);
                if (!result) break;  // skipped: cancelled after the check
                apply(work[i], std::move(*result));
                progress_.done = scan.files.size() - work.size() + i + 1;
                if (on_progress_) on_progress_(progress_);
                maybe_commit();
            }
        }
        if (!cancelled()) {
            apply_metadata_to_unscanned();
            handle_vanished(scan);
        }
        summary_.interrupted = cancelled();
        commit();
        summarize_library();
        summary_.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        store_.finish_run("ingest", summary_.to_json());
        if (!summary_.interrupted) store_.compact_if_needed();
        return summary_;
    }

private:
    bool cancelled() const { return options_.cancel && options_.cancel->load(); }

    std::string key_for(const std::string& absolute) const {
        std::string inside = relative_to(absolute, root_);
        return inside.empty() ? absolute : inside;
    }

    std::string absolute_for(const std::string& key) const { return key[0] == '/' ? key : join_path(root_, key); }

    void report_scan_problems(const ScanResult& scan) {
        for (const auto& problem : scan.problems) {
            if (problem.vanished && store_.catalog().find(key_for(problem.path))) continue;  // see handle_vanished
            IngestEvent event{ChangeKind::failed, {}, {}};
            event.record.path = key_for(problem.path);
            event.record.status = problem.vanished  ? FileStatus::vanished
                                  : problem.special ? FileStatus::not_audio
                                                    : FileStatus::unreadable;
            event.record.error = problem.cause;
            count_failure(event.record.status);
            emit(event);
        }
    }

    std::vector<Work> plan(const ScanResult& scan) {
        std::vector<Work> work;
        const Catalog& catalog = store_.catalog();
        for (const auto& absolute : scan.files) {
            std::string key = key_for(absolute);
            seen_.insert(key);
            const FileRecord* previous = catalog.find(key);
            struct stat st;
            bool unchanged = previous && !worth_retrying(previous->status) && ::stat(absolute.c_str(), &st) == 0 &&
                             static_cast<uint64_t>(st.st_size) == previous->size &&
                             static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec == previous->mtime_ns;
            if (!unchanged) {
                work.push_back({absolute, key, previous});
                continue;
            }
            ++summary_.unchanged;
            FileRecord updated = *previous;
            if (take_metadata(updated) && updated.metadata != previous->metadata) {
                ++summary_.metadata_updated;
                stage(ChangeKind::metadata, std::move(updated), "");
            }
        }
        progress_.total = scan.files.size();
        progress_.done = scan.files.size() - work.size();
        return work;
    }

    // Sets the record's metadata from the CSV; false when the CSV has no row for it.
    bool take_metadata(FileRecord& record) {
        auto it = metadata_.find(record.path);
        if (it == metadata_.end()) return false;
        for (const auto& [column, value] : it->second) record.set_metadata(column, value);
        metadata_matched_.insert(record.path);
        return true;
    }

    void apply(const Work& work, WorkResult result) {
        FileRecord& record = result.record;
        summary_.bytes_read += record.size;
        progress_.bytes += record.size;
        const FileRecord* previous = work.previous;
        if (previous && !result.same_content) record.metadata = previous->metadata;
        take_metadata(record);
        ChangeKind kind;
        if (result.same_content) {
            kind = ChangeKind::touched;
            ++summary_.touched;
        } else {
            record.file_id = store_.allocate_file_id();
            if (record.status != FileStatus::ok) {
                kind = ChangeKind::failed;
                count_failure(record.status);
            } else if (previous) {
                kind = ChangeKind::changed;
                ++summary_.changed;
            } else {
                kind = ChangeKind::added;
                ++summary_.added;
            }
            if (record.status == FileStatus::ok) summary_.audio_seconds_read += record.audio.duration;
            if (!record.warning.empty()) ++summary_.warnings_read;
        }
        std::string duplicate_of;
        if (record.status == FileStatus::ok && kind != ChangeKind::touched) {
            duplicate_of = find_duplicate(record);
            if (!duplicate_of.empty()) ++summary_.duplicates;
            pending_by_hash_.emplace(record.hash, record.path);
        }
        stage(kind, std::move(record), duplicate_of);
    }

    std::string find_duplicate(const FileRecord& record) const {
        // Stored files staged again in this run (changed, failed) are compared as staged, not as stored.
        std::string best;
        for (const std::string& path : store_.catalog().ok_paths_with_hash(record.hash))
            if (path != record.path && !staged_paths_.count(path) && (best.empty() || path < best)) best = path;
        auto range = pending_by_hash_.equal_range(record.hash);
        for (auto it = range.first; it != range.second; ++it)
            if (it->second != record.path && (best.empty() || it->second < best)) best = it->second;
        return best;
    }

    void apply_metadata_to_unscanned() {
        // CSV rows for stored files this run did not scan still update those files.
        for (const auto& [path, columns] : metadata_) {
            if (metadata_matched_.count(path)) continue;
            const FileRecord* stored = store_.catalog().find(path);
            if (!stored) {
                summary_.warnings.push_back(fmt::format("{}: metadata row names no stored file: {}",
                                                        options_.metadata_csv, path));
                continue;
            }
            FileRecord updated = *stored;
            take_metadata(updated);
            if (updated.metadata == stored->metadata) continue;
            ++summary_.metadata_updated;
            stage(ChangeKind::metadata, std::move(updated), "");
        }
    }

    void handle_vanished(const ScanResult& scan) {
        std::unordered_set<std::string> named(scan.named_files.begin(), scan.named_files.end());
        for (const FileRecord* record : store_.catalog().records_sorted_by_path()) {
            if (seen_.count(record->path)) continue;
            std::string absolute = absolute_for(record->path);
            bool in_scope = named.count(absolute) > 0;
            for (const auto& folder : scan.folders) in_scope = in_scope || path_is_within(absolute, folder);
            struct stat st;
            if (!in_scope || ::lstat(absolute.c_str(), &st) == 0 || (errno != ENOENT && errno != ENOTDIR)) continue;
            IngestEvent event{options_.prune ? ChangeKind::removed : ChangeKind::vanished, *record, {}};
            if (options_.prune) {
                ++summary_.removed;
                pending_.removed_paths.push_back(record->path);
            } else {
                ++summary_.vanished;
            }
            emit(event);
        }
    }

    void count_failure(FileStatus status) {
        ++summary_.failed;
        ++summary_.failed_by_status[file_status_name(status)];
    }

    void stage(ChangeKind kind, FileRecord record, const std::string& duplicate_of) {
        staged_paths_.insert(record.path);
        IngestEvent event{kind, std::move(record), duplicate_of};
        emit(event);
        pending_.records.push_back(std::move(event.record));
    }

    void emit(const IngestEvent& event) {
        if (on_event_) on_event_(event);
    }

    void maybe_commit() {
        if (cadence_.due(pending_.records.size() + pending_.removed_paths.size())) commit();
    }

    void commit() {
        if (pending_.empty()) return;
        store_.commit(std::move(pending_));
        pending_ = {};
        pending_by_hash_.clear();  // now in the catalog
        staged_paths_.clear();
        ++summary_.commits;
        cadence_.committed();
    }

    void summarize_library() {
        store_.catalog().for_each([this](const FileRecord& record) {
            ++summary_.library_files;
            if (record.status != FileStatus::ok) return;
            summary_.library_audio_seconds += record.audio.duration;
            summary_.library_estimated += record.audio.frames_estimated;
        });
    }

    StoreWriter& store_;
    const IngestOptions& options_;
    const IngestEventCallback& on_event_;
    const IngestProgressCallback& on_progress_;
    std::string root_;
    IngestSummary summary_;
    IngestProgress progress_;
    std::map<std::string, Metadata> metadata_;
    std::set<std::string> metadata_matched_;
    std::unordered_set<std::string> seen_;
    CatalogDelta pending_;
    std::unordered_multimap<uint64_t, std::string> pending_by_hash_;
    std::unordered_set<std::string> staged_paths_;  // paths in pending_, uncommitted
    CommitCadence cadence_;
};

}  // namespace

IngestSummary ingest(StoreWriter& store, const IngestOptions& options, const IngestEventCallback& on_event,
                     const IngestProgressCallback& on_progress) {
    return Ingest(store, options, on_event, on_progress).run();
}

}  // namespace audiosim
