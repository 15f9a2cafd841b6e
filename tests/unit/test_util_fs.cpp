// lib/util/fs: AtomicFile and the byte-string path helpers.
#include <filesystem>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <doctest/doctest.h>

#include "support.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using audiosim::test::TempFolder;
using audiosim::test::write_bytes;

using audiosim::test::CurrentFolder;

namespace {

std::vector<std::string> folder_entries(const std::string& folder) {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(folder)) names.push_back(entry.path().filename().string());
    return names;
}

}  // namespace

TEST_SUITE_BEGIN("util/fs");

TEST_CASE("AtomicFile: commit replaces the target, which keeps its old content until then") {
    TempFolder folder;
    std::string target = folder.file("manifest.json");
    write_bytes(target, "old");
    {
        audiosim::AtomicFile file(target);
        file.write("new ");
        file.write("content");
        CHECK(file.temporary_path() != target);
        CHECK(audiosim::parent_path(file.temporary_path()) == folder.path());
        CHECK(audiosim::read_text_file(target) == "old");  // readers still see the old file
        CHECK(audiosim::read_text_file(file.temporary_path()) == "new content");
        struct stat before;
        REQUIRE(::stat(file.temporary_path().c_str(), &before) == 0);
        file.commit();
        struct stat after;
        REQUIRE(::stat(target.c_str(), &after) == 0);
        CHECK(after.st_ino == before.st_ino);  // a rename, not a copy
        CHECK_FALSE(audiosim::path_exists(file.temporary_path()));
    }
    CHECK(audiosim::read_text_file(target) == "new content");
    CHECK(folder_entries(folder.path()) == std::vector<std::string>{"manifest.json"});
}

TEST_CASE("AtomicFile: commit creates a missing target") {
    TempFolder folder;
    std::string target = folder.file("new.txt");
    audiosim::AtomicFile file(target);
    file.write("x");
    file.commit();
    CHECK(audiosim::read_text_file(target) == "x");
}

TEST_CASE("AtomicFile: destroyed without commit leaves the target untouched and no temporary") {
    TempFolder folder;
    std::string target = folder.file("data.txt");
    write_bytes(target, "precious");
    std::string temporary;
    {
        audiosim::AtomicFile file(target);
        file.write("half-written");
        temporary = file.temporary_path();
        CHECK(audiosim::path_exists(temporary));
    }
    CHECK_FALSE(audiosim::path_exists(temporary));
    CHECK(audiosim::read_text_file(target) == "precious");
    CHECK(folder_entries(folder.path()) == std::vector<std::string>{"data.txt"});
}

TEST_CASE("AtomicFile: a temporary written by another writer (temporary_path) is committed too") {
    TempFolder folder;
    std::string target = folder.file("segment.h5");
    audiosim::AtomicFile file(target);
    write_bytes(file.temporary_path(), "written by a library");
    file.commit();
    CHECK(audiosim::read_text_file(target) == "written by a library");
    CHECK(folder_entries(folder.path()) == std::vector<std::string>{"segment.h5"});
}

TEST_CASE("AtomicFile: two files for the same target use different temporaries") {
    TempFolder folder;
    audiosim::AtomicFile first(folder.file("t"));
    audiosim::AtomicFile second(folder.file("t"));
    CHECK(first.temporary_path() != second.temporary_path());
}

TEST_CASE("AtomicFile: a target in a missing folder throws Error(io)") {
    TempFolder folder;
    audiosim::AtomicFile file(folder.file("missing/x.txt"));
    try {
        file.write("x");
        FAIL("write into a missing folder succeeded");
    } catch (const audiosim::Error& error) {
        CHECK(error.kind() == audiosim::ErrorKind::io);
    }
}

TEST_CASE("MappedFile maps a file's bytes; an empty file maps to nothing; a missing one is Error(input)") {
    TempFolder folder;
    std::string bytes("mapped\0bytes", 12);
    write_bytes(folder.file("f"), bytes);
    {
        audiosim::MappedFile mapped(folder.file("f"));
        REQUIRE(mapped.size() == bytes.size());
        CHECK(std::string(mapped.data(), mapped.size()) == bytes);
        mapped.expect_random_access();
    }
    write_bytes(folder.file("empty"), "");
    audiosim::MappedFile empty(folder.file("empty"));
    CHECK(empty.size() == 0);
    CHECK(empty.data() == nullptr);
    CHECK_THROWS_AS(audiosim::MappedFile(folder.file("missing")), audiosim::Error);
    CHECK_THROWS_AS(audiosim::MappedFile(folder.path()), audiosim::Error);  // a folder
}

TEST_CASE("link_or_copy gives a new name to the same bytes and refuses an existing target") {
    TempFolder folder;
    write_bytes(folder.file("from"), "payload");
    audiosim::link_or_copy(folder.file("from"), folder.file("to"));
    CHECK(audiosim::read_text_file(folder.file("to")) == "payload");
    struct stat a {}, b {};
    REQUIRE(::stat(folder.file("from").c_str(), &a) == 0);
    REQUIRE(::stat(folder.file("to").c_str(), &b) == 0);
    CHECK(a.st_ino == b.st_ino);  // a hard link on this filesystem
    CHECK_THROWS_AS(audiosim::link_or_copy(folder.file("from"), folder.file("to")), audiosim::Error);
    CHECK_THROWS_AS(audiosim::link_or_copy(folder.file("missing"), folder.file("other")), audiosim::Error);
}

TEST_CASE("read_text_file: reads bytes exactly; a missing file is Error(input)") {
    TempFolder folder;
    std::string bytes("a\0b\xff\n", 5);
    write_bytes(folder.file("f"), bytes);
    CHECK(audiosim::read_text_file(folder.file("f")) == bytes);
    try {
        audiosim::read_text_file(folder.file("nope"));
        FAIL("no error for a missing file");
    } catch (const audiosim::Error& error) {
        CHECK(error.kind() == audiosim::ErrorKind::input);
        CHECK(std::string(error.what()).find(folder.file("nope")) != std::string::npos);
    }
}

TEST_CASE("make_directories creates nested folders and accepts existing ones") {
    TempFolder folder;
    std::string nested = folder.file("a/b/c");
    audiosim::make_directories(nested);
    CHECK(std::filesystem::is_directory(nested));
    audiosim::make_directories(nested);
    CHECK(std::filesystem::is_directory(nested));
}

TEST_CASE("absolute_path normalizes lexically") {
    CHECK(audiosim::absolute_path("/x/a/../b") == "/x/b");
    CHECK(audiosim::absolute_path("/x/./y//z/") == "/x/y/z");
    CHECK(audiosim::absolute_path("/") == "/");
    CHECK(audiosim::absolute_path("/..") == "/");
    TempFolder folder;
    std::string cwd = std::filesystem::canonical(folder.path()).string();
    CurrentFolder here(cwd);
    CHECK(audiosim::absolute_path("a/../b") == cwd + "/b");
    CHECK(audiosim::absolute_path(".") == cwd);
    CHECK(audiosim::absolute_path("caf\xe9.wav") == cwd + "/caf\xe9.wav");  // raw bytes survive
}

TEST_CASE("absolute_path does not resolve symbolic links") {
    TempFolder folder;
    std::filesystem::create_directory(folder.file("real"));
    std::filesystem::create_directory_symlink(folder.file("real"), folder.file("link"));
    CHECK(audiosim::absolute_path(folder.file("link/x.wav")) == folder.file("link/x.wav"));
}

TEST_CASE("relative_to: inside, outside, the root itself, and root '/'") {
    CHECK(audiosim::relative_to("/lib/a/b.wav", "/lib") == "a/b.wav");
    CHECK(audiosim::relative_to("/lib/x.wav", "/lib") == "x.wav");
    CHECK(audiosim::relative_to("/other/x.wav", "/lib") == "");
    CHECK(audiosim::relative_to("/library/x.wav", "/lib") == "");  // a prefix, not a parent
    CHECK(audiosim::relative_to("/lib", "/lib") == "");
    CHECK(audiosim::relative_to("/a/b.wav", "/") == "a/b.wav");
    CHECK(audiosim::relative_to("/x", "/") == "x");
}

TEST_CASE("path_is_within is not fooled by a common prefix") {
    CHECK(audiosim::path_is_within("/a/b/c", "/a/b"));
    CHECK(audiosim::path_is_within("/a/b/c/d", "/a/b"));
    CHECK_FALSE(audiosim::path_is_within("/a/bc", "/a/b"));
    CHECK_FALSE(audiosim::path_is_within("/a/bc/d", "/a/b"));
    CHECK_FALSE(audiosim::path_is_within("/a/b", "/a/b"));
    CHECK_FALSE(audiosim::path_is_within("/a", "/a/b"));
    CHECK(audiosim::path_is_within("/anything", "/"));
}

TEST_CASE("join_path, parent_path, file_name") {
    CHECK(audiosim::join_path("/a", "b") == "/a/b");
    CHECK(audiosim::join_path("/a/", "b") == "/a/b");
    CHECK(audiosim::join_path("", "b") == "b");
    CHECK(audiosim::join_path("/", "b") == "/b");
    CHECK(audiosim::parent_path("/a/b") == "/a");
    CHECK(audiosim::parent_path("/a") == "/");
    CHECK(audiosim::parent_path("a") == ".");
    CHECK(audiosim::file_name("/a/b.wav") == "b.wav");
    CHECK(audiosim::file_name("b.wav") == "b.wav");
}

TEST_CASE("path_exists") {
    TempFolder folder;
    CHECK(audiosim::path_exists(folder.path()));
    CHECK_FALSE(audiosim::path_exists(folder.file("nothing")));
    write_bytes(folder.file("f"), "");
    CHECK(audiosim::path_exists(folder.file("f")));
}

TEST_CASE("not_a_regular_file names the kind from stat alone, never opening the path") {
    TempFolder folder;
    write_bytes(folder.file("f.wav"), "x");
    CHECK(audiosim::not_a_regular_file(folder.file("f.wav")) == "");
    std::filesystem::create_symlink(folder.file("f.wav"), folder.file("link.wav"));
    CHECK(audiosim::not_a_regular_file(folder.file("link.wav")) == "");  // links are followed
    // A FIFO without a writer: opening it for reading would block this test forever.
    REQUIRE(::mkfifo(folder.file("pipe.wav").c_str(), 0600) == 0);
    CHECK(audiosim::not_a_regular_file(folder.file("pipe.wav")) == "is a FIFO, not a regular file");
    CHECK(audiosim::not_a_regular_file("/dev/null") == "is a character device, not a regular file");
    CHECK(audiosim::not_a_regular_file(folder.path()) == "is a folder, not a regular file");
    CHECK(audiosim::not_a_regular_file(folder.file("missing")) == "No such file or directory");

    auto [kind, message] = audiosim::test::error_of([&] { audiosim::require_regular_file(folder.file("pipe.wav")); });
    CHECK(kind == audiosim::ErrorKind::input);
    CHECK(message == folder.file("pipe.wav") + ": is a FIFO, not a regular file");
    audiosim::require_regular_file(folder.file("f.wav"));  // no throw
}

TEST_CASE("read_text_file refuses a FIFO instead of blocking on it") {
    TempFolder folder;
    REQUIRE(::mkfifo(folder.file("labels.tsv").c_str(), 0600) == 0);
    auto [kind, message] = audiosim::test::error_of([&] { audiosim::read_text_file(folder.file("labels.tsv")); });
    CHECK(kind == audiosim::ErrorKind::input);
    CHECK(audiosim::test::contains(message, "labels.tsv: is a FIFO"));
}

TEST_SUITE_END();
