// Embeddings of one chunk profile by one model (keyed by model id): immutable HDF5 segments with
// a float32 matrix per segment (docs/FORMAT.md), merged in memory per file id.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "store/catalog.hpp"
#include "store/failures.hpp"

namespace audiosim {

// What one embedding segment holds: vectors of the chunks of some files (replacing earlier vectors
// of those files), file ids whose vectors are dropped, and files that could not be embedded
// (decoding or resampling failed).
struct EmbeddingDelta {
    size_t dim = 0;
    std::vector<uint64_t> chunk_ids;
    std::vector<uint64_t> file_ids;  // the file of each chunk
    std::vector<float> vectors;      // chunk_ids.size() x dim, L2-normalized
    std::vector<uint64_t> dropped_file_ids;
    std::vector<FileFailure> failed = {};  // "= {}": brace initializations that leave it out raise no -Wmissing-field-initializers
    bool empty() const { return chunk_ids.empty() && dropped_file_ids.empty() && failed.empty(); }
};

struct FileVectors {
    std::vector<uint64_t> chunk_ids;
    std::vector<float> vectors;  // chunk_ids.size() x dim
};

class EmbeddingTable {
public:
    explicit EmbeddingTable(size_t dim = 0) : dim_(dim) {}
    void apply(EmbeddingDelta delta);  // a delta read without vectors gives a table of ids alone
    bool has_file(uint64_t file_id) const { return by_file_.count(file_id) > 0; }
    const std::map<uint64_t, FileVectors>& by_file() const { return by_file_; }
    const FailureMap& failed() const { return failed_; }  // files whose last embedding failed
    size_t dim() const { return dim_; }
    size_t vector_count() const;
    // Every chunk id, sorted / every vector as one matrix (ids in file order, vectors ids.size() x dim).
    std::vector<uint64_t> chunk_ids() const;
    void flatten(std::vector<uint64_t>& ids, std::vector<float>& vectors) const;

private:
    size_t dim_;
    std::map<uint64_t, FileVectors> by_file_;
    FailureMap failed_;
};

// A file's vector for file-level scores (eval, pairs): the L2-normalized mean of its chunk vectors,
// into `out` (dim floats). False when the file has no chunk vectors. A mean of zero length (or a
// non-finite one) stays zero: it scores 0 against all. Error(format) for a table of the wrong size.
bool mean_file_vector(const FileVectors& file, size_t dim, float* out);

// File-level fusion of several embedding sets (eval and classify with --fuse): for every file with
// a vector in each set, the concatenation of its file vectors (mean_file_vector), set m's scaled by
// sqrt(weight_m / the sum of the weights), as one chunk whose id is the file id. Fused vectors are
// unit vectors, and the cosine of two is the weighted mean of the sets' cosines. Files without a
// vector in some set have none. Error(usage) for a weight that is not positive.
struct WeightedTable {
    const EmbeddingTable* table = nullptr;
    double weight = 1;
};
EmbeddingTable fuse_file_vectors(const std::vector<WeightedTable>& sets);

// Error(format) naming the file and the chunk when a vector is not finite or not of unit length
// (zero-length vectors are allowed: they score 0 against all).
void check_vectors_normalized(const std::string& path, const EmbeddingDelta& delta);

inline constexpr const char* embeddings_format_name = "audiosim-embeddings";
inline constexpr int64_t embeddings_format_version = 1;

// What stamps an embedding segment besides the common attributes.
struct EmbeddingSetInfo {
    std::string model_id;
    std::string profile;
    std::string model_json;  // the model's sidecar, as read
};

void write_embedding_segment(const std::string& path, const EmbeddingSetInfo& info, const EmbeddingDelta& delta,
                             const WriterStamp& stamp);
// Without vectors, only the ids are read (status counts files without loading every vector).
EmbeddingDelta read_embedding_segment(const std::string& path, bool with_vectors = true);

}  // namespace audiosim
