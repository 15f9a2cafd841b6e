#include "store/embeddings.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "store/h5.hpp"
#include "store/stamp.hpp"
#include "util/error.hpp"

namespace audiosim {

void EmbeddingTable::apply(EmbeddingDelta delta) {
    if (dim_ == 0) dim_ = delta.dim;
    if (!delta.chunk_ids.empty() && delta.dim != dim_)
        throw Error(ErrorKind::format, fmt::format("embedding dimension {} where the set has {}", delta.dim, dim_));
    for (uint64_t file_id : delta.dropped_file_ids) {
        by_file_.erase(file_id);
        failed_.erase(file_id);
    }
    std::map<uint64_t, FileVectors> fresh;
    for (size_t i = 0; i < delta.chunk_ids.size(); ++i) {
        FileVectors& entry = fresh[delta.file_ids[i]];
        entry.chunk_ids.push_back(delta.chunk_ids[i]);
        if (delta.vectors.empty()) continue;  // read without vectors
        entry.vectors.insert(entry.vectors.end(), delta.vectors.begin() + static_cast<std::ptrdiff_t>(i * dim_),
                             delta.vectors.begin() + static_cast<std::ptrdiff_t>((i + 1) * dim_));
    }
    apply_failures(delta.failed, fresh, failed_, by_file_);
    for (auto& [file_id, vectors] : fresh) by_file_[file_id] = std::move(vectors);
}

size_t EmbeddingTable::vector_count() const {
    size_t count = 0;
    for (const auto& entry : by_file_) count += entry.second.chunk_ids.size();
    return count;
}

std::vector<uint64_t> EmbeddingTable::chunk_ids() const {
    std::vector<uint64_t> ids;
    ids.reserve(vector_count());
    for (const auto& entry : by_file_) ids.insert(ids.end(), entry.second.chunk_ids.begin(), entry.second.chunk_ids.end());
    std::sort(ids.begin(), ids.end());
    return ids;
}

void EmbeddingTable::flatten(std::vector<uint64_t>& ids, std::vector<float>& vectors) const {
    ids.clear();
    vectors.clear();
    ids.reserve(vector_count());
    vectors.reserve(vector_count() * dim_);
    for (const auto& entry : by_file_) {
        ids.insert(ids.end(), entry.second.chunk_ids.begin(), entry.second.chunk_ids.end());
        vectors.insert(vectors.end(), entry.second.vectors.begin(), entry.second.vectors.end());
    }
}

// The L2-normalized mean of a file's chunk vectors into `out` (dim floats). False when the file has
// no chunk vectors. A mean of zero length (or a non-finite one) stays zero: it scores 0 against all.
bool mean_file_vector(const FileVectors& file, size_t dim, float* out) {
    size_t chunks = file.chunk_ids.size();
    if (chunks == 0 || dim == 0) return false;
    if (file.vectors.size() != chunks * dim)
        throw Error(ErrorKind::format, fmt::format("embedding table holds {} floats for {} chunks of dimension {}",
                                                   file.vectors.size(), chunks, dim));
    std::vector<double> sum(dim, 0.0);
    for (size_t c = 0; c < chunks; ++c)
        for (size_t d = 0; d < dim; ++d) sum[d] += static_cast<double>(file.vectors[c * dim + d]);
    double norm = 0;
    for (double v : sum) norm += v * v;
    norm = std::sqrt(norm);
    bool usable = norm > 0 && std::isfinite(norm);
    for (size_t d = 0; d < dim; ++d) out[d] = usable ? static_cast<float>(sum[d] / norm) : 0.0f;
    return true;
}

EmbeddingTable fuse_file_vectors(const std::vector<WeightedTable>& sets) {
    double total = 0;
    size_t dim = 0;
    for (const WeightedTable& set : sets) {
        if (!(set.weight > 0) || !std::isfinite(set.weight))
            throw Error(ErrorKind::usage, fmt::format("fusion weight {} is not a positive number", set.weight));
        total += set.weight;
        dim += set.table->dim();
    }
    EmbeddingDelta fused;
    fused.dim = dim;
    if (sets.empty()) return EmbeddingTable(dim);
    std::vector<float> piece;
    for (const auto& [file_id, first] : sets.front().table->by_file()) {
        std::vector<float> vector;
        vector.reserve(dim);
        bool in_every_set = true;
        for (const WeightedTable& set : sets) {
            auto found = set.table->by_file().find(file_id);
            piece.assign(set.table->dim(), 0.0f);
            if (found == set.table->by_file().end() || !mean_file_vector(found->second, set.table->dim(), piece.data())) {
                in_every_set = false;
                break;
            }
            const float scale = static_cast<float>(std::sqrt(set.weight / total));
            for (float x : piece) vector.push_back(x * scale);
        }
        if (!in_every_set) continue;
        fused.chunk_ids.push_back(file_id);
        fused.file_ids.push_back(file_id);
        fused.vectors.insert(fused.vectors.end(), vector.begin(), vector.end());
    }
    EmbeddingTable table(dim);
    table.apply(std::move(fused));
    return table;
}

void check_vectors_normalized(const std::string& path, const EmbeddingDelta& delta) {
    // Stored vectors are L2-normalized (or zero, for a model output of zero length). Anything else
    // is damage that a checksum could not see (a store from before checksums) or a writer's bug;
    // served, it would give scores above 1.
    constexpr double tolerance = 1e-3;
    for (size_t row = 0; row < delta.chunk_ids.size(); ++row) {
        const float* v = delta.vectors.data() + row * delta.dim;
        double norm = 0;
        for (size_t i = 0; i < delta.dim; ++i) norm += static_cast<double>(v[i]) * v[i];
        norm = std::sqrt(norm);
        if (!std::isfinite(norm) || (norm != 0 && std::abs(norm - 1) > tolerance))
            throw Error(ErrorKind::format,
                        fmt::format("{}: damaged: the vector of chunk {} has norm {:.6g}, not 1; run `audiosim check --repair`",
                                    path, delta.chunk_ids[row], norm));
    }
}

void write_embedding_segment(const std::string& path, const EmbeddingSetInfo& info, const EmbeddingDelta& delta,
                             const WriterStamp& stamp) {
    h5::File file = h5::File::create(path);
    write_stamp(file, embeddings_format_name, embeddings_format_version, stamp);
    h5::write_string_attribute(file, file.id(), "model_id", info.model_id);
    h5::write_string_attribute(file, file.id(), "profile", info.profile);
    h5::write_string_attribute(file, file.id(), "model", info.model_json);
    h5::Handle group = file.create_group("embeddings");
    h5::write_int_attribute(file, group.get(), "rows", static_cast<int64_t>(delta.chunk_ids.size()));
    h5::write_int_attribute(file, group.get(), "dim", static_cast<int64_t>(delta.dim));
    h5::write_column(file, group.get(), "chunk_id", delta.chunk_ids);
    h5::write_column(file, group.get(), "file_id", delta.file_ids);
    h5::write_matrix(file, group.get(), "vector", delta.vectors, delta.chunk_ids.size(), delta.dim);
    h5::Handle dropped = file.create_group("dropped");
    h5::write_int_attribute(file, dropped.get(), "rows", static_cast<int64_t>(delta.dropped_file_ids.size()));
    h5::write_column(file, dropped.get(), "file_id", delta.dropped_file_ids);
    write_failures(file, delta.failed);
    file.close();
}

EmbeddingDelta read_embedding_segment(const std::string& path, bool with_vectors) {
    h5::File file = h5::File::open_read_only(path);
    check_stamp(file, embeddings_format_name, embeddings_format_version);
    h5::Handle group = file.open_group("embeddings");
    size_t rows = h5::read_row_count(file, group.get());
    int64_t dim = h5::read_int_attribute(file, group.get(), "dim");
    if (dim < 0 || dim > 65536) throw Error(ErrorKind::format, fmt::format("{}: embedding dimension {} out of range", path, dim));
    EmbeddingDelta delta;
    delta.dim = static_cast<size_t>(dim);
    delta.chunk_ids = h5::read_column<uint64_t>(file, group.get(), "chunk_id", rows);
    delta.file_ids = h5::read_column<uint64_t>(file, group.get(), "file_id", rows);
    if (with_vectors) {
        delta.vectors = h5::read_matrix(file, group.get(), "vector", rows, delta.dim);
        check_vectors_normalized(path, delta);
    }
    h5::Handle dropped = file.open_group("dropped");
    delta.dropped_file_ids = h5::read_column<uint64_t>(file, dropped.get(), "file_id", h5::read_row_count(file, dropped.get()));
    delta.failed = read_failures(file);
    return delta;
}

}  // namespace audiosim
