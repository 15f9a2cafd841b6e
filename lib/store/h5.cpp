#include "store/h5.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unistd.h>

#include <fmt/format.h>

#include "util/error.hpp"

namespace audiosim::h5 {

namespace {

// lib/ never prints: HDF5's default error stack printer is switched off once, before first use.
// HDF5's own atexit cleanup is switched off too: after a failed write (a full disk) it closes the
// half-written file again at exit and crashes in HDF5 1.10; the process is ending anyway, and the
// uncommitted temporary is already removed.
void silence_hdf5() {
    static const bool silenced = [] {
        H5dont_atexit();
        H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
        return true;
    }();
    (void)silenced;
}

[[noreturn]] void fail_write(const File& file, const std::string& what) {
    std::string cause = errno != 0 ? std::strerror(errno) : "HDF5 error";
    throw Error(ErrorKind::io, fmt::format("{}: cannot write {}: {}", file.path(), what, cause));
}

[[noreturn]] void fail_read(const File& file, const std::string& what) {
    throw Error(ErrorKind::format, fmt::format("{}: cannot read {}", file.path(), what));
}

template <typename T> hid_t memory_type();
template <> hid_t memory_type<uint8_t>() { return H5T_NATIVE_UINT8; }
template <> hid_t memory_type<uint32_t>() { return H5T_NATIVE_UINT32; }
template <> hid_t memory_type<uint64_t>() { return H5T_NATIVE_UINT64; }
template <> hid_t memory_type<int64_t>() { return H5T_NATIVE_INT64; }
template <> hid_t memory_type<float>() { return H5T_NATIVE_FLOAT; }
template <> hid_t memory_type<double>() { return H5T_NATIVE_DOUBLE; }

template <typename T> hid_t file_type();
template <> hid_t file_type<uint8_t>() { return H5T_STD_U8LE; }
template <> hid_t file_type<uint32_t>() { return H5T_STD_U32LE; }
template <> hid_t file_type<uint64_t>() { return H5T_STD_U64LE; }
template <> hid_t file_type<int64_t>() { return H5T_STD_I64LE; }
template <> hid_t file_type<float>() { return H5T_IEEE_F32LE; }
template <> hid_t file_type<double>() { return H5T_IEEE_F64LE; }

Handle string_type(Charset charset) {
    Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type.get(), H5T_VARIABLE);
    H5Tset_cset(type.get(), charset == Charset::utf8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII);
    return type;
}

Handle create_dataset(const File& file, hid_t group, const std::string& name, hid_t type, size_t rows) {
    hsize_t dims[1] = {rows};
    Handle space(H5Screate_simple(1, dims, nullptr), H5Sclose);
    Handle dataset(H5Dcreate2(group, name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    if (dataset.get() < 0) fail_write(file, name);
    return dataset;
}

// A dataset's extent is only declared: one of 2^40 rows takes a few bytes of file when its data
// was never written, and damage can claim more stored bytes than the file has. Both are refused
// before anything is allocated for the rows.
void check_stored_bytes(const File& file, hid_t dataset, const std::string& name, hsize_t elements) {
    Handle type(H5Dget_type(dataset), H5Tclose);
    // A variable-length string stores a heap reference per element: at least a byte.
    const size_t element_size = H5Tis_variable_str(type.get()) > 0 ? 1 : H5Tget_size(type.get());
    const hsize_t stored = H5Dget_storage_size(dataset);
    hsize_t file_size = 0;
    if (H5Fget_filesize(file.id(), &file_size) < 0 || element_size == 0) fail_read(file, name);
    if (stored > file_size || (elements > 0 && stored / element_size < elements))
        throw Error(ErrorKind::format, fmt::format("{}: {} declares {} elements but stores {} bytes", file.path(), name,
                                                   static_cast<unsigned long long>(elements),
                                                   static_cast<unsigned long long>(stored)));
}

Handle open_dataset(const File& file, hid_t group, const std::string& name, size_t expected_rows) {
    if (H5Lexists(group, name.c_str(), H5P_DEFAULT) <= 0) fail_read(file, name + " (missing)");
    Handle dataset(H5Dopen2(group, name.c_str(), H5P_DEFAULT), H5Dclose);
    if (dataset.get() < 0) fail_read(file, name);
    Handle space(H5Dget_space(dataset.get()), H5Sclose);
    hsize_t dims[1] = {0};
    if (H5Sget_simple_extent_ndims(space.get()) != 1 || H5Sget_simple_extent_dims(space.get(), dims, nullptr) != 1 ||
        dims[0] != expected_rows)
        throw Error(ErrorKind::format, fmt::format("{}: {} has {} rows, expected {}", file.path(), name,
                                                   static_cast<unsigned long long>(dims[0]), expected_rows));
    check_stored_bytes(file, dataset.get(), name, dims[0]);
    return dataset;
}

}  // namespace

Handle& Handle::operator=(Handle&& other) noexcept {
    if (this != &other) {
        reset();
        id_ = other.id_;
        close_ = other.close_;
        other.id_ = -1;
    }
    return *this;
}

void Handle::reset() {
    if (id_ >= 0 && close_) close_(id_);
    id_ = -1;
}

File File::create(const std::string& path) {
    silence_hdf5();
    errno = 0;
    Handle handle(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    if (handle.get() < 0)
        throw Error(ErrorKind::io, fmt::format("{}: cannot create: {}", path, errno ? std::strerror(errno) : "HDF5 error"));
    return File(path, std::move(handle));
}

File File::open_read_only(const std::string& path) {
    silence_hdf5();
    if (::access(path.c_str(), F_OK) != 0) throw Error(ErrorKind::input, fmt::format("{}: no such file", path));
    Handle handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (handle.get() < 0) throw Error(ErrorKind::format, fmt::format("{}: not a readable HDF5 file", path));
    return File(path, std::move(handle));
}

Handle File::create_group(const std::string& name) const {
    Handle group(H5Gcreate2(id(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    if (group.get() < 0) fail_write(*this, "group " + name);
    return group;
}

Handle File::open_group(const std::string& name) const {
    if (!has(name)) fail_read(*this, "group " + name + " (missing)");
    Handle group(H5Gopen2(id(), name.c_str(), H5P_DEFAULT), H5Gclose);
    if (group.get() < 0) fail_read(*this, "group " + name);
    return group;
}

bool File::has(const std::string& name) const { return H5Lexists(id(), name.c_str(), H5P_DEFAULT) > 0; }

void File::close() {
    errno = 0;
    if (H5Fflush(id(), H5F_SCOPE_GLOBAL) < 0) fail_write(*this, "file");
    handle_.reset();
}

void write_string_attribute(const File& file, hid_t object, const std::string& name, const std::string& value) {
    Handle type = string_type(Charset::utf8);
    Handle space(H5Screate(H5S_SCALAR), H5Sclose);
    Handle attribute(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    const char* text = value.c_str();
    if (attribute.get() < 0 || H5Awrite(attribute.get(), type.get(), &text) < 0) fail_write(file, "attribute " + name);
}

namespace {

void write_scalar_attribute(const File& file, hid_t object, const std::string& name, hid_t stored_type, hid_t memory_type,
                            const void* value) {
    Handle space(H5Screate(H5S_SCALAR), H5Sclose);
    Handle attribute(H5Acreate2(object, name.c_str(), stored_type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    if (attribute.get() < 0 || H5Awrite(attribute.get(), memory_type, value) < 0) fail_write(file, "attribute " + name);
}

}  // namespace

void write_int_attribute(const File& file, hid_t object, const std::string& name, int64_t value) {
    write_scalar_attribute(file, object, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

void write_double_attribute(const File& file, hid_t object, const std::string& name, double value) {
    write_scalar_attribute(file, object, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

bool has_attribute(hid_t object, const std::string& name) { return H5Aexists(object, name.c_str()) > 0; }

namespace {

// H5Aread writes every element of an attribute: one of several would overflow the single value
// our readers pass it.
Handle open_scalar_attribute(const File& file, hid_t object, const std::string& name) {
    if (!has_attribute(object, name)) fail_read(file, "attribute " + name + " (missing)");
    Handle attribute(H5Aopen(object, name.c_str(), H5P_DEFAULT), H5Aclose);
    Handle space(H5Aget_space(attribute.get()), H5Sclose);
    if (H5Sget_simple_extent_npoints(space.get()) != 1) fail_read(file, "attribute " + name + " (not a single value)");
    return attribute;
}

}  // namespace

std::string read_string_attribute(const File& file, hid_t object, const std::string& name) {
    Handle attribute = open_scalar_attribute(file, object, name);
    Handle stored_type(H5Aget_type(attribute.get()), H5Tclose);
    if (H5Tget_class(stored_type.get()) != H5T_STRING) fail_read(file, "attribute " + name + " (not a string)");
    if (H5Tis_variable_str(stored_type.get()) > 0) {
        Handle type = string_type(Charset::utf8);
        char* text = nullptr;
        if (H5Aread(attribute.get(), type.get(), &text) < 0) fail_read(file, "attribute " + name);
        std::string value = text ? text : "";
        H5free_memory(text);
        return value;
    }
    size_t size = H5Tget_size(stored_type.get());
    std::string value(size, '\0');
    if (H5Aread(attribute.get(), stored_type.get(), value.data()) < 0) fail_read(file, "attribute " + name);
    value.resize(std::strlen(value.c_str()));
    return value;
}

namespace {

// A scalar attribute stored with a type of `expected` class (integer, float), read as `memory_type`.
template <typename T>
T read_scalar_attribute(const File& file, hid_t object, const std::string& name, H5T_class_t expected, hid_t memory_type,
                        const char* kind) {
    Handle attribute = open_scalar_attribute(file, object, name);
    Handle stored_type(H5Aget_type(attribute.get()), H5Tclose);
    if (H5Tget_class(stored_type.get()) != expected) fail_read(file, fmt::format("attribute {} (not {})", name, kind));
    T value{};
    if (H5Aread(attribute.get(), memory_type, &value) < 0) fail_read(file, "attribute " + name);
    return value;
}

}  // namespace

int64_t read_int_attribute(const File& file, hid_t object, const std::string& name) {
    return read_scalar_attribute<int64_t>(file, object, name, H5T_INTEGER, H5T_NATIVE_INT64, "an integer");
}

double read_double_attribute(const File& file, hid_t object, const std::string& name) {
    return read_scalar_attribute<double>(file, object, name, H5T_FLOAT, H5T_NATIVE_DOUBLE, "a number");
}

size_t read_row_count(const File& file, hid_t group) {
    int64_t rows = read_int_attribute(file, group, "rows");
    if (rows < 0) throw Error(ErrorKind::format, fmt::format("{}: negative row count {}", file.path(), rows));
    return static_cast<size_t>(rows);
}

template <typename T>
void write_column(const File& file, hid_t group, const std::string& name, const std::vector<T>& values) {
    Handle dataset = create_dataset(file, group, name, file_type<T>(), values.size());
    if (!values.empty() && H5Dwrite(dataset.get(), memory_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0)
        fail_write(file, name);
}

template <typename T>
std::vector<T> read_column(const File& file, hid_t group, const std::string& name, size_t expected_rows) {
    Handle dataset = open_dataset(file, group, name, expected_rows);
    Handle stored_type(H5Dget_type(dataset.get()), H5Tclose);
    H5T_class_t stored_class = H5Tget_class(stored_type.get());
    bool numeric = stored_class == H5T_INTEGER || stored_class == H5T_FLOAT;
    if (!numeric) fail_read(file, name + " (not numeric)");
    std::vector<T> values(expected_rows);
    if (expected_rows > 0 && H5Dread(dataset.get(), memory_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0)
        fail_read(file, name);
    return values;
}

#define AUDIOSIM_H5_COLUMN(T)                                                                              \
    template void write_column<T>(const File&, hid_t, const std::string&, const std::vector<T>&);          \
    template std::vector<T> read_column<T>(const File&, hid_t, const std::string&, size_t);
AUDIOSIM_H5_COLUMN(uint8_t)
AUDIOSIM_H5_COLUMN(uint32_t)
AUDIOSIM_H5_COLUMN(uint64_t)
AUDIOSIM_H5_COLUMN(int64_t)
AUDIOSIM_H5_COLUMN(float)
AUDIOSIM_H5_COLUMN(double)
#undef AUDIOSIM_H5_COLUMN

void write_matrix(const File& file, hid_t group, const std::string& name, const std::vector<float>& values,
                  size_t rows, size_t columns) {
    hsize_t dims[2] = {rows, columns};
    Handle space(H5Screate_simple(2, dims, nullptr), H5Sclose);
    Handle properties(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    if (rows > 0 && columns > 0) {
        // Chunks of about 1 MiB of whole rows: a reader of a few rows reads little.
        hsize_t chunk[2] = {std::max<hsize_t>(1, std::min<hsize_t>(rows, (1 << 18) / columns)), columns};
        H5Pset_chunk(properties.get(), 2, chunk);
    }
    Handle dataset(H5Dcreate2(group, name.c_str(), H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, properties.get(), H5P_DEFAULT),
                   H5Dclose);
    if (dataset.get() < 0) fail_write(file, name);
    if (rows > 0 && columns > 0 &&
        H5Dwrite(dataset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0)
        fail_write(file, name);
}

std::vector<float> read_matrix(const File& file, hid_t group, const std::string& name, size_t expected_rows,
                               size_t expected_columns) {
    if (H5Lexists(group, name.c_str(), H5P_DEFAULT) <= 0) fail_read(file, name + " (missing)");
    Handle dataset(H5Dopen2(group, name.c_str(), H5P_DEFAULT), H5Dclose);
    Handle space(H5Dget_space(dataset.get()), H5Sclose);
    hsize_t dims[2] = {0, 0};
    if (H5Sget_simple_extent_ndims(space.get()) != 2 || H5Sget_simple_extent_dims(space.get(), dims, nullptr) != 2 ||
        dims[0] != expected_rows || dims[1] != expected_columns)
        throw Error(ErrorKind::format, fmt::format("{}: {} is not a [{}, {}] matrix", file.path(), name, expected_rows,
                                                   expected_columns));
    check_stored_bytes(file, dataset.get(), name, dims[0] * dims[1]);  // HDF5 keeps the product within hsize_t
    std::vector<float> values(expected_rows * expected_columns);
    if (!values.empty() && H5Dread(dataset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0)
        fail_read(file, name);
    return values;
}

void write_string_column(const File& file, hid_t group, const std::string& name,
                         const std::vector<std::string>& values, Charset charset) {
    Handle type = string_type(charset);
    Handle dataset = create_dataset(file, group, name, type.get(), values.size());
    std::vector<const char*> pointers;
    pointers.reserve(values.size());
    for (const auto& value : values) pointers.push_back(value.c_str());
    if (!values.empty() && H5Dwrite(dataset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()) < 0)
        fail_write(file, name);
}

std::vector<std::string> read_string_column(const File& file, hid_t group, const std::string& name,
                                            size_t expected_rows) {
    Handle dataset = open_dataset(file, group, name, expected_rows);
    Handle stored_type(H5Dget_type(dataset.get()), H5Tclose);
    if (H5Tget_class(stored_type.get()) != H5T_STRING || H5Tis_variable_str(stored_type.get()) <= 0)
        fail_read(file, name + " (not a variable-length string)");
    Handle type = string_type(Charset::bytes);
    std::vector<char*> pointers(expected_rows, nullptr);
    std::vector<std::string> values(expected_rows);
    if (expected_rows == 0) return values;
    if (H5Dread(dataset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()) < 0) fail_read(file, name);
    for (size_t i = 0; i < expected_rows; ++i)
        if (pointers[i]) values[i] = pointers[i];
    Handle space(H5Dget_space(dataset.get()), H5Sclose);
    H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, pointers.data());
    return values;
}

void write_enum_column(const File& file, hid_t group, const std::string& name, const std::vector<uint8_t>& values,
                       const std::vector<std::string>& names) {
    Handle type(H5Tenum_create(H5T_NATIVE_UINT8), H5Tclose);
    for (size_t i = 0; i < names.size(); ++i) {
        uint8_t value = static_cast<uint8_t>(i);
        H5Tenum_insert(type.get(), names[i].c_str(), &value);
    }
    Handle dataset = create_dataset(file, group, name, type.get(), values.size());
    // The values go in as the enum type itself: HDF5 converts no integers to enums.
    if (!values.empty() && H5Dwrite(dataset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0)
        fail_write(file, name);
}

std::vector<uint8_t> read_enum_column(const File& file, hid_t group, const std::string& name, size_t expected_rows,
                                      size_t value_count) {
    Handle dataset = open_dataset(file, group, name, expected_rows);
    Handle stored_type(H5Dget_type(dataset.get()), H5Tclose);
    if (H5Tget_class(stored_type.get()) != H5T_ENUM) fail_read(file, name + " (not an enum)");
    Handle native(H5Tget_native_type(stored_type.get(), H5T_DIR_ASCEND), H5Tclose);
    if (H5Tget_size(native.get()) != 1) fail_read(file, name + " (enum is not 8-bit)");
    std::vector<uint8_t> values(expected_rows);
    if (expected_rows > 0 && H5Dread(dataset.get(), native.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0)
        fail_read(file, name);
    for (uint8_t value : values)
        if (value >= value_count) fail_read(file, fmt::format("{} (unknown value {})", name, value));
    return values;
}

std::vector<std::string> list_children(const File& file, hid_t group) {
    H5G_info_t info{};
    if (H5Gget_info(group, &info) < 0) fail_read(file, "group listing");
    std::vector<std::string> names;
    for (hsize_t i = 0; i < info.nlinks; ++i) {
        ssize_t size = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
        if (size < 0) fail_read(file, "group listing");
        std::string name(static_cast<size_t>(size), '\0');
        H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size() + 1, H5P_DEFAULT);
        names.push_back(name);
    }
    return names;
}

std::string library_version() {
    unsigned major = 0, minor = 0, release = 0;
    H5get_libversion(&major, &minor, &release);
    return fmt::format("{}.{}.{}", major, minor, release);
}

}  // namespace audiosim::h5
