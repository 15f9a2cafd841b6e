// audiosim status: what the store holds (files, formats, duplicates, stages, models) and the errors.
#include <iostream>
#include <map>
#include <set>

#include "commands.hpp"
#include "stage/stage.hpp"
#include "index/store_index.hpp"
#include "report/table.hpp"
#include "store/store.hpp"
#include "util/error.hpp"

namespace audiosim::cli {
namespace {

struct StatusOptions {
    bool errors = false;
};

// A failed file: ingest's status, or chunk_failed / embed_failed for a file that a later stage
// could not process (recorded in that stage's segments).
struct ErrorRow {
    std::string path;
    std::string status;
    std::string error;
    std::string set;  // for a stage: the profile, or the embedding set's key
};

struct StoreFacts {
    size_t files = 0, ok = 0, failed = 0;
    double audio_seconds = 0;
    uint64_t bytes = 0;
    std::map<std::string, size_t> containers;
    std::map<std::string, size_t> failed_by_status;
    size_t duplicate_groups = 0, duplicate_files = 0;
    size_t estimated = 0;  // ok files whose duration is an estimate
    std::vector<ErrorRow> errors;
    std::vector<const FileRecord*> warnings;  // ok files with a warning
};

StoreFacts gather(const Catalog& catalog) {
    StoreFacts facts;
    std::map<uint64_t, size_t> copies_by_hash;
    for (const FileRecord* record : catalog.records_sorted_by_path()) {
        ++facts.files;
        facts.bytes += record->size;
        if (record->status == FileStatus::ok) {
            ++facts.ok;
            facts.audio_seconds += record->audio.duration;
            ++facts.containers[record->audio.container];
            ++copies_by_hash[record->hash];
            facts.estimated += record->audio.frames_estimated;
            if (!record->warning.empty()) facts.warnings.push_back(record);
        } else {
            ++facts.failed;
            ++facts.failed_by_status[file_status_name(record->status)];
            facts.errors.push_back({record->path, file_status_name(record->status), record->error, ""});
        }
    }
    for (const auto& [hash, copies] : copies_by_hash)
        if (copies > 1) {
            ++facts.duplicate_groups;
            facts.duplicate_files += copies;
        }
    return facts;
}

nlohmann::json index_json(const IndexStatus& status) {
    nlohmann::json json = {{"state", index_state_name(status.state)}, {"set_vectors", status.set_vectors}};
    if (status.state == IndexState::missing) return json;
    json["file"] = status.file;
    if (status.state == IndexState::unreadable) {
        json["error"] = status.error;
        return json;
    }
    const IndexHeader& h = status.header;
    json["vectors"] = h.count;
    json["deleted"] = h.deleted;
    json["labels"] = status.labels_current ? "current" : "stale";
    json["params"] = {{"M", h.params.M}, {"ef_construction", h.params.ef_construction}, {"ef_search", h.params.ef_search}};
    return json;
}

std::string index_text(const nlohmann::json& index) {
    std::string state = index["state"].get<std::string>();
    if (state == "missing") return "missing (audiosim index builds it)";
    if (state == "unreadable") return fmt::format("unreadable: {} (audiosim index rebuilds it)", index["error"].get<std::string>());
    std::string text = fmt::format("{}; {} vectors", state, index["vectors"].get<size_t>());
    if (index["deleted"].get<size_t>() > 0) text += fmt::format(" (+{} deleted)", index["deleted"].get<size_t>());
    text += fmt::format(", M {}, ef {}", index["params"]["M"].get<size_t>(), index["params"]["ef_search"].get<size_t>());
    if (state == "stale")
        text += fmt::format("; the set has {} vectors now (audiosim index updates it; queries search the difference exactly)",
                            index["set_vectors"].get<size_t>());
    else if (index["labels"] == "stale")
        text += "; its labels predate the store's last change (queries read the store's tables until audiosim index)";
    return text;
}

// Per stage: each chunk profile, and each model's embeddings of it, against the files there are;
// the files a stage failed on into `errors`.
nlohmann::json stages_json(StoreReader& store, const Catalog& catalog, std::vector<ErrorRow>& errors) {
    std::map<uint64_t, const FileRecord*> by_id;
    catalog.for_each([&](const FileRecord& record) {
        if (record.status == FileStatus::ok) by_id[record.file_id] = &record;
    });
    // The failures of live files, into `errors`; returns how many.
    auto add_failures = [&](const FailureMap& failed, const char* status, const std::string& set) {
        size_t count = 0;
        for (const auto& [file_id, error] : failed)
            if (auto it = by_id.find(file_id); it != by_id.end()) {
                errors.push_back({it->second->path, status, error, set});
                ++count;
            }
        return count;
    };
    // What chunk and embed would do now, by the rules they run by (lib/stage).
    constexpr bool retry_failed = false;
    nlohmann::json chunk_sets = nlohmann::json::object();
    std::map<std::string, ChunkTable> tables;
    std::map<std::string, size_t> files_to_chunk;
    for (const auto& [name, set] : store.manifest().chunk_sets) {
        const ChunkTable& table = tables[name] = store.load_chunks(name);
        size_t failed = add_failures(table.failed(), "chunk_failed", name);
        StagePlan plan = plan_chunking(catalog, table, retry_failed);
        size_t chunks = 0, flagged = 0;
        for (const FileRecord* file : plan.up_to_date)
            for (const Chunk& chunk : *table.chunks_of(file->file_id)) {
                ++chunks;
                flagged += chunk.flags != 0;
            }
        files_to_chunk[name] = plan.todo.size();
        chunk_sets[name] = {{"profile", set.profile.to_json()}, {"files", plan.up_to_date.size()}, {"files_failed", failed},
                            {"files_to_chunk", plan.todo.size()}, {"chunks", chunks}, {"chunks_flagged", flagged}};
    }
    nlohmann::json embedding_sets = nlohmann::json::object();
    nlohmann::json indexes = nlohmann::json::object();
    for (const auto& [key, set] : store.manifest().embedding_sets) {
        EmbeddingTable table = store.load_embeddings(key, /*with_vectors=*/false);
        size_t failed = add_failures(table.failed(), "embed_failed", key);
        size_t files = 0, vectors = 0;
        for (const auto& [file_id, file_vectors] : table.by_file())
            if (by_id.count(file_id)) {
                ++files;
                vectors += file_vectors.chunk_ids.size();
            }
        // Files not chunked yet are chunked by embed first, then embedded.
        size_t to_embed = plan_embedding(catalog, tables[set.profile], table, retry_failed).todo.size() +
                          (files_to_chunk.count(set.profile) ? files_to_chunk[set.profile] : by_id.size());
        embedding_sets[key] = {{"model_id", set.model_id}, {"profile", set.profile}, {"dim", set.dim},
                               {"files", files}, {"files_failed", failed}, {"files_to_embed", to_embed}, {"vectors", vectors}};
        indexes[key] = index_json(index_status(store.path(), store.manifest(), key, table));
    }
    return {{"chunk", chunk_sets}, {"embed", embedding_sets}, {"index", indexes}};
}

nlohmann::json status_json(const StoreReader& store, const StoreFacts& facts, const nlohmann::json& stages) {
    const Manifest& m = store.manifest();
    nlohmann::json errors = nlohmann::json::array();
    for (const ErrorRow& e : facts.errors) {
        errors.push_back({{"path", e.path}, {"status", e.status}, {"error", e.error}});
        if (!e.set.empty()) errors.back()["set"] = e.set;
    }
    nlohmann::json warnings = nlohmann::json::array();
    for (const FileRecord* r : facts.warnings) warnings.push_back({{"path", r->path}, {"warning", r->warning}});
    return {{"store", store.path()},
            {"format_version", store_format_version},
            {"generation", m.generation},
            {"writer", m.writer},
            {"updated", m.updated},
            {"library_root", m.library_root},
            {"files", {{"total", facts.files}, {"ok", facts.ok}, {"failed", facts.failed},
                       {"failed_by_status", facts.failed_by_status}, {"bytes", facts.bytes},
                       {"audio_seconds", facts.audio_seconds}, {"durations_estimated", facts.estimated},
                       {"with_warnings", facts.warnings.size()}, {"containers", facts.containers},
                       {"duplicate_groups", facts.duplicate_groups}, {"duplicate_files", facts.duplicate_files}}},
            {"stages", stages},
            {"last_run", m.runs.empty() ? nlohmann::json() : nlohmann::json{{"command", m.runs.front().command},
                                                                            {"finished", m.runs.front().finished},
                                                                            {"summary", m.runs.front().summary}}},
            {"errors", errors},
            {"warnings", warnings}};
}

// A heading with the count, then the first 20 lines (all with `all`).
template <typename T, typename Line>
void print_list(const char* heading, const std::vector<T>& items, bool all, Line line) {
    if (items.empty()) return;
    std::cout << fmt::format(fmt::runtime(heading), items.size());
    size_t count = all ? items.size() : std::min<size_t>(20, items.size());
    for (size_t i = 0; i < count; ++i) std::cout << line(items[i]);
    if (count < items.size()) std::cout << fmt::format("  ... {} more (audiosim status --errors)\n", items.size() - count);
}

void print_text(const StoreReader& store, const StoreFacts& facts, const nlohmann::json& stages, bool all_errors) {
    const Manifest& m = store.manifest();
    std::string containers;
    for (const auto& [name, count] : facts.containers) containers += fmt::format("{}{} {}", containers.empty() ? "" : ", ", name, count);
    std::string failed;
    for (const auto& [name, count] : facts.failed_by_status) failed += fmt::format(", {} {}", count, name);
    std::cout << fmt::format("store       {} (generation {}, updated {} by {})\n", store.path(), m.generation, m.updated, m.writer)
              << fmt::format("library     {}\n", m.library_root)
              << fmt::format("files       {} ({} ok, {} failed{}), {} of audio{}, {}\n", facts.files, facts.ok,
                             facts.failed, failed, human_duration(facts.audio_seconds),
                             facts.estimated ? fmt::format(" ({} MP3 durations estimated)", facts.estimated) : "",
                             human_bytes(static_cast<double>(facts.bytes)))
              << fmt::format("formats     {}\n", containers.empty() ? "-" : containers)
              << fmt::format("duplicates  {} groups of identical files ({} files)\n", facts.duplicate_groups, facts.duplicate_files)
;
    if (stages["chunk"].empty()) std::cout << "chunks      none yet (audiosim chunk)\n";
    for (const auto& [name, set] : stages["chunk"].items())
        std::cout << fmt::format("chunks      {}: {} chunks of {} files ({} flagged); {} failed; {} files to chunk\n", name,
                                 set["chunks"].get<size_t>(), set["files"].get<size_t>(), set["chunks_flagged"].get<size_t>(),
                                 set["files_failed"].get<size_t>(), set["files_to_chunk"].get<size_t>());
    if (stages["embed"].empty()) std::cout << "embeddings  none yet (audiosim embed)\n";
    for (const auto& [key, set] : stages["embed"].items())
        std::cout << fmt::format("embeddings  {}: {} vectors (dim {}) of {} files; {} failed; {} files to embed\n", key,
                                 set["vectors"].get<size_t>(), set["dim"].get<int64_t>(), set["files"].get<size_t>(),
                                 set["files_failed"].get<size_t>(), set["files_to_embed"].get<size_t>());
    for (const auto& [key, index] : stages["index"].items())
        std::cout << fmt::format("index       {}: {}\n", key, index_text(index));
    if (!m.runs.empty())
        std::cout << fmt::format("last run    {} at {}\n", m.runs.front().command, m.runs.front().finished);
    print_list("errors      {}\n", facts.errors, all_errors, [](const ErrorRow& e) {
        return fmt::format("  {:<12}  {}: {}{}\n", e.status, tsv_escape(e.path), e.error, e.set.empty() ? "" : " (" + e.set + ")");
    });
    print_list("warnings    {} (read, with a warning)\n", facts.warnings, all_errors, [](const FileRecord* r) {
        return fmt::format("  {}: {}\n", tsv_escape(r->path), r->warning);
    });
}

int run_status(const StatusOptions& options, const GlobalOptions& global) {
    StoreReader store = open_store_reader(global);
    Catalog catalog = store.load_catalog();
    StoreFacts facts = gather(catalog);  // points into catalog
    nlohmann::json stages = stages_json(store, catalog, facts.errors);
    std::string format = global.format.empty() ? "text" : global.format;
    if (format == "text") {
        print_text(store, facts, stages, options.errors);
    } else if (format == "json") {
        std::cout << status_json(store, facts, stages).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    } else {
        // Tabular formats list the failed files: one row each.
        TableWriter table(std::cout, parse_table_format(format), {"path", "status", "error"});
        for (const ErrorRow& e : facts.errors) table.row({e.path, e.status, e.error});
    }
    return exit_ok;
}

}  // namespace

Runner setup_status(CLI::App& app) {
    auto options = std::make_shared<StatusOptions>();
    app.add_flag("--errors", options->errors, "List every failed file (and every warning), not only the first 20");
    return [options](const GlobalOptions& global) { return run_status(*options, global); };
}

}  // namespace audiosim::cli
