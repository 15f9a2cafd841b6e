#include "store/failures.hpp"

#include "store/h5.hpp"

namespace audiosim {

void write_failures(const h5::File& file, const std::vector<FileFailure>& failures) {
    h5::Handle group = file.create_group("failed");
    h5::write_int_attribute(file, group.get(), "rows", static_cast<int64_t>(failures.size()));
    h5::write_column(file, group.get(), "file_id", h5::column_of<uint64_t>(failures, [](auto& f) { return f.file_id; }));
    h5::write_string_column(file, group.get(), "error", h5::column_of<std::string>(failures, [](auto& f) { return f.error; }),
                            h5::Charset::utf8);
}

std::vector<FileFailure> read_failures(const h5::File& file) {
    if (!file.has("failed")) return {};
    h5::Handle group = file.open_group("failed");
    size_t rows = h5::read_row_count(file, group.get());
    auto file_id = h5::read_column<uint64_t>(file, group.get(), "file_id", rows);
    auto error = h5::read_string_column(file, group.get(), "error", rows);
    std::vector<FileFailure> failures(rows);
    for (size_t i = 0; i < rows; ++i) failures[i] = {file_id[i], std::move(error[i])};
    return failures;
}

std::vector<FileFailure> failures_of(const FailureMap& failures) {
    std::vector<FileFailure> list;
    for (const auto& [file_id, error] : failures) list.push_back({file_id, error});
    return list;
}

}  // namespace audiosim
