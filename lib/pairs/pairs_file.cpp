#include "pairs/pairs_file.hpp"

#include <fmt/format.h>

#include "store/h5.hpp"
#include "util/error.hpp"

namespace audiosim {

std::string file_similarity_of(const std::string& embeddings) {
    const std::string cosine = "cosine of L2-normalized mean chunk vectors";
    if (embeddings.find("/fusion+") == std::string::npos) return cosine;
    return "weighted mean over the models (MODEL_ID=WEIGHT in embeddings) of each one's " + cosine;
}

nlohmann::json PairsParameters::to_json() const {
    return {{"k", k}, {"min_score", min_score}, {"group_by", group_by}, {"method", method}, {"file_similarity", file_similarity}};
}

namespace {

// Version 1 kept the parameters as one JSON string attribute.
PairsParameters parse_version_1_parameters(const h5::File& file) {
    try {
        auto json = nlohmann::json::parse(h5::read_string_attribute(file, file.id(), "parameters"));
        return {json.at("k").get<int64_t>(), json.at("min_score").get<double>(), json.value("group_by", std::string()),
                json.value("method", std::string())};
    } catch (const nlohmann::json::exception& e) {
        throw Error(ErrorKind::format, fmt::format("{}: parameters are not what audiosim pairs writes: {}", file.path(), e.what()));
    }
}

}  // namespace

void write_pairs_file(const std::string& path, const StoredPairs& stored, const WriterStamp& stamp) {
    h5::File file = h5::File::create(path);
    write_stamp(file, pairs_format_name, pairs_format_version, stamp);
    h5::write_string_attribute(file, file.id(), "embeddings", stored.embeddings);
    const PairsParameters& parameters = stored.parameters;
    h5::write_int_attribute(file, file.id(), "k", parameters.k);
    h5::write_double_attribute(file, file.id(), "min_score", parameters.min_score);
    h5::write_string_attribute(file, file.id(), "group_by", parameters.group_by);
    h5::write_string_attribute(file, file.id(), "method", parameters.method);
    h5::write_string_attribute(file, file.id(), "file_similarity", parameters.file_similarity);
    h5::Handle group = file.create_group("pairs");
    h5::write_int_attribute(file, group.get(), "rows", static_cast<int64_t>(stored.pairs.size()));
    h5::write_column(file, group.get(), "file_a", h5::column_of<uint64_t>(stored.pairs, [](const FilePair& p) { return p.a; }));
    h5::write_column(file, group.get(), "file_b", h5::column_of<uint64_t>(stored.pairs, [](const FilePair& p) { return p.b; }));
    h5::write_column(file, group.get(), "score", h5::column_of<float>(stored.pairs, [](const FilePair& p) { return p.score; }));
    h5::write_string_column(file, group.get(), "group",
                            h5::column_of<std::string>(stored.pairs, [](const FilePair& p) { return p.group; }),
                            h5::Charset::bytes);
    file.close();
}

StoredPairs read_pairs_file(const std::string& path) {
    h5::File file = h5::File::open_read_only(path);
    check_stamp(file, pairs_format_name, pairs_format_version);
    StoredPairs stored;
    stored.embeddings = h5::read_string_attribute(file, file.id(), "embeddings");
    if (h5::read_int_attribute(file, file.id(), "format_version") == 1) {
        stored.parameters = parse_version_1_parameters(file);
    } else {
        stored.parameters.k = h5::read_int_attribute(file, file.id(), "k");
        stored.parameters.min_score = h5::read_double_attribute(file, file.id(), "min_score");
        stored.parameters.group_by = h5::read_string_attribute(file, file.id(), "group_by");
        stored.parameters.method = h5::read_string_attribute(file, file.id(), "method");
        stored.parameters.file_similarity = h5::read_string_attribute(file, file.id(), "file_similarity");
    }
    h5::Handle group = file.open_group("pairs");
    size_t rows = h5::read_row_count(file, group.get());
    auto a = h5::read_column<uint64_t>(file, group.get(), "file_a", rows);
    auto b = h5::read_column<uint64_t>(file, group.get(), "file_b", rows);
    auto score = h5::read_column<float>(file, group.get(), "score", rows);
    auto groups = h5::read_string_column(file, group.get(), "group", rows);
    stored.pairs.resize(rows);
    for (size_t i = 0; i < rows; ++i) stored.pairs[i] = {a[i], b[i], score[i], std::move(groups[i])};
    return stored;
}

}  // namespace audiosim
