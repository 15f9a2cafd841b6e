#include "support.hpp"

#include "util/fs.hpp"

#include <cctype>
#include <cmath>
#include <fcntl.h>
#include <sys/stat.h>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <vector>

#include <doctest/doctest.h>
#include <hdf5.h>
#include <sndfile.h>

namespace audiosim::test {

namespace {

// Remembers whether an assertion of the running test case failed, so its folders are kept.
bool current_test_failed = false;

struct FailureListener : doctest::IReporter {
    explicit FailureListener(const doctest::ContextOptions&) {}
    void report_query(const doctest::QueryData&) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats&) override {}
    void test_case_start(const doctest::TestCaseData&) override { current_test_failed = false; }
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats&) override {}
    void test_case_exception(const doctest::TestCaseException&) override { current_test_failed = true; }
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData& data) override { current_test_failed |= data.m_failed; }
    void log_message(const doctest::MessageData&) override {}
    void test_case_skipped(const doctest::TestCaseData&) override {}
};

}  // namespace

DOCTEST_REGISTER_LISTENER("keep-failed-folders", 1, FailureListener);

TempFolder::TempFolder() {
    std::string pattern = (std::filesystem::temp_directory_path() / "audiosim-unit-XXXXXX").string();
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (!::mkdtemp(buffer.data())) throw std::runtime_error("mkdtemp failed");
    path_ = buffer.data();
}

TempFolder::~TempFolder() {
    if (current_test_failed) {
        std::fprintf(stderr, "kept the failed test's folder %s\n", path_.c_str());
        return;
    }
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::FILE* file = std::fopen(path.c_str(), "wb");
    if (!file) throw std::runtime_error("cannot write " + path);
    std::fwrite(bytes.data(), 1, bytes.size(), file);
    std::fclose(file);
}

std::vector<std::string> sorted_entries(const std::string& folder) {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(folder)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

void write_samples(const std::string& path, int format, int sample_rate, int channels, const std::vector<float>& samples) {
    SF_INFO info{};
    info.samplerate = sample_rate;
    info.channels = channels;
    info.format = format;
    SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
    REQUIRE_MESSAGE(file != nullptr, sf_strerror(nullptr));
    sf_count_t frames = static_cast<sf_count_t>(samples.size() / static_cast<size_t>(channels));
    CHECK(sf_writef_float(file, samples.data(), frames) == frames);
    sf_close(file);
}

void write_sine(const std::string& path, int format, int sample_rate, int channels, long frames, double frequency) {
    std::vector<float> samples(static_cast<size_t>(frames) * static_cast<size_t>(channels));
    for (long i = 0; i < frames; ++i)
        for (int c = 0; c < channels; ++c)
            samples[static_cast<size_t>(i * channels + c)] =
                static_cast<float>(0.5 * std::sin(2 * M_PI * frequency * static_cast<double>(i) / sample_rate));
    write_samples(path, format, sample_rate, channels, samples);
}

std::pair<ErrorKind, std::string> error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& error) {
        return {error.kind(), error.what()};
    }
    FAIL("no audiosim::Error thrown");
    return {ErrorKind::internal, ""};
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

bool has_number(const std::string& text, const std::string& number) {
    for (size_t at = text.find(number); at != std::string::npos; at = text.find(number, at + 1)) {
        bool digit_before = at > 0 && std::isdigit(static_cast<unsigned char>(text[at - 1]));
        size_t end = at + number.size();
        bool digit_after = end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]));
        if (!digit_before && !digit_after) return true;
    }
    return false;
}

void set_mtime(const std::string& path, int64_t seconds) {
    struct timespec times[2];
    times[0].tv_sec = static_cast<time_t>(seconds);
    times[0].tv_nsec = 0;
    times[1] = times[0];
    REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
}

void set_root_int_attribute(const std::string& path, const char* name, int64_t value) {
    hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(file >= 0);
    hid_t attribute = H5Aopen(file, name, H5P_DEFAULT);
    REQUIRE(attribute >= 0);
    CHECK(H5Awrite(attribute, H5T_NATIVE_INT64, &value) >= 0);
    H5Aclose(attribute);
    H5Fclose(file);
}

void remove_h5_links(const std::string& path, const std::vector<std::string>& names) {
    hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(file >= 0);
    for (const std::string& name : names) CHECK(H5Ldelete(file, name.c_str(), H5P_DEFAULT) >= 0);
    H5Fclose(file);
}

CurrentFolder::CurrentFolder(const std::string& folder) : saved_(std::filesystem::current_path()) {
    std::filesystem::current_path(folder);
}

CurrentFolder::~CurrentFolder() { std::filesystem::current_path(saved_); }

UnitVectors random_unit_vectors(size_t n, size_t dim, uint64_t seed) {
    std::mt19937_64 random(seed);
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    UnitVectors data{dim, {}, std::vector<float>(n * dim)};
    for (size_t i = 0; i < n; i++) data.ids.push_back(3'000'000'019ull * (i + 1));
    std::shuffle(data.ids.begin(), data.ids.end(), random);
    for (size_t i = 0; i < n; i++) {
        double norm = 0;
        for (size_t d = 0; d < dim; d++) {
            float x = gauss(random);
            data.vectors[i * dim + d] = x;
            norm += double{x} * x;
        }
        for (size_t d = 0; d < dim; d++) data.vectors[i * dim + d] /= static_cast<float>(std::sqrt(norm));
    }
    return data;
}

namespace {
const std::vector<float> tie_query = {0.5f, 0.5f, 0.5f, 0.5f};
}  // namespace

UnitVectors tied_unit_vectors() {
    const std::vector<float> orthogonal = {0.5f, -0.5f, 0.5f, -0.5f};
    UnitVectors data;
    data.dim = 4;
    for (uint64_t id = 90; id >= 10; id -= 10) {
        data.ids.push_back(id);
        data.vectors.insert(data.vectors.end(), tie_query.begin(), tie_query.end());
        data.ids.push_back(id + 1);
        data.vectors.insert(data.vectors.end(), orthogonal.begin(), orthogonal.end());
    }
    return data;
}

void check_tie_order(const ExactSearch& search) {
    auto results = search.search(tie_query.data(), 1, 4);
    REQUIRE(results.size() == 1);
    REQUIRE(results[0].size() == 4);
    for (size_t i = 0; i < 4; i++) {
        CHECK(results[0][i].first == 10 * (i + 1));
        CHECK(results[0][i].second == 1.0f);
    }
    auto all = search.search(tie_query.data(), 1, 100)[0];
    REQUIRE(all.size() == 18);
    CHECK(all[9].first == 11);  // the first of the orthogonal rows, by id
    CHECK(all[9].second == 0.0f);
    CHECK(all[17].first == 91);
}

namespace {

std::vector<float> gaussian(std::mt19937_64& random, size_t dim, float sigma) {
    std::normal_distribution<float> gauss(0.0f, sigma);
    std::vector<float> out(dim);
    for (float& x : out) x = gauss(random);
    return out;
}

void normalize(float* row, size_t dim) {
    double norm = 0;
    for (size_t d = 0; d < dim; d++) norm += double{row[d]} * row[d];
    auto scale = static_cast<float>(1.0 / std::sqrt(norm));
    for (size_t d = 0; d < dim; d++) row[d] *= scale;
}

// `base` plus noise of total length about `spread`, normalized.
std::vector<float> jitter(std::mt19937_64& random, const std::vector<float>& base, double spread) {
    std::vector<float> out = gaussian(random, base.size(), static_cast<float>(spread / std::sqrt(double(base.size()))));
    for (size_t d = 0; d < base.size(); d++) out[d] += base[d];
    normalize(out.data(), out.size());
    return out;
}

}  // namespace

SyntheticStore::SyntheticStore(size_t dim, size_t clusters, bool paired, uint64_t seed)
    : root_(folder_.file("lib")),
      store_(folder_.file("store")),
      dim_(dim),
      key_("sample/test-model@1"),
      profile_(preset_profile("sample")),
      set_{"test-model@1", "sample", static_cast<int64_t>(dim), nlohmann::json::object(), {}},
      writer_(store_, [&] {
          make_directories(root_);
          WriterOptions options;
          options.command_line = "audiosim (test)";
          options.library_root = root_;
          options.open = audiosim::StoreOpen::create;  // the tests make their stores
          return options;
      }()),
      random_(seed) {
    for (size_t c = 0; c < clusters; c++) {
        std::vector<float> center = gaussian(random_, dim, 1.0f);
        normalize(center.data(), dim);
        if (paired && c % 2 == 1) center = jitter(random_, centers_[c - 1], 0.95);
        centers_.push_back(std::move(center));
    }
}

uint64_t SyntheticStore::add_unchunked(const std::string& path) {
    CatalogDelta delta;
    FileRecord record;
    record.file_id = writer_.allocate_file_id();
    record.path = path;
    record.hash = 0x9e3779b97f4a7c15ull * next_hash_++;
    delta.records.push_back(record);
    writer_.commit(std::move(delta));
    return record.file_id;
}

std::vector<uint64_t> SyntheticStore::add(const std::vector<File>& files) {
    auto set = writer_.manifest().chunk_sets.find(profile_.name);
    uint64_t next_chunk_id = set == writer_.manifest().chunk_sets.end() ? 1 : set->second.next_chunk_id;
    CatalogDelta catalog;
    ChunkDelta chunks;
    EmbeddingDelta embeddings;
    embeddings.dim = dim_;
    std::vector<uint64_t> ids;
    for (const File& spec : files) {
        FileRecord record;
        record.file_id = writer_.allocate_file_id();
        record.path = spec.path;
        record.hash = 0x9e3779b97f4a7c15ull * next_hash_++;
        record.size = 1000;
        record.audio.sample_rate = 8000;
        record.audio.channels = 1;
        record.audio.frames = static_cast<int64_t>(8000 * (spec.chunks + 1));
        record.audio.duration = static_cast<double>(spec.chunks + 1);
        for (const auto& [column, value] : spec.metadata) record.set_metadata(column, value);
        ids.push_back(record.file_id);
        std::vector<float> point = jitter(random_, centers_.at(spec.cluster), 0.45);
        std::vector<float>& vectors = vectors_[record.file_id];
        for (size_t i = 0; i < spec.chunks; i++) {
            Chunk chunk;  // chunk_id 0: commit_chunks numbers them from next_chunk_id, in order
            chunk.file_id = record.file_id;
            chunk.start_frame = static_cast<int64_t>(8000 * i);
            chunk.frames = 16000;
            chunk.start = static_cast<double>(i);
            chunk.duration = 2.0;
            chunk.rms_db = -20;
            chunk.peak_db = -6;
            chunks.chunks.push_back(chunk);
            chunk_ids_[record.file_id].push_back(next_chunk_id);
            embeddings.chunk_ids.push_back(next_chunk_id++);
            embeddings.file_ids.push_back(record.file_id);
            std::vector<float> vector = jitter(random_, point, 0.2);
            vectors.insert(vectors.end(), vector.begin(), vector.end());
            embeddings.vectors.insert(embeddings.vectors.end(), vector.begin(), vector.end());
        }
        catalog.records.push_back(std::move(record));
    }
    writer_.commit(std::move(catalog));
    writer_.commit_chunks(profile_, std::move(chunks));
    REQUIRE(writer_.manifest().chunk_sets.at(profile_.name).next_chunk_id == next_chunk_id);
    writer_.commit_embeddings(set_, std::move(embeddings));
    return ids;
}

void SyntheticStore::remove(const std::vector<std::string>& paths) {
    CatalogDelta catalog;
    ChunkDelta chunks;
    EmbeddingDelta embeddings;
    embeddings.dim = dim_;
    for (const std::string& path : paths) {
        uint64_t id = file_id(path);
        catalog.removed_paths.push_back(path);
        chunks.dropped_file_ids.push_back(id);
        embeddings.dropped_file_ids.push_back(id);
    }
    writer_.commit(std::move(catalog));
    writer_.commit_chunks(profile_, std::move(chunks));
    writer_.commit_embeddings(set_, std::move(embeddings));
}

uint64_t SyntheticStore::file_id(const std::string& path) const {
    const FileRecord* record = writer_.catalog().find(path);
    REQUIRE_MESSAGE(record != nullptr, path);
    return record->file_id;
}

std::vector<float> SyntheticStore::near_center(size_t cluster) { return jitter(random_, jitter(random_, centers_.at(cluster), 0.45), 0.2); }

TestLibrary::TestLibrary() { make_directories(root); }

void TestLibrary::add_wav(const std::string& relative, double frequency, int64_t mtime, long frames) const {
    make_directories(parent_path(file(relative)));
    write_sine(file(relative), SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 1, frames, frequency);
    set_mtime(file(relative), mtime);
}

WriterOptions TestLibrary::writer_options() const {
    WriterOptions options;
    options.command_line = "audiosim (test)";
    options.library_root = root;
    options.open = audiosim::StoreOpen::create;  // the tests make their stores
    return options;
}

}  // namespace audiosim::test
