// lib/store/catalog: catalog segments on disk and the merged in-memory catalog.
#include <cctype>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "store/catalog.hpp"
#include "store/h5.hpp"
#include "store/stamp.hpp"
#include "support.hpp"
#include "util/error.hpp"

using audiosim::Catalog;
using audiosim::CatalogDelta;
using audiosim::ErrorKind;
using audiosim::FileRecord;
using audiosim::FileStatus;
using audiosim::test::TempFolder;
using audiosim::test::write_bytes;

using audiosim::test::error_of;
using audiosim::test::contains;

using audiosim::test::has_number;
using audiosim::test::set_root_int_attribute;

namespace {

FileRecord make_record(const std::string& path, uint64_t hash, FileStatus status = FileStatus::ok) {
    FileRecord record;
    record.file_id = hash * 10 + 1;
    record.path = path;
    record.size = 1000 + hash;
    record.mtime_ns = 1700000000123456789 + static_cast<int64_t>(hash);
    record.hash = hash;
    record.status = status;
    if (status == FileStatus::ok) {
        record.audio.container = "WAV";
        record.audio.codec = "PCM_16";
        record.audio.sample_rate = 44100;
        record.audio.channels = 2;
        record.audio.frames = 44100 * static_cast<int64_t>(hash);
        record.audio.duration = static_cast<double>(hash);
    } else {
        record.error = "something went wrong";
    }
    record.ingested_ns = 1700000001000000000;
    return record;
}

void check_same(const FileRecord& a, const FileRecord& b) {
    CAPTURE(a.path);
    CHECK(a.file_id == b.file_id);
    CHECK(a.path == b.path);
    CHECK(a.size == b.size);
    CHECK(a.mtime_ns == b.mtime_ns);
    CHECK(a.hash == b.hash);
    CHECK(a.status == b.status);
    CHECK(a.error == b.error);
    CHECK(a.audio.container == b.audio.container);
    CHECK(a.audio.codec == b.audio.codec);
    CHECK(a.audio.sample_rate == b.audio.sample_rate);
    CHECK(a.audio.channels == b.audio.channels);
    CHECK(a.audio.frames == b.audio.frames);
    CHECK(a.audio.duration == b.audio.duration);
    CHECK(a.audio.frames_estimated == b.audio.frames_estimated);
    CHECK(a.warning == b.warning);
    CHECK(a.ingested_ns == b.ingested_ns);
    CHECK(a.metadata == b.metadata);
}

}  // namespace

TEST_SUITE_BEGIN("store/catalog");

TEST_CASE("a segment round trips records, metadata and removed paths") {
    TempFolder folder;
    std::string path = folder.file("segment.h5");
    CatalogDelta delta;
    delta.records.push_back(make_record("drums/kick.wav", 1));
    delta.records.push_back(make_record("caf\xe9.wav", 2));
    delta.records.push_back(make_record("/outside/abs.flac", 3));
    delta.records.push_back(make_record("broken.wav", 4, FileStatus::corrupt));
    delta.records.push_back(make_record("vanished.wav", 5, FileStatus::vanished));
    delta.records.push_back(make_record("cut.wav", 6));
    delta.records.back().warning = "truncated: data chunk declares 529200 bytes, the file holds 264578";
    delta.records.push_back(make_record("damaged.mp3", 7));
    delta.records.back().audio.container = "MPEG";
    delta.records.back().audio.frames_estimated = true;
    delta.records[0].set_metadata("genre", "techno");
    delta.records[0].set_metadata("bpm", "128");
    delta.records[1].set_metadata("genre", "");  // present but empty: not the same as absent
    delta.records[2].set_metadata("note", "line 1\nline 2, \"quoted\"");
    delta.records[2].set_metadata("bpm", "90");
    delta.removed_paths = {"old/a.wav", "old/caf\xe9.wav"};
    audiosim::write_catalog_segment(path, delta, {"audiosim ingest .", 7, ""});

    CatalogDelta back = audiosim::read_catalog_segment(path);
    REQUIRE(back.records.size() == delta.records.size());
    for (size_t i = 0; i < delta.records.size(); ++i) check_same(back.records[i], delta.records[i]);
    CHECK(back.removed_paths == delta.removed_paths);
    // Records without a column have no value for it, not an empty one.
    CHECK(back.records[1].metadata_value("bpm") == nullptr);
    REQUIRE(back.records[1].metadata_value("genre") != nullptr);
    CHECK(*back.records[1].metadata_value("genre") == "");
    CHECK(back.records[3].metadata.empty());
}

TEST_CASE("a segment written before warning and frames_estimated existed: none, and MP3 lengths estimated") {
    TempFolder folder;
    std::string path = folder.file("old.h5");
    CatalogDelta delta;
    delta.records.push_back(make_record("a.wav", 1));
    delta.records.push_back(make_record("b.mp3", 2));
    delta.records.back().audio.container = "MPEG";
    delta.records.back().warning = "x";
    audiosim::write_catalog_segment(path, delta, {"audiosim ingest .", 1, ""});
    audiosim::test::remove_h5_links(path, {"files/warning", "files/frames_estimated"});
    CatalogDelta back = audiosim::read_catalog_segment(path);
    REQUIRE(back.records.size() == 2);
    CHECK(back.records[0].warning == "");
    CHECK_FALSE(back.records[0].audio.frames_estimated);
    CHECK(back.records[1].warning == "");
    CHECK(back.records[1].audio.frames_estimated);  // libsndfile's estimate was all old audiosims had
}

TEST_CASE("a segment stamps format, version, writer, command line and generation") {
    TempFolder folder;
    std::string path = folder.file("segment.h5");
    audiosim::write_catalog_segment(path, {{make_record("a.wav", 1)}, {}}, {"audiosim ingest --x", 42, ""});
    audiosim::h5::File file = audiosim::h5::File::open_read_only(path);
    CHECK(audiosim::h5::read_string_attribute(file, file.id(), "format") == audiosim::catalog_format_name);
    CHECK(audiosim::h5::read_int_attribute(file, file.id(), "format_version") == audiosim::catalog_format_version);
    CHECK(audiosim::h5::read_string_attribute(file, file.id(), "writer") == audiosim::writer_name());
    CHECK(audiosim::h5::read_string_attribute(file, file.id(), "command_line") == "audiosim ingest --x");
    CHECK(audiosim::h5::read_int_attribute(file, file.id(), "store_generation") == 42);
    CHECK(audiosim::h5::read_string_attribute(file, file.id(), "created").size() == 20);
}

TEST_CASE("empty segments round trip: no records, only removals, nothing") {
    TempFolder folder;
    SUBCASE("only removals") {
        CatalogDelta delta;
        delta.removed_paths = {"x.wav"};
        audiosim::write_catalog_segment(folder.file("s.h5"), delta, {"c", 1, ""});
        CatalogDelta back = audiosim::read_catalog_segment(folder.file("s.h5"));
        CHECK(back.records.empty());
        CHECK(back.removed_paths == delta.removed_paths);
    }
    SUBCASE("nothing") {
        audiosim::write_catalog_segment(folder.file("s.h5"), {}, {"c", 1, ""});
        CHECK(audiosim::read_catalog_segment(folder.file("s.h5")).empty());
    }
}

TEST_CASE("a segment of a newer format version is Error(format) naming both versions") {
    TempFolder folder;
    std::string path = folder.file("future.h5");
    audiosim::write_catalog_segment(path, {{make_record("a.wav", 1)}, {}}, {"c", 1, ""});
    set_root_int_attribute(path, "format_version", 99);
    auto [kind, message] = error_of([&] { audiosim::read_catalog_segment(path); });
    CHECK(kind == ErrorKind::format);
    CHECK(contains(message, path));
    CHECK(has_number(message, "99"));
    CHECK(has_number(message, std::to_string(audiosim::catalog_format_version)));
    CHECK(contains(message, audiosim::writer_name()));
}

TEST_CASE("a segment of version 0 is Error(format)") {
    TempFolder folder;
    std::string path = folder.file("zero.h5");
    audiosim::write_catalog_segment(path, {{make_record("a.wav", 1)}, {}}, {"c", 1, ""});
    set_root_int_attribute(path, "format_version", 0);
    CHECK(error_of([&] { audiosim::read_catalog_segment(path); }).first == ErrorKind::format);
}

TEST_CASE("an HDF5 file of another format is Error(format)") {
    TempFolder folder;
    std::string path = folder.file("other.h5");
    {
        audiosim::h5::File file = audiosim::h5::File::create(path);
        audiosim::h5::write_string_attribute(file, file.id(), "format", "audiosim-index");
        audiosim::h5::write_int_attribute(file, file.id(), "format_version", 1);
        file.close();
    }
    auto [kind, message] = error_of([&] { audiosim::read_catalog_segment(path); });
    CHECK(kind == ErrorKind::format);
    CHECK(contains(message, audiosim::catalog_format_name));
    {
        audiosim::h5::File file = audiosim::h5::File::create(path);  // no attributes at all
        file.close();
    }
    CHECK(error_of([&] { audiosim::read_catalog_segment(path); }).first == ErrorKind::format);
}

TEST_CASE("a file that is not HDF5 is Error(format); a missing one Error(input)") {
    TempFolder folder;
    write_bytes(folder.file("junk.h5"), std::string(4096, 'x'));
    auto [kind, message] = error_of([&] { audiosim::read_catalog_segment(folder.file("junk.h5")); });
    CHECK(kind == ErrorKind::format);
    CHECK(contains(message, folder.file("junk.h5")));
    CHECK(error_of([&] { audiosim::read_catalog_segment(folder.file("none.h5")); }).first == ErrorKind::input);
}

TEST_CASE("a segment whose status column holds an unknown value is Error(format)") {
    TempFolder folder;
    std::string path = folder.file("status.h5");
    FileRecord record = make_record("a.wav", 1);
    record.status = static_cast<FileStatus>(200);
    audiosim::write_catalog_segment(path, {{record}, {}}, {"c", 1, ""});
    CHECK(error_of([&] { audiosim::read_catalog_segment(path); }).first == ErrorKind::format);
}

TEST_CASE("a segment whose row count disagrees with a column is Error(format)") {
    TempFolder folder;
    std::string path = folder.file("rows.h5");
    audiosim::write_catalog_segment(path, {{make_record("a.wav", 1), make_record("b.wav", 2)}, {}}, {"c", 1, ""});
    hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(file >= 0);
    hid_t group = H5Gopen2(file, "files", H5P_DEFAULT);
    REQUIRE(group >= 0);
    hid_t attribute = H5Aopen(group, "rows", H5P_DEFAULT);
    REQUIRE(attribute >= 0);
    int64_t rows = 3;
    CHECK(H5Awrite(attribute, H5T_NATIVE_INT64, &rows) >= 0);
    H5Aclose(attribute);
    H5Gclose(group);
    H5Fclose(file);
    CHECK(error_of([&] { audiosim::read_catalog_segment(path); }).first == ErrorKind::format);
}

TEST_CASE("FileRecord metadata stays sorted by column") {
    FileRecord record;
    record.set_metadata("genre", "a");
    record.set_metadata("bpm", "1");
    record.set_metadata("mood", "x");
    record.set_metadata("genre", "b");
    CHECK(record.metadata == audiosim::Metadata{{"bpm", "1"}, {"genre", "b"}, {"mood", "x"}});
    REQUIRE(record.metadata_value("genre") != nullptr);
    CHECK(*record.metadata_value("genre") == "b");
    CHECK(record.metadata_value("zzz") == nullptr);
    CHECK(record.metadata_value("") == nullptr);
}

TEST_CASE("Catalog::apply: insert, replace by path, remove") {
    Catalog catalog;
    catalog.apply({{make_record("a.wav", 1), make_record("b.wav", 2)}, {}});
    CHECK(catalog.size() == 2);
    REQUIRE(catalog.find("a.wav") != nullptr);
    CHECK(catalog.find("a.wav")->hash == 1);
    CHECK(catalog.find("c.wav") == nullptr);

    FileRecord replacement = make_record("a.wav", 3);
    catalog.apply({{replacement}, {}});
    CHECK(catalog.size() == 2);
    check_same(*catalog.find("a.wav"), replacement);

    catalog.apply({{}, {"b.wav", "never-there.wav"}});
    CHECK(catalog.size() == 1);
    CHECK(catalog.find("b.wav") == nullptr);

    // In one delta removals come first, so a path removed and written again is kept.
    catalog.apply({{make_record("a.wav", 4)}, {"a.wav"}});
    REQUIRE(catalog.find("a.wav") != nullptr);
    CHECK(catalog.find("a.wav")->hash == 4);
}

TEST_CASE("Catalog::records_sorted_by_path") {
    Catalog catalog;
    catalog.apply({{make_record("c.wav", 1), make_record("a/b.wav", 2), make_record("a.wav", 3)}, {}});
    std::vector<std::string> paths;
    for (const FileRecord* record : catalog.records_sorted_by_path()) paths.push_back(record->path);
    CHECK(paths == std::vector<std::string>{"a.wav", "a/b.wav", "c.wav"});
    size_t visited = 0;
    catalog.for_each([&](const FileRecord&) { ++visited; });
    CHECK(visited == 3);
}

TEST_CASE("Catalog::ok_paths_with_hash") {
    using Paths = std::vector<std::string>;
    Catalog catalog;
    catalog.apply({{make_record("b.wav", 7), make_record("a.wav", 7), make_record("c.wav", 8),
                    make_record("bad.wav", 9, FileStatus::corrupt)},
                   {}});
    SUBCASE("every ok file with the hash, sorted by path") {
        CHECK(catalog.ok_paths_with_hash(7) == Paths{"a.wav", "b.wav"});
        CHECK(catalog.ok_paths_with_hash(8) == Paths{"c.wav"});
        CHECK(catalog.ok_paths_with_hash(12345).empty());
    }
    SUBCASE("records that are not ok are never duplicates") { CHECK(catalog.ok_paths_with_hash(9).empty()); }
    SUBCASE("a replaced record no longer answers for its old hash") {
        catalog.apply({{make_record("a.wav", 8)}, {}});
        CHECK(catalog.ok_paths_with_hash(7) == Paths{"b.wav"});
        CHECK(catalog.ok_paths_with_hash(8) == Paths{"a.wav", "c.wav"});
    }
    SUBCASE("a removed record no longer answers") {
        catalog.apply({{}, {"a.wav", "b.wav"}});
        CHECK(catalog.ok_paths_with_hash(7).empty());
    }
    SUBCASE("a record that fails now no longer answers") {
        catalog.apply({{make_record("a.wav", 7, FileStatus::unreadable)}, {}});
        CHECK(catalog.ok_paths_with_hash(7) == Paths{"b.wav"});
        catalog.apply({{make_record("b.wav", 7, FileStatus::vanished)}, {}});
        CHECK(catalog.ok_paths_with_hash(7).empty());
    }
    SUBCASE("a record replaced by the same record twice is indexed once") {
        catalog.apply({{make_record("c.wav", 8)}, {}});
        catalog.apply({{make_record("c.wav", 8)}, {}});
        CHECK(catalog.ok_paths_with_hash(8) == Paths{"c.wav"});
        catalog.apply({{}, {"c.wav"}});
        CHECK(catalog.ok_paths_with_hash(8).empty());
    }
}
TEST_CASE("split_tags: commas or semicolons, trimmed, empty ones dropped, sorted and unique") {
    using V = std::vector<std::string>;
    CHECK(audiosim::split_tags(" kick ;drum, kick,") == V{"drum", "kick"});
    CHECK(audiosim::split_tags("one") == V{"one"});
    CHECK(audiosim::split_tags("two words;\tx ") == V{"two words", "x"});
    CHECK(audiosim::split_tags("").empty());
    CHECK(audiosim::split_tags(" ,; ,").empty());
}

TEST_CASE("metadata_columns and check_catalog_field: built-in fields and the columns some record has") {
    Catalog catalog;
    FileRecord a = make_record("a.wav", 1), b = make_record("b.wav", 2);
    a.set_metadata("title", "x");
    b.set_metadata("content_type", "drum");
    b.set_metadata("title", "y");
    catalog.apply({{a, b, make_record("c.wav", 3)}, {}});
    CHECK(catalog.metadata_columns() == std::vector<std::string>{"content_type", "title"});
    audiosim::check_catalog_field(catalog, "--group-by", "folder", {"folder", "tags"});
    audiosim::check_catalog_field(catalog, "--group-by", "content_type", {"folder", "tags"});
    auto [kind, message] = error_of([&] { audiosim::check_catalog_field(catalog, "--group-by", "genre", {"folder", "tags"}); });
    CHECK(kind == ErrorKind::usage);
    CHECK(message == "--group-by genre: no such field in the catalog (known: folder, tags, content_type, title)");
    CHECK(error_of([&] { audiosim::check_catalog_field(Catalog(), "--filter", "title", {"path"}); }).first ==
          ErrorKind::usage);
}

TEST_SUITE_END();
