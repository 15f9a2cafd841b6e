// lib/ingest/ingest: the ingest engine over a real store, and the metadata CSV reader.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <fcntl.h>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <doctest/doctest.h>
#include <sndfile.h>
#include <xxhash.h>

#include "ingest/ingest.hpp"
#include "store/store.hpp"
#include "support.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using audiosim::ChangeKind;
using audiosim::ErrorKind;
using audiosim::FileRecord;
using audiosim::FileStatus;
using audiosim::IngestEvent;
using audiosim::IngestOptions;
using audiosim::IngestSummary;
using audiosim::StoreWriter;
using audiosim::test::TempFolder;
using audiosim::test::write_bytes;
using audiosim::test::write_sine;

using audiosim::test::error_of;
using audiosim::test::contains;

using audiosim::test::set_mtime;

namespace {

constexpr int wav16 = SF_FORMAT_WAV | SF_FORMAT_PCM_16;

uint64_t xxh3_of_file(const std::string& path) {
    std::string bytes = audiosim::read_text_file(path);
    return XXH3_64bits(bytes.data(), bytes.size());
}

using Library = audiosim::test::TestLibrary;

struct Run {
    IngestSummary summary;
    std::vector<IngestEvent> events;

    const IngestEvent* event_for(const std::string& path) const {
        for (const auto& event : events)
            if (event.record.path == path) return &event;
        return nullptr;
    }
    size_t count(ChangeKind kind) const {
        size_t n = 0;
        for (const auto& event : events) n += event.kind == kind;
        return n;
    }
};

Run run_ingest(const Library& library, IngestOptions options) {
    if (options.inputs.empty()) options.inputs = {library.root};
    StoreWriter writer(library.store, library.writer_options());
    Run run;
    run.summary = audiosim::ingest(
        writer, options, [&](const IngestEvent& event) { run.events.push_back(event); }, nullptr);
    return run;
}

Run run_ingest(const Library& library) { return run_ingest(library, IngestOptions{}); }

audiosim::Catalog stored_catalog(const Library& library) { return audiosim::StoreReader(library.store).load_catalog(); }

}  // namespace

TEST_SUITE_BEGIN("ingest/ingest");

TEST_CASE("a first run adds audio files, records failures, and counts them") {
    Library library;
    library.add_wav("a.wav", 440);
    library.add_wav("drums/b.wav", 550);
    library.add_wav("drums/c.wav", 660);
    write_bytes(library.file("garbage.wav"), std::string(2000, 'g'));
    write_bytes(library.file("empty.wav"), "");
    write_bytes(library.file("readme.txt"), "not scanned");

    std::vector<audiosim::IngestProgress> progress;
    StoreWriter writer(library.store, library.writer_options());
    IngestOptions options;
    options.inputs = {library.root};
    std::vector<IngestEvent> events;
    IngestSummary summary = audiosim::ingest(
        writer, options, [&](const IngestEvent& event) { events.push_back(event); },
        [&](const audiosim::IngestProgress& p) { progress.push_back(p); });

    CHECK(summary.scanned == 5);
    CHECK(summary.added == 3);
    CHECK(summary.failed == 2);
    CHECK(summary.failed_by_status == std::map<std::string, size_t>{{"empty", 1}, {"not_audio", 1}});
    CHECK(summary.changed == 0);
    CHECK(summary.unchanged == 0);
    CHECK(summary.duplicates == 0);
    CHECK(summary.commits >= 1);
    CHECK(summary.library_files == 5);
    CHECK(summary.library_audio_seconds == doctest::Approx(0.3));
    CHECK(summary.audio_seconds_read == doctest::Approx(0.3));
    CHECK_FALSE(summary.interrupted);
    REQUIRE_FALSE(progress.empty());
    CHECK(progress.back().done == 5);
    CHECK(progress.back().total == 5);

    REQUIRE(events.size() == 5);
    std::vector<std::string> event_paths;
    for (const auto& event : events) event_paths.push_back(event.record.path);
    CHECK(event_paths == std::vector<std::string>{"a.wav", "drums/b.wav", "drums/c.wav", "empty.wav", "garbage.wav"});
    for (size_t i = 0; i < 3; ++i) CHECK(events[i].kind == ChangeKind::added);
    CHECK(events[3].kind == ChangeKind::failed);
    CHECK(events[3].record.status == FileStatus::empty);
    CHECK(events[4].kind == ChangeKind::failed);
    CHECK(events[4].record.error != "");

    auto catalog = stored_catalog(library);
    CHECK(catalog.size() == 5);
    const FileRecord* a = catalog.find("a.wav");
    REQUIRE(a != nullptr);
    CHECK(a->status == FileStatus::ok);
    CHECK(a->hash == xxh3_of_file(library.file("a.wav")));
    CHECK(a->size == std::filesystem::file_size(library.file("a.wav")));
    CHECK(a->mtime_ns == int64_t{1600000000} * 1000000000);
    CHECK(a->audio.container == "WAV");
    CHECK(a->audio.sample_rate == 8000);
    CHECK(a->audio.frames == 800);
    CHECK(a->file_id != 0);
    CHECK(catalog.find("empty.wav")->status == FileStatus::empty);
    CHECK(catalog.find("garbage.wav")->status == FileStatus::not_audio);
    CHECK(catalog.find("readme.txt") == nullptr);
    std::set<uint64_t> ids;
    catalog.for_each([&](const FileRecord& record) { ids.insert(record.file_id); });
    CHECK(ids.size() == 5);

    audiosim::StoreReader reader(library.store);
    REQUIRE_FALSE(reader.manifest().runs.empty());
    CHECK(reader.manifest().runs[0].command == "ingest");
    CHECK(reader.manifest().runs[0].summary.at("added") == 3);
}

TEST_CASE("a second run over an unchanged library changes nothing") {
    Library library;
    library.add_wav("a.wav", 440);
    library.add_wav("b.wav", 550);
    write_bytes(library.file("garbage.wav"), std::string(2000, 'g'));
    run_ingest(library);
    auto before = stored_catalog(library);

    Run second = run_ingest(library);
    CHECK(second.summary.scanned == 3);
    CHECK(second.summary.unchanged == 3);
    CHECK(second.summary.added == 0);
    CHECK(second.summary.failed == 0);
    CHECK(second.summary.commits == 0);
    CHECK(second.summary.bytes_read == 0);
    CHECK(second.events.empty());
    auto after = stored_catalog(library);
    CHECK(after.size() == 3);
    for (const char* path : {"a.wav", "b.wav", "garbage.wav"}) {
        CAPTURE(path);
        CHECK(after.find(path)->file_id == before.find(path)->file_id);
    }
}

TEST_CASE("a new mtime without a content change is touched and keeps its file id") {
    Library library;
    library.add_wav("a.wav", 440);
    run_ingest(library);
    uint64_t id = stored_catalog(library).find("a.wav")->file_id;

    set_mtime(library.file("a.wav"), 1700000000);
    Run run = run_ingest(library);
    CHECK(run.summary.touched == 1);
    CHECK(run.summary.changed == 0);
    CHECK(run.summary.added == 0);
    REQUIRE(run.events.size() == 1);
    CHECK(run.events[0].kind == ChangeKind::touched);
    auto catalog = stored_catalog(library);
    CHECK(catalog.find("a.wav")->file_id == id);
    CHECK(catalog.find("a.wav")->mtime_ns == int64_t{1700000000} * 1000000000);

    Run third = run_ingest(library);  // the new mtime was stored: nothing to do now
    CHECK(third.summary.unchanged == 1);
    CHECK(third.events.empty());
}

TEST_CASE("a content change is changed with a new file id") {
    Library library;
    library.add_wav("a.wav", 440);
    library.add_wav("b.wav", 550);
    run_ingest(library);
    auto before = stored_catalog(library);

    library.add_wav("a.wav", 880, 1700000000);  // same size, other content
    REQUIRE(std::filesystem::file_size(library.file("a.wav")) == before.find("a.wav")->size);
    Run run = run_ingest(library);
    CHECK(run.summary.changed == 1);
    CHECK(run.summary.unchanged == 1);
    REQUIRE(run.events.size() == 1);
    CHECK(run.events[0].kind == ChangeKind::changed);
    auto after = stored_catalog(library);
    const FileRecord* a = after.find("a.wav");
    CHECK(a->file_id != before.find("a.wav")->file_id);
    CHECK(a->file_id != before.find("b.wav")->file_id);
    CHECK(a->hash == xxh3_of_file(library.file("a.wav")));
    CHECK(a->hash != before.find("a.wav")->hash);
    CHECK(after.find("b.wav")->file_id == before.find("b.wav")->file_id);
}

TEST_CASE("a file that failed and becomes valid audio is changed and ok") {
    Library library;
    write_bytes(library.file("a.wav"), std::string(3000, 'g'));
    set_mtime(library.file("a.wav"), 1600000000);
    run_ingest(library);
    REQUIRE(stored_catalog(library).find("a.wav")->status == FileStatus::not_audio);
    library.add_wav("a.wav", 440, 1700000000);
    Run run = run_ingest(library);
    CHECK(run.summary.changed == 1);
    CHECK(stored_catalog(library).find("a.wav")->status == FileStatus::ok);
}

TEST_CASE("a deleted file is vanished and kept; with prune it is removed") {
    Library library;
    library.add_wav("a.wav", 440);
    library.add_wav("sub/b.wav", 550);
    run_ingest(library);
    std::filesystem::remove(library.file("sub/b.wav"));

    Run run = run_ingest(library);
    CHECK(run.summary.vanished == 1);
    CHECK(run.summary.removed == 0);
    REQUIRE(run.event_for("sub/b.wav") != nullptr);
    CHECK(run.event_for("sub/b.wav")->kind == ChangeKind::vanished);
    CHECK(stored_catalog(library).find("sub/b.wav") != nullptr);

    IngestOptions prune;
    prune.prune = true;
    Run pruned = run_ingest(library, prune);
    CHECK(pruned.summary.removed == 1);
    CHECK(pruned.summary.vanished == 0);
    REQUIRE(pruned.event_for("sub/b.wav") != nullptr);
    CHECK(pruned.event_for("sub/b.wav")->kind == ChangeKind::removed);
    auto catalog = stored_catalog(library);
    CHECK(catalog.find("sub/b.wav") == nullptr);
    CHECK(catalog.find("a.wav") != nullptr);
    CHECK(catalog.size() == 1);
}

TEST_CASE("a file outside the scanned inputs is not vanished") {
    Library library;
    library.add_wav("one/a.wav", 440);
    library.add_wav("two/b.wav", 550);
    run_ingest(library);
    std::filesystem::remove(library.file("two/b.wav"));
    IngestOptions options;
    options.inputs = {library.file("one")};
    options.prune = true;
    Run run = run_ingest(library, options);
    CHECK(run.summary.removed == 0);
    CHECK(run.summary.vanished == 0);
    CHECK(stored_catalog(library).find("two/b.wav") != nullptr);
}

TEST_CASE("a file named directly that is gone is vanished, and pruned with prune") {
    Library library;
    library.add_wav("a.wav", 440);
    library.add_wav("b.wav", 550);
    IngestOptions named;
    named.inputs = {library.file("a.wav"), library.file("b.wav")};
    run_ingest(library, named);
    REQUIRE(stored_catalog(library).size() == 2);
    std::filesystem::remove(library.file("a.wav"));

    named.prune = true;
    Run run = run_ingest(library, named);
    CHECK(run.count(ChangeKind::removed) == 1);
    CHECK(run.summary.removed == 1);
    CHECK(stored_catalog(library).find("a.wav") == nullptr);
    CHECK(stored_catalog(library).find("b.wav") != nullptr);
}

TEST_CASE("files in a folder that cannot be read are not vanished, and prune keeps them") {
    // A folder made unreadable (chmod 000: a mount gone stale, wrong permissions) hides its files
    // without deleting them; only a file that is really gone may be pruned. Root ignores
    // permissions, so the second run goes to a child process as an unprivileged user then.
    Library library;
    library.add_wav("a.wav", 440);
    library.add_wav("sub/b.wav", 550);
    run_ingest(library);
    bool as_root = ::geteuid() == 0;
    constexpr uid_t nobody = 65534;
    if (as_root) {
        for (const auto& entry : std::filesystem::recursive_directory_iterator(library.folder.path()))
            REQUIRE(::lchown(entry.path().c_str(), nobody, nobody) == 0);
        REQUIRE(::chown(library.folder.path().c_str(), nobody, nobody) == 0);
    }
    REQUIRE(::chmod(library.file("sub").c_str(), 0) == 0);
    // Exit codes of the child: 0 kept and not reported vanished, 1 removed, 2 reported vanished.
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int code = 20;
        try {
            if (as_root && (::setgid(nobody) != 0 || ::setuid(nobody) != 0)) ::_exit(10);
            IngestOptions prune;
            prune.prune = true;
            Run run = run_ingest(library, prune);
            const IngestEvent* event = run.event_for("sub/b.wav");
            bool kept = stored_catalog(library).find("sub/b.wav") != nullptr;
            bool reported_gone = event && (event->kind == ChangeKind::removed || event->kind == ChangeKind::vanished);
            code = !kept ? 1 : reported_gone ? 2 : 0;
        } catch (...) {
            code = 11;
        }
        ::_exit(code);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    ::chmod(library.file("sub").c_str(), 0755);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("exact duplicate content names the stored file, or the earlier one of this run") {
    Library library;
    library.add_wav("a.wav", 440);
    library.add_wav("b.wav", 550);
    run_ingest(library);

    std::filesystem::copy_file(library.file("a.wav"), library.file("copy_of_a.wav"));
    std::filesystem::copy_file(library.file("b.wav"), library.file("x1.wav"));
    std::filesystem::copy_file(library.file("b.wav"), library.file("x2.wav"));
    library.add_wav("new1.wav", 990);
    std::filesystem::copy_file(library.file("new1.wav"), library.file("new2.wav"));
    Run run = run_ingest(library);
    CHECK(run.summary.added == 5);
    CHECK(run.count(ChangeKind::added) == 5);
    CHECK(run.summary.duplicates == 4);
    REQUIRE(run.event_for("copy_of_a.wav") != nullptr);
    CHECK(run.event_for("copy_of_a.wav")->duplicate_of == "a.wav");
    CHECK(run.event_for("x1.wav")->duplicate_of == "b.wav");
    CHECK(run.event_for("x2.wav")->duplicate_of == "b.wav");  // the first by path
    CHECK(run.event_for("new1.wav")->duplicate_of == "");
    CHECK(run.event_for("new2.wav")->duplicate_of == "new1.wav");
}

TEST_CASE("duplicates are found across commits within one run") {
    Library library;
    library.add_wav("a.wav", 440);
    std::filesystem::copy_file(library.file("a.wav"), library.file("b.wav"));
    IngestOptions options;
    options.commit_every_files = 1;
    Run run = run_ingest(library, options);
    CHECK(run.summary.commits == 2);
    CHECK(run.event_for("b.wav")->duplicate_of == "a.wav");
}

TEST_CASE("no duplicate is reported against a stored file whose content changes in the same run") {
    Library library;
    library.add_wav("a.wav", 440);
    run_ingest(library);
    // The old content of a.wav moves to b.wav while a.wav gets new content.
    std::filesystem::copy_file(library.file("a.wav"), library.file("b.wav"));
    library.add_wav("a.wav", 880, 1700000000);
    Run run = run_ingest(library);
    CHECK(run.summary.changed == 1);
    CHECK(run.summary.added == 1);
    REQUIRE(run.event_for("b.wav") != nullptr);
    CHECK(run.event_for("b.wav")->duplicate_of == "");
    CHECK(run.summary.duplicates == 0);
}

TEST_CASE("failed files are never duplicates") {
    Library library;
    write_bytes(library.file("g1.wav"), std::string(2000, 'g'));
    write_bytes(library.file("g2.wav"), std::string(2000, 'g'));
    Run run = run_ingest(library);
    CHECK(run.summary.failed == 2);
    CHECK(run.summary.duplicates == 0);
    CHECK(run.event_for("g2.wav")->duplicate_of == "");
}

TEST_CASE("commit_every_files=1 commits after every changed file") {
    Library library;
    library.add_wav("a.wav", 440);
    library.add_wav("b.wav", 550);
    library.add_wav("c.wav", 660);
    IngestOptions options;
    options.commit_every_files = 1;
    Run run = run_ingest(library, options);
    CHECK(run.summary.added == 3);
    CHECK(run.summary.commits == 3);
    CHECK(stored_catalog(library).size() == 3);
    IngestOptions default_options;
    library.add_wav("d.wav", 770);
    library.add_wav("e.wav", 880);
    CHECK(run_ingest(library, default_options).summary.commits == 1);
}

TEST_CASE("several threads give the same records and events in path order") {
    Library library;
    for (int i = 0; i < 12; ++i) library.add_wav("f" + std::to_string(10 + i) + ".wav", 200.0 + 50 * i);
    IngestOptions options;
    options.threads = 4;
    Run run = run_ingest(library, options);
    CHECK(run.summary.added == 12);
    REQUIRE(run.events.size() == 12);
    for (size_t i = 0; i < run.events.size(); ++i) CHECK(run.events[i].record.path == "f" + std::to_string(10 + i) + ".wav");
    auto catalog = stored_catalog(library);
    catalog.for_each([&](const FileRecord& record) {
        CAPTURE(record.path);
        CHECK(record.hash == xxh3_of_file(library.file(record.path)));
        CHECK(record.status == FileStatus::ok);
    });
}

TEST_CASE("files outside the library root are stored under their absolute path") {
    Library library;
    audiosim::make_directories(library.folder.file("elsewhere"));
    std::string outside = library.folder.file("elsewhere/o.wav");
    write_sine(outside, wav16, 8000, 1, 800);
    IngestOptions options;
    options.inputs = {outside};
    Run run = run_ingest(library, options);
    CHECK(run.summary.added == 1);
    CHECK(stored_catalog(library).find(outside) != nullptr);
}

TEST_CASE("a missing input is a failed event, not an exception") {
    Library library;
    library.add_wav("a.wav", 440);
    IngestOptions options;
    options.inputs = {library.root, library.file("missing.wav")};
    Run run = run_ingest(library, options);
    CHECK(run.summary.added == 1);
    CHECK(run.summary.failed == 1);
    CHECK(run.summary.failed_by_status == std::map<std::string, size_t>{{"vanished", 1}});
    REQUIRE(run.event_for("missing.wav") != nullptr);
    CHECK(run.event_for("missing.wav")->kind == ChangeKind::failed);
}

TEST_CASE("a cancelled run commits nothing new and says it was interrupted") {
    Library library;
    library.add_wav("a.wav", 440);
    std::atomic<bool> cancel{true};
    IngestOptions options;
    options.cancel = &cancel;
    Run run = run_ingest(library, options);
    CHECK(run.summary.interrupted);
    CHECK(run.summary.added == 0);
    CHECK(stored_catalog(library).size() == 0);
}

TEST_CASE("metadata from a CSV is joined onto records, and updates unchanged files") {
    Library library;
    library.add_wav("a.wav", 440);
    library.add_wav("sub/b.wav", 550);
    write_bytes(library.folder.file("meta.csv"),
                "path,genre,bpm\n"
                "a.wav,techno,128\n"
                + library.file("sub/b.wav") + ",\"jazz, cool\",\n"
                "nowhere.wav,x,1\n");
    IngestOptions options;
    options.metadata_csv = library.folder.file("meta.csv");
    Run first = run_ingest(library, options);
    CHECK(first.summary.added == 2);
    REQUIRE(first.summary.warnings.size() == 1);
    CHECK(contains(first.summary.warnings[0], "nowhere.wav"));
    auto catalog = stored_catalog(library);
    CHECK(catalog.find("a.wav")->metadata == audiosim::Metadata{{"bpm", "128"}, {"genre", "techno"}});
    CHECK(catalog.find("sub/b.wav")->metadata == audiosim::Metadata{{"bpm", ""}, {"genre", "jazz, cool"}});
    uint64_t id = catalog.find("a.wav")->file_id;

    write_bytes(library.folder.file("meta.csv"), "path,genre\na.wav,house\nsub/b.wav,\"jazz, cool\"\n");
    Run second = run_ingest(library, options);
    CHECK(second.summary.unchanged == 2);
    CHECK(second.summary.metadata_updated == 1);
    REQUIRE(second.events.size() == 1);
    CHECK(second.events[0].kind == ChangeKind::metadata);
    catalog = stored_catalog(library);
    CHECK(catalog.find("a.wav")->file_id == id);
    CHECK(catalog.find("a.wav")->metadata == audiosim::Metadata{{"bpm", "128"}, {"genre", "house"}});

    // A stored file not scanned in this run still takes its metadata.
    write_bytes(library.folder.file("meta.csv"), "path,mood\nsub/b.wav,calm\n");
    IngestOptions only_a = options;
    only_a.inputs = {library.file("a.wav")};
    Run third = run_ingest(library, only_a);
    CHECK(third.summary.metadata_updated == 1);
    CHECK(*stored_catalog(library).find("sub/b.wav")->metadata_value("mood") == "calm");
}

TEST_CASE("metadata stays with a file whose content changes") {
    Library library;
    library.add_wav("a.wav", 440);
    write_bytes(library.folder.file("meta.csv"), "path,genre\na.wav,techno\n");
    IngestOptions options;
    options.metadata_csv = library.folder.file("meta.csv");
    run_ingest(library, options);
    library.add_wav("a.wav", 880, 1700000000);
    Run run = run_ingest(library);  // no CSV this time
    CHECK(run.summary.changed == 1);
    CHECK(stored_catalog(library).find("a.wav")->metadata == audiosim::Metadata{{"genre", "techno"}});
}

TEST_CASE("read_metadata_csv: paths relative to the root or absolute, normalized") {
    TempFolder folder;
    std::string root = folder.file("lib");
    write_bytes(folder.file("m.csv"),
                "genre,path\n"
                "a,x.wav\n"
                "b,./sub//y.wav\n"
                "c," + root + "/z.wav\n"
                "d,/elsewhere/w.wav\n"
                "e,sub/../v.wav\n");
    auto metadata = audiosim::read_metadata_csv(folder.file("m.csv"), root);
    std::map<std::string, audiosim::Metadata> expected = {
        {"x.wav", {{"genre", "a"}}},         {"sub/y.wav", {{"genre", "b"}}}, {"z.wav", {{"genre", "c"}}},
        {"/elsewhere/w.wav", {{"genre", "d"}}}, {"v.wav", {{"genre", "e"}}},
    };
    CHECK(metadata == expected);
}

TEST_CASE("read_metadata_csv: a relative path leading out of the root names that file by its absolute path") {
    // Files outside the root are stored under their absolute path, as an absolute CSV path is read.
    TempFolder folder;
    std::string root = folder.file("lib");
    write_bytes(folder.file("m.csv"), "path,genre\n../outside/o.wav,rock\n");
    auto metadata = audiosim::read_metadata_csv(folder.file("m.csv"), root);
    std::string keys;
    for (const auto& entry : metadata) keys += "'" + entry.first + "' ";
    CAPTURE(keys);
    CHECK(metadata.count("") == 0);  // no row may end up under an empty path
    CHECK(metadata == std::map<std::string, audiosim::Metadata>{{folder.file("outside/o.wav"), {{"genre", "rock"}}}});
}

TEST_CASE("read_metadata_csv: two rows for one file give one value per column") {
    TempFolder folder;
    write_bytes(folder.file("m.csv"), "path,genre\na.wav,rock\n./a.wav,jazz\n");
    auto metadata = audiosim::read_metadata_csv(folder.file("m.csv"), folder.path());
    REQUIRE(metadata.count("a.wav") == 1);
    const audiosim::Metadata& columns = metadata["a.wav"];
    CHECK(columns.size() == 1);  // Metadata holds each column once, sorted by name
    CHECK(std::adjacent_find(columns.begin(), columns.end(),
                             [](const auto& x, const auto& y) { return x.first == y.first; }) == columns.end());
}

TEST_CASE("read_metadata_csv: errors") {
    TempFolder folder;
    std::string csv = folder.file("m.csv");
    auto error = [&](const std::string& text) {
        write_bytes(csv, text);
        return error_of([&] { audiosim::read_metadata_csv(csv, folder.path()); });
    };
    SUBCASE("no path column") {
        auto [kind, message] = error("file,genre\na.wav,x\n");
        CHECK(kind == ErrorKind::input);
        CHECK(contains(message, "path"));
        CHECK(contains(message, csv));
    }
    SUBCASE("a row with the wrong field count") {
        auto [kind, message] = error("path,genre\na.wav,x\nb.wav,y,z\n");
        CHECK(kind == ErrorKind::input);
        CHECK(contains(message, "3"));  // the row
        CHECK(contains(message, csv));
        CHECK(error("path,genre\na.wav\n").first == ErrorKind::input);
    }
    SUBCASE("a column name with a '/'") {
        auto [kind, message] = error("path,genre/sub\na.wav,x\n");
        CHECK(kind == ErrorKind::input);
        CHECK(contains(message, "genre/sub"));
    }
    SUBCASE("an empty column name") { CHECK(error("path,,genre\na.wav,x,y\n").first == ErrorKind::input); }
    SUBCASE("a column named twice") {
        auto [kind, message] = error("path,genre,bpm,genre\na.wav,x,1,y\n");
        CHECK(kind == ErrorKind::input);
        CHECK_MESSAGE(contains(message, "'genre' appears twice"), message);
        CHECK(error("path,path\na.wav,b.wav\n").first == ErrorKind::input);
    }
    SUBCASE("an empty file") { CHECK(error("").first == ErrorKind::input); }
    SUBCASE("an unterminated quote") { CHECK(error("path,genre\na.wav,\"x\n").first == ErrorKind::input); }
    SUBCASE("a missing file") {
        CHECK(error_of([&] { audiosim::read_metadata_csv(folder.file("none.csv"), folder.path()); }).first ==
              ErrorKind::input);
    }
}

TEST_CASE("a bad metadata CSV stops ingest before anything is written") {
    Library library;
    library.add_wav("a.wav", 440);
    write_bytes(library.folder.file("meta.csv"), "file,genre\n");
    IngestOptions options;
    options.inputs = {library.root};
    options.metadata_csv = library.folder.file("meta.csv");
    StoreWriter writer(library.store, library.writer_options());
    CHECK(error_of([&] { audiosim::ingest(writer, options, nullptr, nullptr); }).first == ErrorKind::input);
    CHECK(writer.catalog().size() == 0);
    CHECK(writer.manifest().generation == 0);
}

TEST_CASE("change_kind_name and the summary's JSON") {
    CHECK(std::string(audiosim::change_kind_name(ChangeKind::added)) == "added");
    CHECK(std::string(audiosim::change_kind_name(ChangeKind::touched)) == "touched");
    CHECK(std::string(audiosim::change_kind_name(ChangeKind::removed)) == "removed");
    IngestSummary summary;
    summary.added = 3;
    summary.failed_by_status["corrupt"] = 2;
    summary.interrupted = true;
    nlohmann::json json = summary.to_json();
    CHECK(json.at("added") == 3);
    CHECK(json.at("failed_by_status").at("corrupt") == 2);
    CHECK(json.at("interrupted") == true);
}

TEST_SUITE_END();
