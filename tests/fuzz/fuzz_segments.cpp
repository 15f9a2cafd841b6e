// The store's HDF5 segments, structure-aware. HDF5 1.10 (not instrumented) crashes on byte-damaged
// files, which is why the store checksums every file before HDF5 parses it; so here the fuzzed
// bytes choose the values of a well-formed file, written through HDF5's C API as lib/store's
// writers write it (docs/FORMAT.md): row counts that disagree with dataset lengths, negative and
// huge counts and dims, other types and shapes, missing groups, datasets and attributes, enum
// values out of range, arbitrary string bytes, NaN and huge vectors, other format names and
// versions. Our reader must return or throw Error; libFuzzer's malloc limit catches an absurd
// allocation.
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>
#include <hdf5.h>

#include "fuzz_support.hpp"
#include "segments.hpp"
#include "store/h5.hpp"

namespace {

using audiosim::h5::Handle;

enum class Kind { u8, u32, u64, i64, f32, f64, text, status, matrix };
constexpr int last_kind = static_cast<int>(Kind::matrix);

struct Column {
    const char* name;
    Kind kind;
};
struct Table {
    const char* group;
    std::vector<Column> columns;
};
struct Schema {
    std::vector<const char*> root_texts;  // string attributes of the root besides the stamp's
    std::vector<Table> tables;            // groups with a `rows` attribute
};

// What lib/store's writers write, in segment_readers() order.
const std::array<Schema, 4>& schemas() {
    static const std::array<Schema, 4> all = {{
        {{},
         {{"files",
           {{"file_id", Kind::u64},    {"path", Kind::text},       {"size", Kind::u64},     {"mtime_ns", Kind::i64},
            {"hash", Kind::u64},       {"status", Kind::status},   {"error", Kind::text},   {"container", Kind::text},
            {"codec", Kind::text},     {"sample_rate", Kind::u32}, {"channels", Kind::u32}, {"frames", Kind::i64},
            {"duration", Kind::f64},   {"ingested_ns", Kind::i64}}},
          {"removed", {{"path", Kind::text}}}}},
        {{"profile"},
         {{"chunks",
           {{"chunk_id", Kind::u64}, {"file_id", Kind::u64}, {"start_frame", Kind::i64}, {"frames", Kind::i64},
            {"start", Kind::f64},    {"duration", Kind::f64}, {"rms_db", Kind::f32},     {"peak_db", Kind::f32},
            {"flags", Kind::u8}}},
          {"dropped", {{"file_id", Kind::u64}}}}},
        {{"model_id", "profile", "model"},
         {{"embeddings", {{"chunk_id", Kind::u64}, {"file_id", Kind::u64}, {"vector", Kind::matrix}}},
          {"dropped", {{"file_id", Kind::u64}}}}},
        {{"embeddings", "parameters"},
         {{"pairs", {{"file_a", Kind::u64}, {"file_b", Kind::u64}, {"score", Kind::f32}, {"group", Kind::text}}}}},
    }};
    return all;
}

// Huge counts come from one short list, so that a huge `rows` and a huge dataset can agree.
constexpr std::array<int64_t, 4> huge = {int64_t{1} << 31, int64_t{1} << 40, int64_t{1} << 62,
                                         std::numeric_limits<int64_t>::max()};
constexpr int64_t max_written = 4096;  // elements; a larger dataset is declared but holds no data

class SegmentWriter {
public:
    explicit SegmentWriter(FuzzedDataProvider& fdp) : fdp_(fdp) {}

    void write(hid_t file, const char* format, const Schema& schema) {
        const bool own_format = fdp_.ConsumeProbability<double>() < 0.9;
        text_attribute(file, "format", own_format ? format : fdp_.ConsumeRandomLengthString(24));
        int_attribute(file, "format_version", fdp_.ConsumeBool() ? 1 : fdp_.ConsumeIntegral<int64_t>());
        text_attribute(file, "writer", fdp_.ConsumeRandomLengthString(32));
        for (const char* name : schema.root_texts) text_attribute(file, name, fdp_.ConsumeRandomLengthString(64));
        for (const auto& table : schema.tables) {
            if (rare()) continue;
            Handle group(H5Gcreate2(file, table.group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
            const int64_t rows = fdp_.ConsumeIntegralInRange<int64_t>(0, 6);
            int_attribute(group.get(), "rows", count(rows));
            const int64_t dim = fdp_.ConsumeIntegralInRange<int64_t>(0, 6);
            if (std::string(table.group) == "embeddings") int_attribute(group.get(), "dim", count(dim));
            for (const auto& column : table.columns) dataset(group.get(), column, rows, dim);
            if (std::string(table.group) == "files") metadata(group.get(), rows);
        }
    }

private:
    bool rare() { return fdp_.ConsumeIntegralInRange(0, 15) == 0; }

    // Mostly `n`; else off by one, negative or huge.
    int64_t count(int64_t n) {
        switch (fdp_.ConsumeIntegralInRange(0, 11)) {
            case 0: return n + 1;
            case 1: return n - 1;
            case 2: return -fdp_.ConsumeIntegralInRange<int64_t>(1, std::numeric_limits<int64_t>::max());
            case 3: return huge[fdp_.ConsumeIntegralInRange<size_t>(0, huge.size() - 1)];
            default: return n;
        }
    }

    // Mostly a scalar int64; else missing, a string, a float or an array of several.
    void int_attribute(hid_t object, const char* name, int64_t value) {
        switch (fdp_.ConsumeIntegralInRange(0, 11)) {
            case 0: return;
            case 1: return text_attribute(object, name, std::to_string(value));
            case 2: {
                double real = static_cast<double>(value);
                return attribute(object, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &real);
            }
            case 3: {
                std::vector<int64_t> values(fdp_.ConsumeIntegralInRange<size_t>(0, 4), value);
                return attribute(object, name, H5T_STD_I64LE, H5T_NATIVE_INT64, values.size(), values.data());
            }
            default: return attribute(object, name, H5T_STD_I64LE, H5T_NATIVE_INT64, 0, &value);
        }
    }

    // Mostly a scalar variable-length string; else missing, an integer, fixed-length or an array.
    void text_attribute(hid_t object, const char* name, const std::string& value) {
        Handle variable = string_type(H5T_VARIABLE);
        const char* text = value.c_str();
        switch (fdp_.ConsumeIntegralInRange(0, 11)) {
            case 0: return;
            case 1: {
                int64_t number = static_cast<int64_t>(value.size());
                return attribute(object, name, H5T_STD_I64LE, H5T_NATIVE_INT64, 0, &number);
            }
            case 2: {
                Handle fixed = string_type(value.size() + 1);
                return attribute(object, name, fixed.get(), fixed.get(), 0, text);
            }
            case 3: {
                std::vector<const char*> texts(fdp_.ConsumeIntegralInRange<size_t>(0, 4), text);
                return attribute(object, name, variable.get(), variable.get(), texts.size(), texts.data());
            }
            default: return attribute(object, name, variable.get(), variable.get(), 0, &text);
        }
    }

    // elements 0: a scalar; else a 1-D array of that many.
    static void attribute(hid_t object, const char* name, hid_t file_type, hid_t memory_type, size_t elements,
                          const void* values) {
        hsize_t dims[1] = {elements};
        Handle space(elements == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, nullptr), H5Sclose);
        Handle attribute(H5Acreate2(object, name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
        if (attribute.get() >= 0) H5Awrite(attribute.get(), memory_type, values);
    }

    static Handle string_type(size_t size) {
        Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
        H5Tset_size(type.get(), size);
        return type;
    }

    void dataset(hid_t group, const Column& column, int64_t rows, int64_t dim) {
        if (rare()) return;
        Kind kind = rare() ? static_cast<Kind>(fdp_.ConsumeIntegralInRange(0, last_kind)) : column.kind;
        std::vector<hsize_t> dims = {static_cast<hsize_t>(std::max<int64_t>(0, count(rows)))};
        if (kind == Kind::matrix) dims.push_back(static_cast<hsize_t>(std::max<int64_t>(0, count(dim))));
        if (rare()) dims.push_back(fdp_.ConsumeIntegralInRange<hsize_t>(0, 3));  // one dimension too many
        if (rare() && dims.size() > 1) dims.pop_back();
        hsize_t elements = 1;
        for (hsize_t d : dims)
            elements = d != 0 && elements > std::numeric_limits<hsize_t>::max() / d ? 0 : elements * d;
        const bool holds_data = elements <= max_written;
        Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);

        Handle type;
        std::vector<uint8_t> bytes;
        std::vector<std::string> texts;
        std::vector<const char*> pointers;
        const void* values = nullptr;
        switch (kind) {
            case Kind::text: {
                type = string_type(rare() ? 8 : H5T_VARIABLE);
                for (hsize_t i = 0; holds_data && i < elements; ++i)
                    texts.push_back(fdp_.ConsumeRandomLengthString(40));
                for (const auto& text : texts) pointers.push_back(text.c_str());
                if (H5Tis_variable_str(type.get()) > 0) {
                    values = pointers.data();
                } else {
                    values = random_bytes(bytes, elements * 8, holds_data);
                }
                break;
            }
            case Kind::status: {
                type = Handle(H5Tenum_create(rare() ? H5T_NATIVE_UINT16 : H5T_NATIVE_UINT8), H5Tclose);
                const int names = fdp_.ConsumeIntegralInRange(1, 9);
                for (int i = 0; i < names; ++i) {
                    uint16_t value16 = static_cast<uint16_t>(i);
                    uint8_t value8 = static_cast<uint8_t>(i);
                    H5Tenum_insert(type.get(), ("s" + std::to_string(i)).c_str(),
                                   H5Tget_size(type.get()) == 1 ? static_cast<void*>(&value8) : &value16);
                }
                values = random_bytes(bytes, elements * H5Tget_size(type.get()), holds_data);
                break;
            }
            case Kind::matrix:
            case Kind::f32: {
                type = Handle(H5Tcopy(H5T_NATIVE_FLOAT), H5Tclose);
                values = floats(bytes, elements, dims.size() == 2 ? dims[1] : 1, holds_data);
                break;
            }
            default: {
                static const std::array<hid_t, 4> natives = {H5T_NATIVE_UINT8, H5T_NATIVE_UINT32, H5T_NATIVE_UINT64,
                                                             H5T_NATIVE_INT64};
                hid_t native = kind == Kind::f64 ? H5T_NATIVE_DOUBLE : natives[static_cast<size_t>(kind)];
                type = Handle(H5Tcopy(native), H5Tclose);
                values = random_bytes(bytes, elements * H5Tget_size(type.get()), holds_data);
            }
        }
        Handle set(H5Dcreate2(group, column.name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                   H5Dclose);
        if (set.get() >= 0 && holds_data && elements > 0)
            H5Dwrite(set.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
    }

    const void* random_bytes(std::vector<uint8_t>& bytes, size_t size, bool holds_data) {
        if (!holds_data) return nullptr;
        bytes = fdp_.ConsumeBytes<uint8_t>(size);
        bytes.resize(size);
        return bytes.data();
    }

    // Rows of unit length (what a writer stores) or raw bit patterns: NaN, infinities, huge.
    const void* floats(std::vector<uint8_t>& bytes, size_t elements, size_t row_length, bool holds_data) {
        if (!holds_data) return nullptr;
        const bool raw = fdp_.ConsumeBool();
        random_bytes(bytes, elements * sizeof(float), true);
        auto* values = reinterpret_cast<float*>(bytes.data());
        for (size_t row = 0; !raw && row_length > 0 && row < elements / row_length; ++row) {
            float* v = values + row * row_length;
            double norm = 0;
            for (size_t i = 0; i < row_length; ++i) {
                v[i] = static_cast<float>(static_cast<uint8_t>(bytes[row * row_length + i]) % 17) - 8.0f;
                norm += static_cast<double>(v[i]) * v[i];
            }
            for (size_t i = 0; i < row_length && norm > 0; ++i) v[i] = static_cast<float>(v[i] / std::sqrt(norm));
        }
        return values;
    }

    // The catalog's files/meta: one group per metadata column with `value` and `present`.
    void metadata(hid_t files, int64_t rows) {
        if (!fdp_.ConsumeBool()) return;
        Handle meta(H5Gcreate2(files, "meta", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
        const int columns = fdp_.ConsumeIntegralInRange(0, 3);
        for (int i = 0; i < columns; ++i) {
            std::string name = fdp_.ConsumeRandomLengthString(12);
            Handle column(H5Gcreate2(meta.get(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
            if (column.get() < 0) continue;
            dataset(column.get(), {"value", Kind::text}, rows, 0);
            dataset(column.get(), {"present", Kind::u8}, rows, 0);
        }
    }

    FuzzedDataProvider& fdp_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace audiosim;
    static const bool quiet = [] { return H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr) >= 0; }();
    (void)quiet;
    FuzzedDataProvider fdp(data, size);
    const size_t which = fdp.ConsumeIntegralInRange<size_t>(0, fuzz::segment_readers().size() - 1);
    const auto& reader = fuzz::segment_readers()[which];
    const std::string path = fuzz::scratch_folder() + "/segment.h5";
    {
        Handle file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
        if (file.get() < 0) std::abort();
        SegmentWriter(fdp).write(file.get(), reader.format, schemas()[which]);
    }
    fuzz::expect_errors([&] { reader.read(path); });
    return 0;
}
