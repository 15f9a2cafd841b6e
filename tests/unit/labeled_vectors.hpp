// Hand-built labeled stores for the eval and classify tests: files with 2-D unit chunk vectors
// given by angles in degrees, so that every cosine ranking is the order of angular distance.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "eval/eval.hpp"
#include "store/catalog.hpp"
#include "store/embeddings.hpp"

namespace audiosim::test::labeled_vectors {

struct FileSpec {
    FileSpec(std::string path_, std::string label_, std::vector<double> angles_, uint64_t hash_ = 0,
             std::map<std::string, std::string> fields_ = {})
        : path(std::move(path_)), label(std::move(label_)), angles(std::move(angles_)), hash(hash_),
          fields(std::move(fields_)) {}
    std::string path;
    std::string label;             // "" = no label row
    std::vector<double> angles;    // one chunk vector per angle; none = not embedded
    uint64_t hash;                 // 0 = a hash of its own
    std::map<std::string, std::string> fields;
};

struct Fixture {
    Catalog catalog;
    EmbeddingTable table{2};
    Labels labels;
};

inline Fixture build(const std::vector<FileSpec>& files, std::vector<std::string> columns = {"path", "label"}) {
    Fixture f;
    CatalogDelta catalog_delta;
    EmbeddingDelta embedding_delta;
    embedding_delta.dim = 2;
    uint64_t chunk_id = 1;
    for (size_t i = 0; i < files.size(); ++i) {
        const FileSpec& spec = files[i];
        FileRecord record;
        record.file_id = i + 1;
        record.path = spec.path;
        record.hash = spec.hash ? spec.hash : 1000 + i;
        catalog_delta.records.push_back(record);
        for (double angle : spec.angles) {
            double radians = angle * M_PI / 180.0;
            embedding_delta.chunk_ids.push_back(chunk_id++);
            embedding_delta.file_ids.push_back(record.file_id);
            embedding_delta.vectors.push_back(static_cast<float>(std::cos(radians)));
            embedding_delta.vectors.push_back(static_cast<float>(std::sin(radians)));
        }
        if (!spec.label.empty()) f.labels.by_path[spec.path] = {spec.label, spec.fields};
    }
    f.catalog.apply(std::move(catalog_delta));
    f.table.apply(std::move(embedding_delta));
    f.labels.source = "test.tsv";
    f.labels.columns = std::move(columns);
    return f;
}

}  // namespace audiosim::test::labeled_vectors
