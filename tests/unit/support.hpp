// Shared by the unit tests: a fresh temporary folder per test, kept when the test fails.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "chunk/profile.hpp"
#include "index/exact_search.hpp"
#include "store/store.hpp"
#include "util/error.hpp"

namespace audiosim::test {

class TempFolder {
public:
    TempFolder();
    ~TempFolder();  // removes the folder unless a check in the test failed
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

void write_bytes(const std::string& path, const std::string& bytes);

// The names in a folder, sorted.
std::vector<std::string> sorted_entries(const std::string& folder);

// Writes interleaved float samples through libsndfile: `format` is an SF_FORMAT_* combination.
void write_samples(const std::string& path, int format, int sample_rate, int channels, const std::vector<float>& samples);

// A sine at half scale on every channel, through write_samples.
void write_sine(const std::string& path, int format, int sample_rate, int channels, long frames,
                double frequency = 440.0);

// Runs `f` and returns the kind and message of the audiosim::Error it throws; fails the test if none.
std::pair<ErrorKind, std::string> error_of(const std::function<void()>& f);

bool contains(const std::string& text, const std::string& part);

// True when `number` appears in `text` as a whole number (not as part of a longer one).
bool has_number(const std::string& text, const std::string& number);

// Sets a file's modification time (seconds since the epoch); fails the test if it cannot.
void set_mtime(const std::string& path, int64_t seconds);

// Overwrites an int64 attribute at the root of an HDF5 file (to fake another format version).
void set_root_int_attribute(const std::string& path, const char* name, int64_t value);
// Removes groups or datasets (paths inside the file) from an HDF5 file: a segment as an older
// audiosim wrote it, before they existed.
void remove_h5_links(const std::string& path, const std::vector<std::string>& names);

// Changes the current folder for one test and restores it afterwards.
class CurrentFolder {
public:
    explicit CurrentFolder(const std::string& folder);
    ~CurrentFolder();
    CurrentFolder(const CurrentFolder&) = delete;
    CurrentFolder& operator=(const CurrentFolder&) = delete;

private:
    std::filesystem::path saved_;
};

// Embedding-like rows for the search tests: ids.size() x dim floats, row-major.
struct UnitVectors {
    size_t dim = 0;
    std::vector<uint64_t> ids;
    std::vector<float> vectors;
};

// Random unit vectors with sparse ids above 32 bits in shuffled order (id order is not row order).
UnitVectors random_unit_vectors(size_t n, size_t dim, uint64_t seed);

// 18 rows of dim 4 with entries +-0.5, so every dot product is exact whatever the summation
// order: ids 10, 20, .. 90 hold the tie query itself (similarity 1), ids 11, 21, .. 91 a vector
// orthogonal to it (similarity 0), in descending id order, so that only the tie rule orders them.
UnitVectors tied_unit_vectors();

// Checks that `search`, made from tied_unit_vectors(), orders the tie query's equal similarities
// by id, also where k cuts through them, and returns every row for k past the end.
void check_tie_order(const ExactSearch& search);

// A library folder and a store beside it; the library is the store's root.
struct TestLibrary {
    static constexpr int64_t default_mtime = 1600000000;
    TempFolder folder;
    std::string root = folder.file("lib");
    std::string store = folder.file("store");

    TestLibrary();
    std::string file(const std::string& relative) const { return root + "/" + relative; }
    // A tone at 8 kHz (`frames` long); `frequency` makes the content differ.
    void add_wav(const std::string& relative, double frequency, int64_t mtime = default_mtime, long frames = 800) const;
    WriterOptions writer_options() const;
};

// A store of synthetic files for the index and query tests: catalog records (no audio behind
// them), chunks of profile "sample" (2 s windows, 1 s apart) and one embedding set,
// "sample/test-model@1", whose vectors lie in clusters: each file has a point of its own near its
// cluster's center (similarity about 0.9 to the others of the cluster) and its chunks lie near
// that point (about 0.97 to each other). With `paired`, cluster 2k+1 lies near cluster 2k
// (similarity about 0.7); other clusters are unrelated (about 0).
class SyntheticStore {
public:
    struct File {
        std::string path;
        size_t cluster = 0;
        size_t chunks = 4;
        std::vector<std::pair<std::string, std::string>> metadata = {};
    };

    explicit SyntheticStore(size_t dim = 64, size_t clusters = 20, bool paired = false, uint64_t seed = 7);
    StoreWriter& writer() { return writer_; }
    const std::string& store() const { return store_; }
    const std::string& root() const { return root_; }
    const std::string& key() const { return key_; }
    size_t dim() const { return dim_; }
    // Commits the files to the catalog, the chunks and the embeddings (three commits) and returns
    // their file ids, in order.
    std::vector<uint64_t> add(const std::vector<File>& files);
    // Commits a file to the catalog alone (nothing chunked or embedded from it yet): a store
    // change that leaves the embedding set as it was. Returns its file id.
    uint64_t add_unchunked(const std::string& path);
    // Drops files from the catalog, the chunks and the embeddings.
    void remove(const std::vector<std::string>& paths);
    // The vectors committed for a file (chunks() x dim), and its chunk ids.
    const std::vector<float>& vectors(uint64_t file_id) const { return vectors_.at(file_id); }
    const std::vector<uint64_t>& chunk_ids(uint64_t file_id) const { return chunk_ids_.at(file_id); }
    uint64_t file_id(const std::string& path) const;
    // A unit vector near the center of `cluster` (as a new file's chunk would be).
    std::vector<float> near_center(size_t cluster);

private:
    TempFolder folder_;
    std::string root_, store_;
    size_t dim_;
    std::string key_;
    ChunkProfile profile_;
    EmbeddingSet set_;
    StoreWriter writer_;
    std::vector<std::vector<float>> centers_;
    std::mt19937_64 random_;
    uint64_t next_hash_ = 1;
    std::map<uint64_t, std::vector<float>> vectors_;
    std::map<uint64_t, std::vector<uint64_t>> chunk_ids_;
};

}  // namespace audiosim::test
