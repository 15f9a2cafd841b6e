// lib/store/failures: the files a stage failed on, in a segment's /failed group and in a table's
// merged view.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "store/failures.hpp"
#include "store/h5.hpp"
#include "support.hpp"

using audiosim::FailureMap;
using audiosim::FileFailure;
using audiosim::test::TempFolder;
namespace h5 = audiosim::h5;

namespace {

std::vector<FileFailure> round_trip(const std::string& path, const std::vector<FileFailure>& failures) {
    h5::File file = h5::File::create(path);
    audiosim::write_failures(file, failures);
    file.close();
    return audiosim::read_failures(h5::File::open_read_only(path));
}

bool same(const std::vector<FileFailure>& a, const std::vector<FileFailure>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); i++)
        if (a[i].file_id != b[i].file_id || a[i].error != b[i].error) return false;
    return true;
}

}  // namespace

TEST_SUITE_BEGIN("store/failures");

TEST_CASE("failures round trip in their order, UTF-8 causes and 64-bit ids intact; none is an empty group") {
    TempFolder folder;
    const std::vector<FileFailure> failures = {{(uint64_t{1} << 63) + 5, "cannot resample 1 Hz to 22050 Hz"},
                                               {3, "d\xc3\xa9j\xc3\xa0 vu: stream ends after 812 of 44100 frames"},
                                               {2, ""}};
    CHECK(same(round_trip(folder.file("some.h5"), failures), failures));
    CHECK(round_trip(folder.file("none.h5"), {}).empty());
}

TEST_CASE("a file without the group (written before failures were recorded) has none") {
    TempFolder folder;
    h5::File::create(folder.file("old.h5")).close();
    CHECK(audiosim::read_failures(h5::File::open_read_only(folder.file("old.h5"))).empty());
}

TEST_CASE("apply_failures: a failure replaces a file's rows, rows replace a failure, others stay") {
    std::map<uint64_t, int> rows = {{1, 10}, {2, 20}};
    FailureMap failures = {{3, "old cause"}, {4, "still failing"}};
    const std::map<uint64_t, int> fresh = {{3, 30}};  // file 3 now has rows
    audiosim::apply_failures({{1, "decoding failed"}, {4, "another cause"}}, fresh, failures, rows);
    CHECK(rows == std::map<uint64_t, int>{{2, 20}});  // the caller adds `fresh` itself
    CHECK(failures == FailureMap{{1, "decoding failed"}, {4, "another cause"}});
}

TEST_CASE("failures_of lists a merged view by file id") {
    CHECK(audiosim::failures_of({}).empty());
    CHECK(same(audiosim::failures_of({{9, "b"}, {2, "a"}}), {{2, "a"}, {9, "b"}}));
}

TEST_SUITE_END();
