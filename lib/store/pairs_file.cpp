#include "store/pairs_file.hpp"

#include "store/h5.hpp"
#include "store/stamp.hpp"

namespace audiosim {

void write_pairs_file(const std::string& path, const StoredPairs& stored, const WriterStamp& stamp) {
    h5::File file = h5::File::create(path);
    write_stamp(file, pairs_format_name, pairs_format_version, stamp);
    h5::write_string_attribute(file, file.id(), "embeddings", stored.embeddings);
    h5::write_string_attribute(file, file.id(), "parameters", stored.parameters);
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
    stored.parameters = h5::read_string_attribute(file, file.id(), "parameters");
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
