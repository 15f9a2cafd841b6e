// lib/store/stamp: the root attributes of every HDF5 file audiosim writes, and the format check.
#include <string>

#include <doctest/doctest.h>

#include "store/h5.hpp"
#include "store/stamp.hpp"
#include "support.hpp"
#include "version.hpp"

using audiosim::ErrorKind;
using audiosim::StampInfo;
using audiosim::test::contains;
using audiosim::test::error_of;
using audiosim::test::TempFolder;
namespace h5 = audiosim::h5;

namespace {

void write_stamped(const std::string& path, const std::string& format, int64_t version, const audiosim::WriterStamp& stamp) {
    h5::File file = h5::File::create(path);
    audiosim::write_stamp(file, format, version, stamp);
    file.close();
}

}  // namespace

TEST_SUITE_BEGIN("store/stamp");

TEST_CASE("what write_stamp writes, read_stamp reads") {
    TempFolder folder;
    const std::string path = folder.file("s.h5");
    write_stamped(path, "audiosim-test", 3, {"audiosim ingest 'a b'", 42, "/lib/rary"});
    StampInfo info = audiosim::read_stamp(h5::File::open_read_only(path));
    CHECK(info.format == "audiosim-test");
    CHECK(info.format_version == 3);
    CHECK(info.writer == audiosim::writer_name());
    CHECK(contains(info.writer, audiosim::audiosim_version));
    CHECK(info.command_line == "audiosim ingest 'a b'");
    CHECK(info.generation == 42);
    CHECK(info.library_root == "/lib/rary");
    CHECK(info.created.size() >= 20);  // an ISO 8601 UTC time: 2026-01-02T03:04:05Z
    CHECK(info.created.back() == 'Z');
}

TEST_CASE("read_stamp: attributes a file lacks read as empty or 0") {
    TempFolder folder;
    SUBCASE("no library root (files written before it was stamped)") {
        write_stamped(folder.file("s.h5"), "audiosim-test", 1, {"c", 7, ""});
        StampInfo info = audiosim::read_stamp(h5::File::open_read_only(folder.file("s.h5")));
        CHECK(info.library_root.empty());
        CHECK(info.generation == 7);
    }
    SUBCASE("no stamp at all") {
        h5::File::create(folder.file("s.h5")).close();
        StampInfo info = audiosim::read_stamp(h5::File::open_read_only(folder.file("s.h5")));
        CHECK(info.format.empty());
        CHECK(info.format_version == 0);
        CHECK(info.writer.empty());
        CHECK(info.generation == 0);
    }
}

TEST_CASE("check_stamp: the format and versions 1 to the supported one pass; others are Error(format) naming the file") {
    TempFolder folder;
    const std::string path = folder.file("s.h5");
    write_stamped(path, "audiosim-test", 2, {"c", 1, ""});
    CHECK_NOTHROW(audiosim::check_stamp(h5::File::open_read_only(path), "audiosim-test", 2));
    CHECK_NOTHROW(audiosim::check_stamp(h5::File::open_read_only(path), "audiosim-test", 5));

    auto [kind, message] = error_of([&] { audiosim::check_stamp(h5::File::open_read_only(path), "audiosim-test", 1); });
    CHECK(kind == ErrorKind::format);
    CHECK(message == path + ": audiosim-test version 2 (written by " + audiosim::writer_name() +
                         "); this audiosim reads versions 1 to 1");

    auto [other_kind, other] = error_of([&] { audiosim::check_stamp(h5::File::open_read_only(path), "audiosim-other", 2); });
    CHECK(other_kind == ErrorKind::format);
    CHECK(other == path + ": not an audiosim-other file");

    for (int64_t version : {0, -1}) {
        audiosim::test::set_root_int_attribute(path, "format_version", version);
        auto [bad_kind, bad] = error_of([&] { audiosim::check_stamp(h5::File::open_read_only(path), "audiosim-test", 2); });
        CHECK(bad_kind == ErrorKind::format);
        CHECK(contains(bad, "version " + std::to_string(version)));
    }

    h5::File::create(folder.file("bare.h5")).close();
    auto [bare_kind, bare] = error_of([&] { audiosim::check_stamp(h5::File::open_read_only(folder.file("bare.h5")), "audiosim-test", 2); });
    CHECK(bare_kind == ErrorKind::format);
    CHECK(contains(bare, "not an audiosim-test file"));
}

TEST_SUITE_END();
