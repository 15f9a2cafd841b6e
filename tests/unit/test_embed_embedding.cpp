// lib/embed/embedding: row normalization, the embeddable-chunk rule, option checks, and the engine
// (embed_files, embed_audio_file) through the default model and the torch plugin beside unit_tests.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <sndfile.h>

#include "chunk/chunker.hpp"
#include "chunk/profile.hpp"
#include "embed/embedding.hpp"
#include "ingest/ingest.hpp"
#include "model/backend.hpp"
#include "model/spec.hpp"
#include "store/store.hpp"
#include "support.hpp"
#include "util/fs.hpp"

using audiosim::Chunk;
using audiosim::EmbedOptions;
using audiosim::ErrorKind;
using audiosim::test::contains;
using audiosim::test::error_of;

namespace {

double norm_of(const float* row, size_t dim) {
    double sum = 0;
    for (size_t i = 0; i < dim; i++) sum += double{row[i]} * row[i];
    return std::sqrt(sum);
}

constexpr int wav16 = SF_FORMAT_WAV | SF_FORMAT_PCM_16;

// A library of tones at the default model's rate (no resampler between file and model), ingested.
struct Library : audiosim::test::TestLibrary {
    audiosim::ModelSpec model = audiosim::find_model(audiosim::default_model_name);

    void add_tone(const std::string& relative, double frequency, double seconds = 2.5) const {
        audiosim::make_directories(audiosim::parent_path(file(relative)));
        audiosim::test::write_sine(file(relative), wav16, static_cast<int>(model.sample_rate), 1,
                                   static_cast<long>(seconds * model.sample_rate), frequency);
    }
    void ingest() const {
        audiosim::IngestOptions options;
        options.inputs = {root};
        options.prune = true;
        audiosim::StoreWriter writer(store, writer_options());
        audiosim::ingest(writer, options, nullptr, nullptr);
    }
    audiosim::EmbedSummary embed(EmbedOptions options, std::vector<audiosim::EmbeddedFile>* files = nullptr) const {
        audiosim::StoreWriter writer(store, writer_options());
        return audiosim::embed_files(
            writer, model, options, [&](const audiosim::EmbeddedFile& file) { if (files) files->push_back(file); }, nullptr);
    }
    audiosim::EmbeddingTable vectors(const EmbedOptions& options) const {
        return audiosim::StoreReader(store).load_embeddings(options.profile.name + "/" + model.id());
    }
    uint64_t file_id(const std::string& path) const {
        const audiosim::Catalog catalog = audiosim::StoreReader(store).load_catalog();  // owns the record
        const audiosim::FileRecord* record = catalog.find(path);
        REQUIRE(record != nullptr);
        return record->file_id;
    }
};

EmbedOptions cpu_options() {
    EmbedOptions options;
    options.profile = audiosim::preset_profile("sample");
    options.device = "cpu";
    return options;
}

}  // namespace

TEST_SUITE_BEGIN("embed/embedding");

TEST_CASE("normalize_rows: each row to unit length in its own direction; a zero row stays zero") {
    std::vector<float> rows = {3, 4, 0,     // norm 5
                               0, 0, 0,     // zero: no direction to keep
                               1e-30f, 0, 0,  // its square underflows a float: summed in double
                               -2, 0, 0};
    audiosim::normalize_rows(rows, 3);
    CHECK(rows[0] == doctest::Approx(0.6));
    CHECK(rows[1] == doctest::Approx(0.8));
    CHECK(rows[2] == 0.0f);
    CHECK(rows[3] == 0.0f);
    CHECK(rows[4] == 0.0f);
    CHECK(rows[5] == 0.0f);
    CHECK(rows[6] == doctest::Approx(1.0));
    CHECK(rows[9] == doctest::Approx(-1.0));
    std::vector<float> none;
    audiosim::normalize_rows(none, 3);
    CHECK(none.empty());
}

TEST_CASE("validate_embed_options: devices and precisions, fp16 only on CUDA") {
    EmbedOptions options;
    for (const char* device : {"auto", "cpu", "cuda", "cuda:0", "cuda:12"}) {
        options.device = device;
        for (const char* precision : {"fp32", "bf16"}) {
            options.precision = precision;
            CHECK_NOTHROW(audiosim::validate_embed_options(options));
        }
    }
    options.precision = "fp16";
    for (const char* device : {"auto", "cuda", "cuda:1"}) {
        options.device = device;
        CHECK_NOTHROW(audiosim::validate_embed_options(options));
    }
    options.device = "cpu";
    auto [kind, message] = error_of([&] { audiosim::validate_embed_options(options); });
    CHECK(kind == ErrorKind::usage);
    CHECK(contains(message, "fp16"));

    options.precision = "fp32";
    for (const char* device : {"gpu", "CPU", "cuda:", "cuda:x", "cuda:-1", "cuda0", ""}) {
        options.device = device;
        auto [device_kind, device_message] = error_of([&] { audiosim::validate_embed_options(options); });
        CHECK_MESSAGE(device_kind == ErrorKind::usage, device);
        CHECK(contains(device_message, "unknown device '" + std::string(device) + "'"));
    }
    options.device = "cpu";
    for (const char* precision : {"fp64", "FP32", "int8", ""}) {
        options.precision = precision;
        auto [precision_kind, precision_message] = error_of([&] { audiosim::validate_embed_options(options); });
        CHECK_MESSAGE(precision_kind == ErrorKind::usage, precision);
        CHECK(contains(precision_message, "unknown precision '" + std::string(precision) + "'"));
    }
}

TEST_CASE("embed_audio_file: the unflagged chunks in order, each the normalized model output of its samples") {
    Library library;
    const audiosim::ModelSpec& spec = library.model;
    const size_t dim = static_cast<size_t>(spec.embedding_dim);
    const std::string path = library.file("tone.wav");
    // 1 s of tone, 2 s of silence, 1 s of tone: the sample profile's 2 s windows 1 s apart.
    std::vector<float> samples(4 * spec.sample_rate, 0.0f);
    for (size_t i = 0; i < spec.sample_rate; i++) {
        samples[i] = 0.5f * static_cast<float>(std::sin(2 * M_PI * 440.0 * static_cast<double>(i) / spec.sample_rate));
        samples[samples.size() - 1 - i] = samples[i];
    }
    audiosim::test::write_samples(path, SF_FORMAT_WAV | SF_FORMAT_FLOAT, static_cast<int>(spec.sample_rate), 1, samples);
    const audiosim::ChunkProfile profile = audiosim::preset_profile("sample");
    std::vector<Chunk> cut = audiosim::chunk_file(path, profile);
    auto model = audiosim::torch_backend("cpu").load(spec.weights_path, "cpu", 1, "fp32");

    audiosim::EmbeddedAudio one = audiosim::embed_audio_file(path, profile, spec, *model, 1, audiosim::ResampleQuality::fast);
    audiosim::EmbeddedAudio many = audiosim::embed_audio_file(path, profile, spec, *model, 8, audiosim::ResampleQuality::fast);
    std::vector<Chunk> unflagged;
    for (const Chunk& chunk : cut)
        if (!chunk.flags) unflagged.push_back(chunk);
    REQUIRE(unflagged.size() >= 2);
    REQUIRE(unflagged.size() < cut.size());  // the silent middle window is flagged and left out
    REQUIRE(one.chunks.size() == unflagged.size());
    for (size_t i = 0; i < unflagged.size(); i++) CHECK(one.chunks[i].start_frame == unflagged[i].start_frame);
    REQUIRE(one.vectors.size() == one.chunks.size() * dim);
    CHECK(many.vectors == one.vectors);  // the batch size changes nothing on the CPU
    for (size_t i = 0; i < one.chunks.size(); i++) CHECK(norm_of(&one.vectors[i * dim], dim) == doctest::Approx(1.0));

    // The first chunk by hand: the file is at the model's rate, so its samples go in unchanged.
    const Chunk& first = one.chunks.front();
    std::vector<float> wave(samples.begin() + first.start_frame, samples.begin() + first.start_frame + first.frames);
    std::vector<float> expected = model->embed(wave, 1, static_cast<int64_t>(wave.size()), {static_cast<int64_t>(wave.size())},
                                               spec.embedding_dim);
    audiosim::normalize_rows(expected, dim);
    CHECK(std::vector<float>(one.vectors.begin(), one.vectors.begin() + static_cast<std::ptrdiff_t>(dim)) == expected);
}

TEST_CASE("embed_audio_file: a silent file has nothing to embed; a file that is not audio is Error(input) naming it") {
    Library library;
    const audiosim::ModelSpec& spec = library.model;
    auto model = audiosim::torch_backend("cpu").load(spec.weights_path, "cpu", 1, "fp32");
    const audiosim::ChunkProfile profile = audiosim::preset_profile("sample");
    const std::string silent = library.file("silent.wav");
    audiosim::test::write_samples(silent, wav16, static_cast<int>(spec.sample_rate), 1, std::vector<float>(3 * spec.sample_rate, 0.0f));
    audiosim::EmbeddedAudio none = audiosim::embed_audio_file(silent, profile, spec, *model, 8, audiosim::ResampleQuality::fast);
    CHECK(none.chunks.empty());
    CHECK(none.vectors.empty());

    const std::string text = library.file("notes.wav");
    audiosim::test::write_bytes(text, "not audio at all");
    auto [kind, message] = error_of([&] {
        audiosim::embed_audio_file(text, profile, spec, *model, 8, audiosim::ResampleQuality::fast);
    });
    CHECK(kind == ErrorKind::input);
    CHECK(contains(message, text));
}

TEST_CASE("embed_files: every file once, the vectors a query of the same file gets; incremental; dropped files") {
    Library library;
    library.add_tone("a/low.wav", 220);
    library.add_tone("a/high.wav", 1760);
    library.add_tone("b/mid.wav", 660, 1.5);
    audiosim::test::write_samples(library.file("b/silent.wav"), wav16, static_cast<int>(library.model.sample_rate), 1,
                                  std::vector<float>(library.model.sample_rate, 0.0f));
    library.ingest();
    const EmbedOptions options = cpu_options();
    const size_t dim = static_cast<size_t>(library.model.embedding_dim);

    std::vector<audiosim::EmbeddedFile> reported;
    audiosim::EmbedSummary first = library.embed(options, &reported);
    CHECK(first.model_id == library.model.id());
    CHECK(first.device == "cpu");
    CHECK(first.batch_size == 32);  // the CPU's default
    CHECK(first.files_embedded == 3);
    CHECK(first.files_decoded_once == 3);  // chunked in the same run: embedded from chunking's decoding
    CHECK(first.files_up_to_date == 1);  // the silent file: every chunk flagged, nothing to embed
    CHECK(first.files_failed == 0);
    CHECK(first.chunks_flagged >= 1);
    CHECK(reported.size() == 3);
    for (const audiosim::EmbeddedFile& file : reported) CHECK(file.error.empty());

    audiosim::EmbeddingTable table = library.vectors(options);
    CHECK(table.dim() == dim);
    CHECK(table.by_file().size() == 3);
    CHECK(table.vector_count() == first.chunks_embedded);
    CHECK_FALSE(table.has_file(library.file_id("b/silent.wav")));
    // Stored files and queries go through the same cutting and model: the same vector bits.
    auto model = audiosim::torch_backend("cpu").load(library.model.weights_path, "cpu", 1, "fp32");
    for (const char* path : {"a/low.wav", "a/high.wav", "b/mid.wav"}) {
        audiosim::EmbeddedAudio query = audiosim::embed_audio_file(library.file(path), options.profile, library.model, *model, 8,
                                                                   options.quality);
        CHECK_MESSAGE(table.by_file().at(library.file_id(path)).vectors == query.vectors, path);
    }

    audiosim::EmbedSummary again = library.embed(options);
    CHECK(again.files_embedded == 0);
    CHECK(again.files_up_to_date == 4);
    CHECK(again.commits == 0);

    // A changed file gets a new id and new vectors; a removed one loses its vectors.
    library.add_tone("a/low.wav", 330);
    std::filesystem::remove(library.file("a/high.wav"));
    library.ingest();
    audiosim::EmbedSummary later = library.embed(options);
    CHECK(later.files_embedded == 1);
    CHECK(later.files_decoded_once == 1);
    CHECK(later.files_dropped == 2);  // the old a/low.wav and a/high.wav
    audiosim::EmbeddingTable after = library.vectors(options);
    CHECK(after.by_file().size() == 2);
    CHECK(after.has_file(library.file_id("a/low.wav")));
}

TEST_CASE("embed_files: bad options are refused before any work") {
    Library library;
    library.add_tone("a.wav", 440);
    library.ingest();
    EmbedOptions options = cpu_options();
    options.device = "tpu";
    CHECK(error_of([&] { library.embed(options); }).first == ErrorKind::usage);
    CHECK(audiosim::StoreWriter(library.store, library.writer_options()).load_chunks("sample").by_file().empty());  // not even chunked
}

TEST_SUITE_END();
