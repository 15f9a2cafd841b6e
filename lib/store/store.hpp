// A store is a folder: manifest.json (replaced atomically to commit), catalog/ (immutable HDF5
// segments), and a lock file for writers. Readers never lock: they read the manifest once and the
// immutable files it names, so a running writer cannot show them a half-written state.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/catalog.hpp"
#include "store/chunks.hpp"
#include "store/embeddings.hpp"
#include "util/lock.hpp"

namespace audiosim {

// What the manifest records of each file it names, so that a reader tells damage before HDF5 or
// hnswlib parses the bytes. Files committed before checksums existed have none (`recorded` false).
struct FileChecksum {
    uint64_t xxh3 = 0;
    uint64_t bytes = 0;
    bool recorded = false;
};

FileChecksum checksum_of(const std::string& path);  // Error(input) when it cannot be read

struct SegmentEntry {
    std::string file;  // relative to the store folder
    std::string kind;  // "base" or "delta"
    int64_t rows = 0;
    int64_t removed = 0;
    FileChecksum checksum;
};

struct RunEntry {
    int64_t generation = 0;
    std::string command;
    std::string command_line;
    std::string finished;  // UTC timestamp
    nlohmann::json summary;
};

// The chunks of one profile: its parameters, its segments (oldest first), the next chunk id.
struct ChunkSet {
    ChunkProfile profile;
    std::vector<SegmentEntry> segments;
    uint64_t next_chunk_id = 1;
};

// The embeddings of one chunk profile by one model: key "PROFILE/MODEL_ID".
struct EmbeddingSet {
    std::string model_id;
    std::string profile;
    int64_t dim = 0;
    nlohmann::json model;  // the model's sidecar
    std::vector<SegmentEntry> segments;
    std::string key() const { return profile + "/" + model_id; }
};

// A file derived from one embedding set: its search index (lib/index: a payload and its header)
// or its pairs (lib/pairs). Each write gets new names, so a reader holding an older manifest still
// finds complete files.
struct DerivedFile {
    std::string file;        // relative to the store folder: what readers open
    int64_t generation = 0;  // the store generation it was written for
    std::map<std::string, FileChecksum> files;  // every file it consists of (`file` and companions)
};

struct Manifest {
    int64_t generation = 0;  // +1 on every commit
    std::string writer;
    std::string command_line;
    std::string created;
    std::string updated;
    std::string library_root;
    uint64_t next_file_id = 1;
    std::vector<SegmentEntry> catalog;
    std::map<std::string, ChunkSet> chunk_sets;  // by profile name
    std::map<std::string, EmbeddingSet> embedding_sets;  // by key
    std::map<std::string, DerivedFile> indexes;  // by embedding set key
    std::map<std::string, DerivedFile> pairs;    // by embedding set key
    std::vector<RunEntry> runs;  // the most recent first, at most max_runs_kept
};

inline constexpr const char* store_format_name = "audiosim-store";
inline constexpr int64_t store_format_version = 1;
inline constexpr size_t max_runs_kept = 50;

nlohmann::json manifest_to_json(const Manifest& manifest);
// Error(input) when the folder holds no store; Error(format) when the manifest is missing while data
// files remain, or is unreadable, malformed or of a newer version.
Manifest read_store_manifest(const std::string& store_path);
Manifest manifest_from_json(const nlohmann::json& json, const std::string& source);

// Where the store is: the option, else $AUDIOSIM_STORE, else the nearest `.audiosim` folder in the
// current folder or its parents, else (std::nullopt) none. A folder that lost its manifest but
// holds data is found too: it is a damaged store, not a place for a new one.
std::optional<std::string> find_store(const std::string& option);

// Every file a manifest names (segments, derived files and their companions), relative to the store.
std::vector<std::string> files_named_by(const Manifest& manifest);
// The embedding set `key` of the manifest; Error(input) naming the sets there are when it has none.
const EmbeddingSet& stored_embedding_set(const Manifest& manifest, const std::string& key);
// The chunk profile `name` for a command that may chunk: the store's own when it has chunks of that
// name (a custom one made by `chunk --name`), else the preset. Error(usage) naming the presets and
// the stored profiles when it is neither.
ChunkProfile stored_or_preset_profile(const Manifest& manifest, const std::string& name);

// Throws Error(format) naming the file and what to do (`remedy`, default: run check --repair) when
// a file the manifest names is missing or its bytes differ from the recorded checksum. A file is
// hashed only when the store's verification cache (store_verified_name) does not already hold it
// with the same checksum, device, inode, size, mtime and ctime; a good result is added to it
// (written atomically, silently not on a read-only store). Writers add the files they write.
void verify_store_file(const std::string& store_path, const std::string& file, const FileChecksum& expected,
                       const std::string& remedy = "");

// The store folder's data files (segments, indexes, pairs), relative to it, whether or not a
// manifest names them; temporaries and the quarantine folder are left out.
std::vector<std::string> store_data_files(const std::string& store_path);

inline constexpr const char* store_manifest_name = "manifest.json";
inline constexpr const char* store_verified_name = "verified.json";  // the verification cache (docs/FORMAT.md)
inline constexpr const char* store_quarantine_folder = "damaged";  // where check --repair moves damaged files

class StoreReader {
public:
    // Error(input) when there is no store there; Error(format) when it is damaged (a manifest lost
    // or unreadable, see audiosim check).
    explicit StoreReader(std::string path);
    const std::string& path() const { return path_; }
    // The newest manifest read. A reload (after a writer compacted under us) adds a newer one;
    // references to older ones stay valid for the reader's life, so loops over one never dangle.
    const Manifest& manifest() const { return manifests_.back(); }
    Catalog load_catalog();  // reloads the manifest if a writer compacted under us
    ChunkTable load_chunks(const std::string& profile);  // Error(input) naming the profiles there are
    EmbeddingTable load_embeddings(const std::string& key, bool with_vectors = true);  // Error(input) naming the sets there are
    // Calls open(absolute payload path) for the index of set `key`, again with a newer manifest when
    // a writer replaced the index meanwhile. False (open not called) when the set has no index.
    bool open_index(const std::string& key, const std::function<void(const std::string& payload_path)>& open);
    bool open_pairs(const std::string& key, const std::function<void(const std::string& path)>& open);  // the same for pairs

private:
    template <typename Load> auto retrying(Load load);
    bool open_derived(const std::map<std::string, DerivedFile> Manifest::*files, const std::string& key,
                      const std::string& remedy, const std::function<void(const std::string& path)>& open);
    void load_manifest();
    std::string path_;
    std::deque<Manifest> manifests_;  // a deque: push_back keeps references to the older ones
};

// How a writer opens the store: only ingest creates one; check --repair opens one whose manifest
// may be lost or damaged, reading nothing until it installs a repaired manifest.
enum class StoreOpen { existing, create, repair };

struct WriterOptions {
    std::string command_line;
    std::string library_root;  // for a new store; empty = current folder. Checked against an existing one.
    double wait_seconds = 0;   // for the writer lock
    StoreOpen open = StoreOpen::existing;
};

class StoreWriter {
public:
    // Error(input) when there is no store and options.open is not create; Error(format) when the
    // store is damaged (the manifest lost while data files remain: never garbage-collected).
    StoreWriter(const std::string& path, const WriterOptions& options);
    StoreWriter(const StoreWriter&) = delete;
    StoreWriter& operator=(const StoreWriter&) = delete;

    const std::string& path() const { return path_; }
    const Manifest& manifest() const { return manifest_; }
    const Catalog& catalog() const { return catalog_; }
    uint64_t allocate_file_id() { return manifest_.next_file_id++; }

    // Writes `delta` as a new segment and commits a new manifest naming it. After a crash at any
    // point the store holds either the previous commit or this one.
    void commit(CatalogDelta delta);
    // Commits chunks of `profile` (ids are given to chunks that have none). A profile of the same
    // name but other parameters is refused with Error(usage): stored chunks never change meaning.
    void commit_chunks(const ChunkProfile& profile, ChunkDelta delta);
    void check_profile(const ChunkProfile& profile) const;  // the Error(usage) of commit_chunks, up front
    ChunkTable load_chunks(const std::string& profile) const;  // empty for a profile not stored yet
    // Commits vectors of a set (created on first use). Error(model) when the dimension changes.
    void commit_embeddings(const EmbeddingSet& set, EmbeddingDelta delta);
    EmbeddingTable load_embeddings(const std::string& key, bool with_vectors = true) const;  // empty for a set not stored yet
    // Writes a new index of set `key` (save(path, stamp) writes the payload `path` and its
    // companions, each atomically, and returns every path it wrote) and commits it in place of the
    // previous one.
    void commit_index(const std::string& key,
                      const std::function<std::vector<std::string>(const std::string& payload_path, const WriterStamp& stamp)>& save);
    // Writes new pairs of set `key` (write(path, stamp) writes the file) and commits them in place
    // of the previous ones.
    void commit_pairs(const std::string& key, const std::function<void(const std::string& path, const WriterStamp& stamp)>& write);
    // Records a finished run in the manifest (committed with the next commit, or on its own).
    void finish_run(const std::string& command, nlohmann::json summary);
    // Merges base and deltas into one base when the deltas have grown; removes unreferenced files.
    void compact_if_needed();
    // check --repair: commits `manifest` (checked and rebuilt by the caller) in place of whatever
    // the store held, then removes files it does not name (the quarantine folder is kept).
    void install_manifest(Manifest manifest);

private:
    using SegmentWriter = std::function<void(const std::string& temporary_path, const WriterStamp& stamp)>;
    SegmentEntry write_segment(const std::string& folder, const std::string& kind, int64_t rows, int64_t removed,
                               const SegmentWriter& write);
    void write_manifest();
    void throw_if_data_without_manifest() const;
    WriterStamp stamp_for(int64_t generation) const;
    void commit_derived(std::map<std::string, DerivedFile>& files, const std::string& key, const std::string& file,
                        const std::function<std::vector<std::string>(const std::string& path)>& write);
    void remove_unreferenced_files();
    std::string path_;
    WriterOptions options_;
    std::unique_ptr<WriterLock> lock_;
    Manifest manifest_;
    Catalog catalog_;
};

}  // namespace audiosim
