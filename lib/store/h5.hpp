// A thin layer over HDF5's C API: owned handles, typed 1-D columns, string attributes. Every
// failure becomes Error(format) when reading and Error(io) when writing, naming the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <hdf5.h>

namespace audiosim::h5 {

class Handle {
public:
    Handle() = default;
    Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
    ~Handle() { reset(); }
    Handle(Handle&& other) noexcept : id_(other.id_), close_(other.close_) { other.id_ = -1; }
    Handle& operator=(Handle&& other) noexcept;
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    hid_t get() const { return id_; }
    void reset();

private:
    hid_t id_ = -1;
    herr_t (*close_)(hid_t) = nullptr;
};

// A file, remembering its path for messages.
class File {
public:
    static File create(const std::string& path);  // truncates
    static File open_read_only(const std::string& path);
    const std::string& path() const { return path_; }
    hid_t id() const { return handle_.get(); }
    Handle create_group(const std::string& name) const;
    Handle open_group(const std::string& name) const;  // Error(format) if missing
    bool has(const std::string& name) const;
    void close();  // flushes; throws on failure

private:
    File(std::string path, Handle handle) : path_(std::move(path)), handle_(std::move(handle)) {}
    std::string path_;
    Handle handle_;
};

void write_string_attribute(const File& file, hid_t object, const std::string& name, const std::string& value);
void write_int_attribute(const File& file, hid_t object, const std::string& name, int64_t value);
std::string read_string_attribute(const File& file, hid_t object, const std::string& name);
int64_t read_int_attribute(const File& file, hid_t object, const std::string& name);
void write_double_attribute(const File& file, hid_t object, const std::string& name, double value);
double read_double_attribute(const File& file, hid_t object, const std::string& name);
bool has_attribute(hid_t object, const std::string& name);

// The `rows` attribute of a table group: its number of rows, refused when negative.
size_t read_row_count(const File& file, hid_t group);

// One field of every row, as a column to write.
template <typename T, typename Rows, typename Get>
std::vector<T> column_of(const Rows& rows, Get get) {
    std::vector<T> values;
    values.reserve(rows.size());
    for (const auto& row : rows) values.push_back(static_cast<T>(get(row)));
    return values;
}

// Numeric columns. T is one of uint8_t, uint32_t, uint64_t, int64_t, float, double.
template <typename T>
void write_column(const File& file, hid_t group, const std::string& name, const std::vector<T>& values);
template <typename T>
std::vector<T> read_column(const File& file, hid_t group, const std::string& name, size_t expected_rows);

// A float32 matrix [rows, columns] (embeddings), stored in chunks of whole rows.
void write_matrix(const File& file, hid_t group, const std::string& name, const std::vector<float>& values,
                  size_t rows, size_t columns);
std::vector<float> read_matrix(const File& file, hid_t group, const std::string& name, size_t expected_rows,
                               size_t expected_columns);

// Variable-length strings. `bytes` columns (paths) keep any byte sequence and are marked ASCII so
// h5py hands back bytes; text columns are marked UTF-8.
enum class Charset { bytes, utf8 };
void write_string_column(const File& file, hid_t group, const std::string& name,
                         const std::vector<std::string>& values, Charset charset);
std::vector<std::string> read_string_column(const File& file, hid_t group, const std::string& name,
                                            size_t expected_rows);

// An enum column (uint8 values with names), readable in h5py with h5py.check_enum_dtype.
void write_enum_column(const File& file, hid_t group, const std::string& name,
                       const std::vector<uint8_t>& values, const std::vector<std::string>& names);
std::vector<uint8_t> read_enum_column(const File& file, hid_t group, const std::string& name,
                                      size_t expected_rows, size_t value_count);

std::vector<std::string> list_children(const File& file, hid_t group);
std::string library_version();

}  // namespace audiosim::h5
