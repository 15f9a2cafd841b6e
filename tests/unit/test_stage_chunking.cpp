// lib/chunk/chunking: the chunk engine over a store ingested from a temporary library.
#include <atomic>
#include <cstdint>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <sys/stat.h>
#include <vector>

#include <doctest/doctest.h>
#include <sndfile.h>

#include "stage/chunking.hpp"
#include "chunk/profile.hpp"
#include "ingest/ingest.hpp"
#include "store/store.hpp"
#include "support.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using audiosim::ChunkedFile;
using audiosim::ChunkProfile;
using audiosim::ChunkRunOptions;
using audiosim::ChunkSummary;
using audiosim::ChunkTable;
using audiosim::ErrorKind;
using audiosim::FileRecord;
using audiosim::IngestOptions;
using audiosim::StoreReader;
using audiosim::StoreWriter;
using audiosim::test::contains;
using audiosim::test::error_of;
using audiosim::test::TempFolder;
using audiosim::test::write_bytes;
using audiosim::test::write_sine;

using audiosim::test::set_mtime;

namespace {

constexpr int wav16 = SF_FORMAT_WAV | SF_FORMAT_PCM_16;

// The shared library fixture, plus ingest and reading back what chunking stored.
struct Library : audiosim::test::TestLibrary {
    void ingest(bool prune = false) const {
        IngestOptions options;
        options.inputs = {root};
        options.prune = prune;
        StoreWriter writer(store, writer_options());
        audiosim::ingest(writer, options, nullptr, nullptr);
    }

    audiosim::Catalog catalog() const { return StoreReader(store).load_catalog(); }
    uint64_t file_id(const std::string& path) const {
        audiosim::Catalog stored = catalog();
        const FileRecord* record = stored.find(path);
        REQUIRE(record != nullptr);
        return record->file_id;
    }
    ChunkTable chunks(const std::string& profile = "sample") const { return StoreReader(store).load_chunks(profile); }
};

struct Run {
    ChunkSummary summary;
    std::vector<std::string> paths;                 // of on_file, in order
    std::map<std::string, std::string> errors;      // path -> error
    std::vector<std::pair<size_t, size_t>> progress;
};

ChunkRunOptions options_with(const std::string& preset = "sample") {
    ChunkRunOptions options;
    options.profile = audiosim::preset_profile(preset);
    return options;
}

Run run_chunk(const Library& library, const ChunkRunOptions& options) {
    StoreWriter writer(library.store, library.writer_options());
    Run run;
    run.summary = audiosim::chunk_files(
        writer, options,
        [&](const ChunkedFile& file) {
            REQUIRE(file.file != nullptr);
            run.paths.push_back(file.file->path);
            if (!file.error.empty()) run.errors[file.file->path] = file.error;
            else CHECK(!file.chunks.empty());
            for (const auto& chunk : file.chunks) CHECK(chunk.file_id == file.file->file_id);
        },
        [&](size_t done, size_t total) { run.progress.emplace_back(done, total); });
    return run;
}

Run run_chunk(const Library& library) { return run_chunk(library, options_with()); }

std::set<uint64_t> all_chunk_ids(const ChunkTable& table) {
    std::set<uint64_t> ids;
    for (const auto& entry : table.by_file())
        for (const auto& chunk : entry.second) ids.insert(chunk.chunk_id);
    return ids;
}

}  // namespace

TEST_SUITE_BEGIN("chunk/chunking");

TEST_CASE("a first run chunks every ok file of the catalog and commits them") {
    Library library;
    library.add_wav("a.wav", 440);                  // 0.1 s: one chunk
    library.add_wav("drums/b.wav", 550, Library::default_mtime, 8000 * 3);  // 3 s: windows at 0 and 1 s
    library.add_wav("c d.wav", 660);
    write_bytes(library.file("garbage.wav"), std::string(2000, 'g'));  // failed at ingest: not chunked
    {
        SF_INFO info{};
        info.samplerate = 8000;
        info.channels = 1;
        info.format = wav16;
        SNDFILE* file = sf_open(library.file("silence.wav").c_str(), SFM_WRITE, &info);
        REQUIRE(file != nullptr);
        std::vector<short> zeros(8000, 0);
        sf_writef_short(file, zeros.data(), 8000);
        sf_close(file);
    }
    library.ingest();

    Run run = run_chunk(library);
    CHECK(run.summary.files_chunked == 4);
    CHECK(run.summary.files_failed == 0);
    CHECK(run.summary.files_up_to_date == 0);
    CHECK(run.summary.files_dropped == 0);
    CHECK(run.summary.chunks == 5);
    CHECK(run.summary.commits >= 1);
    CHECK_FALSE(run.summary.interrupted);
    CHECK(run.summary.audio_seconds > 0);
    CHECK(run.summary.flagged == std::map<std::string, size_t>{{"silent", 1}});
    CHECK(run.summary.to_json().at("flagged").at("silent") == 1);
    CHECK(run.paths == std::vector<std::string>{"a.wav", "c d.wav", "drums/b.wav", "silence.wav"});
    CHECK(run.errors.empty());
    REQUIRE(!run.progress.empty());
    CHECK(run.progress.back() == std::pair<size_t, size_t>{4, 4});

    ChunkTable table = library.chunks();
    CHECK(table.chunk_count() == 5);
    CHECK(table.by_file().size() == 4);
    CHECK(all_chunk_ids(table).size() == 5);
    const auto* b = table.chunks_of(library.file_id("drums/b.wav"));
    REQUIRE(b != nullptr);
    REQUIRE(b->size() == 2);
    CHECK(b->at(0).start_frame == 0);
    CHECK(b->at(1).start_frame == 8000);
    CHECK(b->at(1).frames == 16000);
    const auto* a = table.chunks_of(library.file_id("a.wav"));
    REQUIRE(a != nullptr);
    REQUIRE(a->size() == 1);
    CHECK(a->at(0).frames == 800);
    CHECK(a->at(0).flags == 0);

    // The run is recorded in the manifest.
    StoreReader reader(library.store);
    REQUIRE(!reader.manifest().runs.empty());
    CHECK(reader.manifest().runs.front().command == "chunk");
    CHECK(reader.manifest().runs.front().summary.at("files_chunked") == 4);
}

TEST_CASE("a second run finds every file up to date and adds nothing") {
    Library library;
    library.add_wav("a.wav", 440);
    library.add_wav("b.wav", 550, Library::default_mtime, 8000 * 3);
    library.ingest();
    run_chunk(library);
    std::set<uint64_t> ids = all_chunk_ids(library.chunks());

    Run again = run_chunk(library);
    CHECK(again.summary.files_up_to_date == 2);
    CHECK(again.summary.files_chunked == 0);
    CHECK(again.summary.files_dropped == 0);
    CHECK(again.summary.files_failed == 0);
    CHECK(again.summary.chunks == 0);
    CHECK(again.summary.commits == 0);
    CHECK(again.paths.empty());
    CHECK(all_chunk_ids(library.chunks()) == ids);
    StoreReader reader(library.store);
    REQUIRE(!reader.manifest().runs.empty());
    CHECK(reader.manifest().runs.front().summary.at("files_up_to_date") == 2);
}

TEST_CASE("a file whose content changed is re-chunked and its old chunks dropped") {
    Library library;
    library.add_wav("a.wav", 440);
    library.add_wav("b.wav", 550);
    library.ingest();
    run_chunk(library);
    uint64_t old_id = library.file_id("a.wav");
    uint64_t b_id = library.file_id("b.wav");
    std::set<uint64_t> old_chunk_ids = all_chunk_ids(library.chunks());

    library.add_wav("a.wav", 880, 1700000000, 8000 * 3);
    library.ingest();
    uint64_t new_id = library.file_id("a.wav");
    REQUIRE(new_id != old_id);

    Run run = run_chunk(library);
    CHECK(run.summary.files_chunked == 1);
    CHECK(run.summary.files_dropped == 1);
    CHECK(run.summary.files_up_to_date == 1);
    CHECK(run.summary.chunks == 2);
    CHECK(run.paths == std::vector<std::string>{"a.wav"});
    ChunkTable table = library.chunks();
    CHECK_FALSE(table.has_file(old_id));
    REQUIRE(table.has_file(new_id));
    CHECK(table.chunks_of(new_id)->size() == 2);
    CHECK(table.has_file(b_id));
    CHECK(table.chunk_count() == 3);
    for (const auto& chunk : *table.chunks_of(new_id)) CHECK(old_chunk_ids.count(chunk.chunk_id) == 0);
}

TEST_CASE("a file removed from the catalog has its chunks dropped") {
    Library library;
    library.add_wav("a.wav", 440);
    library.add_wav("b.wav", 550);
    library.ingest();
    run_chunk(library);
    uint64_t a_id = library.file_id("a.wav");
    std::filesystem::remove(library.file("a.wav"));
    library.ingest(true);
    REQUIRE(library.catalog().find("a.wav") == nullptr);

    Run run = run_chunk(library);
    CHECK(run.summary.files_dropped == 1);
    CHECK(run.summary.files_up_to_date == 1);
    CHECK(run.summary.files_chunked == 0);
    CHECK(run.summary.commits >= 1);
    ChunkTable table = library.chunks();
    CHECK_FALSE(table.has_file(a_id));
    CHECK(table.chunk_count() == 1);
    // Dropped once: the next run has nothing to do.
    CHECK(run_chunk(library).summary.files_dropped == 0);
}

TEST_CASE("a file that cannot be decoded any more fails alone, is recorded, and waits until it changes") {
    Library library;
    library.add_wav("a.wav", 440);
    library.add_wav("b.wav", 550);
    library.add_wav("c.wav", 660);
    library.add_wav("d.wav", 770);
    library.ingest();
    // After ingest, b.wav is deleted and d.wav overwritten with garbage of the same size and mtime.
    std::filesystem::remove(library.file("b.wav"));
    auto size = std::filesystem::file_size(library.file("d.wav"));
    write_bytes(library.file("d.wav"), std::string(size, 'g'));
    set_mtime(library.file("d.wav"), 1600000000);

    Run run = run_chunk(library);
    CHECK(run.summary.files_failed == 2);
    CHECK(run.summary.files_chunked == 2);
    // The cause alone: the caller names the file by its catalog path.
    REQUIRE(run.errors.count("b.wav") == 1);
    CHECK(run.errors["b.wav"] == "No such file or directory");
    REQUIRE(run.errors.count("d.wav") == 1);
    CHECK_FALSE(contains(run.errors["d.wav"], library.root));
    CHECK(run.paths == std::vector<std::string>{"a.wav", "b.wav", "c.wav", "d.wav"});
    ChunkTable table = library.chunks();
    CHECK_FALSE(table.has_file(library.file_id("b.wav")));
    CHECK_FALSE(table.has_file(library.file_id("d.wav")));
    CHECK(table.has_file(library.file_id("a.wav")));
    CHECK(table.has_file(library.file_id("c.wav")));
    CHECK(table.failed() == audiosim::FailureMap{{library.file_id("b.wav"), run.errors["b.wav"]},
                                                 {library.file_id("d.wav"), run.errors["d.wav"]}});

    Run again = run_chunk(library);  // not tried again
    CHECK(again.summary.files_failed == 0);
    CHECK(again.summary.files_failed_before == 2);
    CHECK(again.summary.files_up_to_date == 2);
    CHECK(again.paths.empty());

    ChunkRunOptions retry = options_with();
    retry.retry_failed = true;
    Run retried = run_chunk(library, retry);
    CHECK(retried.summary.files_failed == 2);
    CHECK(retried.paths == std::vector<std::string>{"b.wav", "d.wav"});

    // A changed file is a new file id: chunked, and the old id's failure is forgotten.
    library.add_wav("d.wav", 880, 1700000000);
    library.ingest();
    Run changed = run_chunk(library);
    CHECK(changed.summary.files_chunked == 1);
    CHECK(changed.summary.files_failed_before == 1);
    table = library.chunks();
    CHECK(table.has_file(library.file_id("d.wav")));
    CHECK(table.failed().size() == 1);
    CHECK(table.failed().count(library.file_id("b.wav")) == 1);
}

TEST_CASE("commit_every_files=1 commits after every file") {
    Library library;
    for (int i = 0; i < 3; ++i) library.add_wav("f" + std::to_string(i) + ".wav", 300.0 + 100 * i);
    library.ingest();
    SUBCASE("1") {
        ChunkRunOptions options = options_with();
        options.commit_every_files = 1;
        Run run = run_chunk(library, options);
        CHECK(run.summary.files_chunked == 3);
        CHECK(run.summary.commits == 3);
        CHECK(library.chunks().chunk_count() == 3);
    }
    SUBCASE("0: by time only, once at the end") {
        Run run = run_chunk(library);
        CHECK(run.summary.files_chunked == 3);
        CHECK(run.summary.commits == 1);
    }
}

TEST_CASE("a cancel set before the run chunks nothing and says it was interrupted") {
    Library library;
    library.add_wav("a.wav", 440);
    library.add_wav("b.wav", 550);
    library.ingest();
    std::atomic<bool> cancel{true};
    ChunkRunOptions options = options_with();
    options.cancel = &cancel;
    Run run = run_chunk(library, options);
    CHECK(run.summary.interrupted);
    CHECK(run.summary.files_chunked == 0);
    CHECK(run.summary.chunks == 0);
    CHECK(run.paths.empty());
    CHECK(StoreWriter(library.store, library.writer_options()).load_chunks("sample").chunk_count() == 0);
    // A later run without the cancel does the work.
    Run later = run_chunk(library);
    CHECK_FALSE(later.summary.interrupted);
    CHECK(later.summary.files_chunked == 2);
}

TEST_CASE("several threads give the same chunks, reported in path order") {
    Library library;
    for (int i = 0; i < 12; ++i) library.add_wav("f" + std::to_string(10 + i) + ".wav", 200.0 + 50 * i, Library::default_mtime, 800 + 8000 * (i % 4));
    library.ingest();
    Run one = run_chunk(library);
    std::map<uint64_t, std::vector<std::pair<int64_t, float>>> expected;
    ChunkTable sample = library.chunks();
    for (const auto& [file_id, chunks] : sample.by_file())
        for (const auto& chunk : chunks) expected[file_id].emplace_back(chunk.start_frame, chunk.rms_db);

    ChunkRunOptions options = options_with();
    options.profile.name = "threaded";
    options.threads = 4;
    Run four = run_chunk(library, options);
    CHECK(four.paths == one.paths);
    CHECK(four.summary.files_chunked == 12);
    CHECK(four.summary.chunks == one.summary.chunks);
    std::map<uint64_t, std::vector<std::pair<int64_t, float>>> threaded;
    ChunkTable threaded_table = library.chunks("threaded");
    for (const auto& [file_id, chunks] : threaded_table.by_file())
        for (const auto& chunk : chunks) threaded[file_id].emplace_back(chunk.start_frame, chunk.rms_db);
    CHECK(threaded == expected);
    // Both profiles are in the store, each with its own chunks.
    CHECK(library.chunks("sample").chunk_count() == library.chunks("threaded").chunk_count());
}

TEST_CASE("an invalid profile is Error(usage) before any work") {
    Library library;
    ChunkRunOptions options = options_with();
    options.profile.hop_seconds = 0;
    StoreWriter writer(library.store, library.writer_options());
    int64_t generation = writer.manifest().generation;
    CHECK(error_of([&] { audiosim::chunk_files(writer, options, nullptr, nullptr); }).first == ErrorKind::usage);
    CHECK(writer.manifest().generation == generation);
}

TEST_CASE("a stored profile name with other parameters is Error(usage)") {
    // Stored chunks never change meaning: chunks cut with other parameters would be told apart
    // from the stored ones by nothing.
    Library library;
    library.add_wav("a.wav", 440);
    library.ingest();
    run_chunk(library);
    ChunkRunOptions options = options_with();
    options.profile.window_seconds = 3;
    {
        // Every file up to date: nothing to commit, still refused.
        StoreWriter writer(library.store, library.writer_options());
        int64_t generation = writer.manifest().generation;
        auto [kind, message] = error_of([&] { audiosim::chunk_files(writer, options, nullptr, nullptr); });
        CHECK(kind == ErrorKind::usage);
        CHECK(contains(message, "sample"));
        CHECK(writer.manifest().generation == generation);
    }
    // A new file to chunk: refused, and nothing of it is stored.
    library.add_wav("b.wav", 550);
    library.ingest();
    StoreWriter writer(library.store, library.writer_options());
    auto [kind, message] = error_of([&] { audiosim::chunk_files(writer, options, nullptr, nullptr); });
    CHECK(kind == ErrorKind::usage);
    CHECK(contains(message, "sample"));
    CHECK(writer.load_chunks("sample").chunk_count() == 1);
}

TEST_CASE("library_path: relative catalog paths are under the root, absolute ones stay") {
    CHECK(audiosim::library_path("/music", "a/b.wav") == "/music/a/b.wav");
    CHECK(audiosim::library_path("/music", "/elsewhere/c.wav") == "/elsewhere/c.wav");
    CHECK(audiosim::library_path("/music/", "d.wav") == "/music/d.wav");
}

TEST_CASE("the summary's JSON") {
    ChunkSummary summary;
    summary.files_chunked = 3;
    summary.files_failed = 1;
    summary.chunks = 7;
    summary.flagged["silent"] = 2;
    summary.interrupted = true;
    nlohmann::json json = summary.to_json();
    CHECK(json.at("files_chunked") == 3);
    CHECK(json.at("files_failed") == 1);
    CHECK(json.at("chunks") == 7);
    CHECK(json.at("flagged").at("silent") == 2);
    CHECK(json.at("interrupted") == true);
}

TEST_SUITE_END();
