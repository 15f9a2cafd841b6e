// lib/store/h5: typed columns and attributes over HDF5's C API.
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <hdf5.h>

#include "store/h5.hpp"
#include "support.hpp"
#include "util/error.hpp"

namespace h5 = audiosim::h5;
using audiosim::ErrorKind;
using audiosim::test::TempFolder;
using audiosim::test::write_bytes;

using audiosim::test::error_of;
using audiosim::test::contains;

namespace {

template <typename T>
void check_round_trip(const std::string& path, const std::vector<T>& values) {
    {
        h5::File file = h5::File::create(path);
        h5::Handle group = file.create_group("g");
        h5::write_column(file, group.get(), "column", values);
        file.close();
    }
    h5::File file = h5::File::open_read_only(path);
    h5::Handle group = file.open_group("g");
    CHECK(h5::read_column<T>(file, group.get(), "column", values.size()) == values);
}

}  // namespace

TEST_SUITE_BEGIN("store/h5");

TEST_CASE("numeric columns round trip, extremes included") {
    TempFolder folder;
    std::string path = folder.file("c.h5");
    SUBCASE("uint8") { check_round_trip<uint8_t>(path, {0, 1, 254, 255}); }
    SUBCASE("uint32") { check_round_trip<uint32_t>(path, {0, 48000, std::numeric_limits<uint32_t>::max()}); }
    SUBCASE("uint64") { check_round_trip<uint64_t>(path, {0, 0x8000000000000001ull, std::numeric_limits<uint64_t>::max()}); }
    SUBCASE("int64") {
        check_round_trip<int64_t>(path, {std::numeric_limits<int64_t>::min(), -1, 0, std::numeric_limits<int64_t>::max()});
    }
    SUBCASE("float") { check_round_trip<float>(path, {-1.5f, 0.0f, 3.25e-7f, std::numeric_limits<float>::max()}); }
    SUBCASE("double") { check_round_trip<double>(path, {-1e300, 0.1, 1.0 / 3.0, std::numeric_limits<double>::infinity()}); }
    SUBCASE("empty") { check_round_trip<int64_t>(path, {}); }
}

TEST_CASE("a NaN in a double column survives") {
    TempFolder folder;
    std::string path = folder.file("nan.h5");
    {
        h5::File file = h5::File::create(path);
        h5::write_column<double>(file, file.id(), "d", {std::nan(""), 1.0});
        file.close();
    }
    h5::File file = h5::File::open_read_only(path);
    auto values = h5::read_column<double>(file, file.id(), "d", 2);
    CHECK(std::isnan(values[0]));
    CHECK(values[1] == 1.0);
}

TEST_CASE("string columns keep raw bytes, empty strings included") {
    TempFolder folder;
    std::string path = folder.file("s.h5");
    std::vector<std::string> paths = {"caf\xe9.wav", "", "a b/c,d\"e.wav", "\xff\xfe\x80", "日本語.flac"};
    std::vector<std::string> text = {"", "décodé", "x", "", "y"};
    {
        h5::File file = h5::File::create(path);
        h5::write_string_column(file, file.id(), "path", paths, h5::Charset::bytes);
        h5::write_string_column(file, file.id(), "text", text, h5::Charset::utf8);
        h5::write_string_column(file, file.id(), "none", {}, h5::Charset::bytes);
        file.close();
    }
    h5::File file = h5::File::open_read_only(path);
    CHECK(h5::read_string_column(file, file.id(), "path", paths.size()) == paths);
    CHECK(h5::read_string_column(file, file.id(), "text", text.size()) == text);
    CHECK(h5::read_string_column(file, file.id(), "none", 0).empty());
}

TEST_CASE("string columns are marked with their character set") {
    TempFolder folder;
    std::string path = folder.file("cset.h5");
    {
        h5::File file = h5::File::create(path);
        h5::write_string_column(file, file.id(), "bytes", {"a"}, h5::Charset::bytes);
        h5::write_string_column(file, file.id(), "utf8", {"a"}, h5::Charset::utf8);
        file.close();
    }
    h5::File file = h5::File::open_read_only(path);
    auto cset = [&](const char* name) {
        h5::Handle dataset(H5Dopen2(file.id(), name, H5P_DEFAULT), H5Dclose);
        h5::Handle type(H5Dget_type(dataset.get()), H5Tclose);
        return H5Tget_cset(type.get());
    };
    CHECK(cset("bytes") == H5T_CSET_ASCII);
    CHECK(cset("utf8") == H5T_CSET_UTF8);
}

TEST_CASE("enum columns round trip and reject values beyond the known names") {
    TempFolder folder;
    std::string path = folder.file("e.h5");
    std::vector<std::string> names = {"ok", "empty", "not_audio", "corrupt"};
    {
        h5::File file = h5::File::create(path);
        h5::write_enum_column(file, file.id(), "status", {0, 3, 1, 2, 0}, names);
        // A newer writer knowing more values than this reader.
        h5::write_enum_column(file, file.id(), "newer", {0, 5}, {"ok", "a", "b", "c", "d", "brand_new"});
        file.close();
    }
    h5::File file = h5::File::open_read_only(path);
    CHECK(h5::read_enum_column(file, file.id(), "status", 5, names.size()) == std::vector<uint8_t>{0, 3, 1, 2, 0});
    auto [kind, message] = error_of([&] { h5::read_enum_column(file, file.id(), "status", 5, 3); });
    CHECK(kind == ErrorKind::format);
    CHECK(contains(message, "status"));
    CHECK(contains(message, "3"));
    auto [newer_kind, newer_message] = error_of([&] { h5::read_enum_column(file, file.id(), "newer", 2, 4); });
    CHECK(newer_kind == ErrorKind::format);
    CHECK(contains(newer_message, "5"));
    CHECK(contains(newer_message, path));
    CHECK(h5::read_enum_column(file, file.id(), "newer", 2, 6) == std::vector<uint8_t>{0, 5});
}

TEST_CASE("enum columns carry their names in the file") {
    TempFolder folder;
    std::string path = folder.file("names.h5");
    {
        h5::File file = h5::File::create(path);
        h5::write_enum_column(file, file.id(), "status", {1}, {"ok", "empty"});
        file.close();
    }
    h5::File file = h5::File::open_read_only(path);
    h5::Handle dataset(H5Dopen2(file.id(), "status", H5P_DEFAULT), H5Dclose);
    h5::Handle type(H5Dget_type(dataset.get()), H5Tclose);
    REQUIRE(H5Tget_class(type.get()) == H5T_ENUM);
    REQUIRE(H5Tget_nmembers(type.get()) == 2);
    char name[32];
    uint8_t value = 1;
    REQUIRE(H5Tenum_nameof(type.get(), &value, name, sizeof name) >= 0);
    CHECK(std::string(name) == "empty");
}

TEST_CASE("reading with the wrong row count is Error(format) naming the column and both counts") {
    TempFolder folder;
    std::string path = folder.file("rows.h5");
    {
        h5::File file = h5::File::create(path);
        h5::write_column<uint64_t>(file, file.id(), "size", {1, 2, 3});
        h5::write_string_column(file, file.id(), "path", {"a", "b", "c"}, h5::Charset::bytes);
        h5::write_enum_column(file, file.id(), "status", {0, 0, 0}, {"ok"});
        file.close();
    }
    h5::File file = h5::File::open_read_only(path);
    auto [kind, message] = error_of([&] { h5::read_column<uint64_t>(file, file.id(), "size", 4); });
    CHECK(kind == ErrorKind::format);
    CHECK(contains(message, "size"));
    CHECK(contains(message, "3"));
    CHECK(contains(message, "4"));
    CHECK(contains(message, path));
    CHECK(error_of([&] { h5::read_string_column(file, file.id(), "path", 2); }).first == ErrorKind::format);
    CHECK(error_of([&] { h5::read_enum_column(file, file.id(), "status", 0, 1); }).first == ErrorKind::format);
}

TEST_CASE("reading a column as the wrong type is Error(format)") {
    TempFolder folder;
    std::string path = folder.file("types.h5");
    {
        h5::File file = h5::File::create(path);
        h5::write_column<uint64_t>(file, file.id(), "number", {1, 2});
        h5::write_string_column(file, file.id(), "text", {"a", "b"}, h5::Charset::utf8);
        h5::write_enum_column(file, file.id(), "status", {0, 1}, {"ok", "empty"});
        file.close();
    }
    h5::File file = h5::File::open_read_only(path);
    CHECK(error_of([&] { h5::read_column<uint64_t>(file, file.id(), "text", 2); }).first == ErrorKind::format);
    CHECK(error_of([&] { h5::read_column<double>(file, file.id(), "text", 2); }).first == ErrorKind::format);
    CHECK(error_of([&] { h5::read_string_column(file, file.id(), "number", 2); }).first == ErrorKind::format);
    CHECK(error_of([&] { h5::read_enum_column(file, file.id(), "number", 2, 2); }).first == ErrorKind::format);
    CHECK(error_of([&] { h5::read_enum_column(file, file.id(), "text", 2, 2); }).first == ErrorKind::format);
    CHECK(error_of([&] { h5::read_column<uint8_t>(file, file.id(), "missing", 2); }).first == ErrorKind::format);
}

TEST_CASE("attributes: strings, integers, missing ones, wrong types") {
    TempFolder folder;
    std::string path = folder.file("a.h5");
    {
        h5::File file = h5::File::create(path);
        h5::write_string_attribute(file, file.id(), "format", "audiosim-catalog");
        h5::write_string_attribute(file, file.id(), "command_line", "audiosim ingest 'café'");
        h5::write_string_attribute(file, file.id(), "empty", "");
        h5::write_int_attribute(file, file.id(), "format_version", -7);
        h5::Handle group = file.create_group("files");
        h5::write_int_attribute(file, group.get(), "rows", 1234567890123);
        file.close();
    }
    h5::File file = h5::File::open_read_only(path);
    CHECK(h5::read_string_attribute(file, file.id(), "format") == "audiosim-catalog");
    CHECK(h5::read_string_attribute(file, file.id(), "command_line") == "audiosim ingest 'café'");
    CHECK(h5::read_string_attribute(file, file.id(), "empty") == "");
    CHECK(h5::read_int_attribute(file, file.id(), "format_version") == -7);
    CHECK(h5::read_int_attribute(file, file.open_group("files").get(), "rows") == 1234567890123);
    CHECK(h5::has_attribute(file.id(), "format"));
    CHECK_FALSE(h5::has_attribute(file.id(), "nothing"));
    CHECK(error_of([&] { h5::read_string_attribute(file, file.id(), "nothing"); }).first == ErrorKind::format);
    CHECK(error_of([&] { h5::read_int_attribute(file, file.id(), "nothing"); }).first == ErrorKind::format);
    CHECK(error_of([&] { h5::read_int_attribute(file, file.id(), "format"); }).first == ErrorKind::format);
    CHECK(error_of([&] { h5::read_string_attribute(file, file.id(), "format_version"); }).first == ErrorKind::format);
}

TEST_CASE("an attribute holding several values is Error(format), not an overflow (found by fuzzing)") {
    TempFolder folder;
    std::string path = folder.file("array.h5");
    {
        h5::File file = h5::File::create(path);
        hsize_t dims[1] = {3};
        h5::Handle space(H5Screate_simple(1, dims, nullptr), H5Sclose);
        int64_t numbers[3] = {1, 2, 3};
        h5::Handle number(H5Acreate2(file.id(), "rows", H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                          H5Aclose);
        H5Awrite(number.get(), H5T_NATIVE_INT64, numbers);
        h5::Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
        H5Tset_size(type.get(), H5T_VARIABLE);
        const char* texts[3] = {"a", "b", "c"};
        h5::Handle text(H5Acreate2(file.id(), "format", type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
        H5Awrite(text.get(), type.get(), texts);
        file.close();
    }
    h5::File file = h5::File::open_read_only(path);
    auto [kind, message] = error_of([&] { h5::read_int_attribute(file, file.id(), "rows"); });
    CHECK(kind == ErrorKind::format);
    CHECK(contains(message, "rows (not a single value)"));
    auto [kind2, message2] = error_of([&] { h5::read_string_attribute(file, file.id(), "format"); });
    CHECK(kind2 == ErrorKind::format);
    CHECK(contains(message2, "format (not a single value)"));
}

TEST_CASE("a dataset declaring more rows than it stores is refused before allocating (found by fuzzing)") {
    // 2^40 rows, never written: HDF5 stores nothing, and a reader trusting the extent would
    // allocate 8 TiB.
    TempFolder folder;
    std::string path = folder.file("declared.h5");
    const hsize_t rows = hsize_t{1} << 40;
    {
        h5::File file = h5::File::create(path);
        h5::Handle group = file.create_group("g");
        hsize_t dims[2] = {rows, 4};
        h5::Handle column_space(H5Screate_simple(1, dims, nullptr), H5Sclose);
        h5::Handle column(H5Dcreate2(group.get(), "column", H5T_STD_U64LE, column_space.get(), H5P_DEFAULT, H5P_DEFAULT,
                                     H5P_DEFAULT), H5Dclose);
        h5::Handle matrix_space(H5Screate_simple(2, dims, nullptr), H5Sclose);
        h5::Handle matrix(H5Dcreate2(group.get(), "matrix", H5T_IEEE_F32LE, matrix_space.get(), H5P_DEFAULT,
                                     H5P_DEFAULT, H5P_DEFAULT),
                          H5Dclose);
        REQUIRE(column.get() >= 0);
        REQUIRE(matrix.get() >= 0);
        file.close();
    }
    h5::File file = h5::File::open_read_only(path);
    h5::Handle group = file.open_group("g");
    auto [kind, message] = error_of([&] { h5::read_column<uint64_t>(file, group.get(), "column", rows); });
    CHECK(kind == ErrorKind::format);
    CHECK(contains(message, "column declares 1099511627776 elements but stores 0 bytes"));
    auto [kind2, message2] = error_of([&] { h5::read_matrix(file, group.get(), "matrix", rows, 4); });
    CHECK(kind2 == ErrorKind::format);
    CHECK(contains(message2, "matrix declares 4398046511104 elements"));
}

TEST_CASE("a fixed-length string attribute (as other tools write them) is read too") {
    TempFolder folder;
    std::string path = folder.file("fixed.h5");
    {
        h5::File file = h5::File::create(path);
        h5::Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
        H5Tset_size(type.get(), 8);
        h5::Handle space(H5Screate(H5S_SCALAR), H5Sclose);
        h5::Handle attribute(H5Acreate2(file.id(), "name", type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
        const char text[8] = {'a', 'b', 'c', '\0', '\0', '\0', '\0', '\0'};
        REQUIRE(H5Awrite(attribute.get(), type.get(), text) >= 0);
        attribute.reset();
        file.close();
    }
    h5::File file = h5::File::open_read_only(path);
    CHECK(h5::read_string_attribute(file, file.id(), "name") == "abc");
}

TEST_CASE("groups: has, open, missing, list_children sorted by name") {
    TempFolder folder;
    std::string path = folder.file("g.h5");
    {
        h5::File file = h5::File::create(path);
        file.create_group("zeta");
        file.create_group("alpha");
        h5::write_column<uint8_t>(file, file.id(), "middle", {1});
        file.close();
    }
    h5::File file = h5::File::open_read_only(path);
    CHECK(file.has("alpha"));
    CHECK_FALSE(file.has("beta"));
    CHECK(h5::list_children(file, file.id()) == std::vector<std::string>{"alpha", "middle", "zeta"});
    CHECK(h5::list_children(file, file.open_group("alpha").get()).empty());
    auto [kind, message] = error_of([&] { file.open_group("beta"); });
    CHECK(kind == ErrorKind::format);
    CHECK(contains(message, "beta"));
}

TEST_CASE("opening: a missing file is Error(input), a non-HDF5 file Error(format)") {
    TempFolder folder;
    auto [missing_kind, missing_message] = error_of([&] { h5::File::open_read_only(folder.file("none.h5")); });
    CHECK(missing_kind == ErrorKind::input);
    CHECK(contains(missing_message, folder.file("none.h5")));
    write_bytes(folder.file("text.h5"), "not an HDF5 file at all\n");
    auto [kind, message] = error_of([&] { h5::File::open_read_only(folder.file("text.h5")); });
    CHECK(kind == ErrorKind::format);
    CHECK(contains(message, folder.file("text.h5")));
    write_bytes(folder.file("zero.h5"), "");
    CHECK(error_of([&] { h5::File::open_read_only(folder.file("zero.h5")); }).first == ErrorKind::format);
}

TEST_CASE("creating a file in a missing folder is Error(io)") {
    TempFolder folder;
    auto [kind, message] = error_of([&] { h5::File::create(folder.file("missing/x.h5")); });
    CHECK(kind == ErrorKind::io);
    CHECK(contains(message, folder.file("missing/x.h5")));
}

TEST_CASE("writing a column twice under one name is Error(io)") {
    TempFolder folder;
    h5::File file = h5::File::create(folder.file("twice.h5"));
    h5::write_column<uint8_t>(file, file.id(), "c", {1});
    CHECK(error_of([&] { h5::write_column<uint8_t>(file, file.id(), "c", {2}); }).first == ErrorKind::io);
}

TEST_CASE("library_version is the linked HDF5's") {
    unsigned major = 0, minor = 0, release = 0;
    H5get_libversion(&major, &minor, &release);
    CHECK(h5::library_version() == fmt::format("{}.{}.{}", major, minor, release));
    CHECK(major == H5_VERS_MAJOR);
}

TEST_SUITE_END();
