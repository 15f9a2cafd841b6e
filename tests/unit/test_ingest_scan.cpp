// lib/ingest/scan: turning ingest's inputs into a sorted list of files.
#include <algorithm>
#include <filesystem>
#include <string>
#include <sys/stat.h>
#include <vector>

#include <doctest/doctest.h>

#include "ingest/scan.hpp"
#include "support.hpp"
#include "util/fs.hpp"

using audiosim::ScanOptions;
using audiosim::ScanResult;
using audiosim::test::TempFolder;
using audiosim::test::write_bytes;

namespace {

using Files = std::vector<std::string>;

// A list as one string, so that a failed check shows both sides.
std::string listing(const Files& files) {
    std::string text;
    for (const auto& file : files) text += (text.empty() ? "" : " | ") + file;
    return "[" + text + "]";
}

// Files under `root` as paths relative to it, listed.
std::string relative(const Files& files, const std::string& root) {
    Files result;
    for (const auto& file : files) {
        std::string inside = audiosim::relative_to(file, root);
        result.push_back(inside.empty() ? file : inside);
    }
    return listing(result);
}

// A small library: audio in folders, hidden things, a text file.
std::string make_library(const TempFolder& folder) {
    std::string root = folder.file("lib");
    for (const char* sub : {"lib/drums/kicks", "lib/keys", "lib/.hidden_folder"})
        audiosim::make_directories(folder.file(sub));
    for (const char* file : {"lib/a.wav", "lib/B.FLAC", "lib/notes.txt", "lib/.hidden.wav", "lib/drums/snare.wav",
                             "lib/drums/kicks/k1.wav", "lib/drums/kicks/k2.mp3", "lib/keys/piano.ogg",
                             "lib/keys/piano.wav.bak", "lib/.hidden_folder/inside.wav", "lib/noextension"})
        write_bytes(folder.file(file), "x");
    return root;
}

}  // namespace

TEST_SUITE_BEGIN("ingest/scan");

TEST_CASE("a folder scan: audio extensions (any case), hidden entries skipped, sorted absolute paths") {
    TempFolder folder;
    std::string root = make_library(folder);
    ScanResult result = audiosim::scan_inputs({root}, {});
    CHECK(relative(result.files, root) ==
          listing({"B.FLAC", "a.wav", "drums/kicks/k1.wav", "drums/kicks/k2.mp3", "drums/snare.wav", "keys/piano.ogg"}));
    CHECK(std::is_sorted(result.files.begin(), result.files.end()));
    for (const auto& file : result.files) CHECK(file.front() == '/');
    CHECK(listing(result.folders) == listing({root}));
    CHECK(result.named_files.empty());
    CHECK(result.problems.empty());
}

TEST_CASE("a file named directly is taken whatever its extension, hidden or not") {
    TempFolder folder;
    std::string root = make_library(folder);
    ScanResult result = audiosim::scan_inputs({root + "/notes.txt", root + "/.hidden.wav", root + "/noextension"}, {});
    CHECK(relative(result.files, root) == listing({".hidden.wav", "noextension", "notes.txt"}));
    CHECK(result.named_files.size() == 3);
    CHECK(result.folders.empty());
}

TEST_CASE("relative inputs are made absolute") {
    TempFolder folder;
    std::string root = make_library(folder);
    std::filesystem::path saved = std::filesystem::current_path();
    std::filesystem::current_path(root);
    ScanResult result = audiosim::scan_inputs({"keys", "./a.wav"}, {});
    std::filesystem::current_path(saved);
    std::string cwd = std::filesystem::canonical(root).string();
    CHECK(listing(result.files) == listing({cwd + "/a.wav", cwd + "/keys/piano.ogg"}));
}

TEST_CASE("include patterns replace the extension filter") {
    TempFolder folder;
    std::string root = make_library(folder);
    ScanOptions options;
    SUBCASE("a name pattern matches in every folder") {
        options.include = {"*.txt", "k?.*"};
        CHECK(relative(audiosim::scan_inputs({root}, options).files, root) ==
              listing({"drums/kicks/k1.wav", "drums/kicks/k2.mp3", "notes.txt"}));
    }
    SUBCASE("a pattern with a '/' matches the path below the scanned folder") {
        options.include = {"drums/*"};
        CHECK(relative(audiosim::scan_inputs({root}, options).files, root) == listing({"drums/snare.wav"}));
        options.include = {"drums/*/*"};
        CHECK(relative(audiosim::scan_inputs({root}, options).files, root) ==
              listing({"drums/kicks/k1.wav", "drums/kicks/k2.mp3"}));
    }
    SUBCASE("path patterns are relative to the scanned folder, not the root") {
        options.include = {"kicks/*.wav"};
        CHECK(relative(audiosim::scan_inputs({root + "/drums"}, options).files, root) == listing({"drums/kicks/k1.wav"}));
    }
    SUBCASE("include patterns apply to named files too") {
        options.include = {"*.wav"};
        CHECK(audiosim::scan_inputs({root + "/notes.txt"}, options).files.empty());
    }
    SUBCASE("'*' does not match hidden names, and hidden entries stay skipped") {
        options.include = {"*"};
        CHECK(relative(audiosim::scan_inputs({root}, options).files, root) ==
              listing({"B.FLAC", "a.wav", "drums/kicks/k1.wav", "drums/kicks/k2.mp3", "drums/snare.wav", "keys/piano.ogg",
                    "keys/piano.wav.bak", "noextension", "notes.txt"}));
    }
}

TEST_CASE("exclude patterns remove files and whole folders") {
    TempFolder folder;
    std::string root = make_library(folder);
    ScanOptions options;
    SUBCASE("by name") {
        options.exclude = {"*.mp3", "snare.*"};
        CHECK(relative(audiosim::scan_inputs({root}, options).files, root) ==
              listing({"B.FLAC", "a.wav", "drums/kicks/k1.wav", "keys/piano.ogg"}));
    }
    SUBCASE("a folder by name") {
        options.exclude = {"kicks"};
        CHECK(relative(audiosim::scan_inputs({root}, options).files, root) ==
              listing({"B.FLAC", "a.wav", "drums/snare.wav", "keys/piano.ogg"}));
    }
    SUBCASE("by path") {
        options.exclude = {"drums/*"};  // drums/kicks is a folder matched by the pattern: skipped whole
        CHECK(relative(audiosim::scan_inputs({root}, options).files, root) == listing({"B.FLAC", "a.wav", "keys/piano.ogg"}));
    }
    SUBCASE("exclude wins over include") {
        options.include = {"*.wav"};
        options.exclude = {"k1.wav"};
        CHECK(relative(audiosim::scan_inputs({root}, options).files, root) == listing({"a.wav", "drums/snare.wav"}));
    }
    SUBCASE("a named file is excluded too") {
        options.exclude = {"*.txt"};
        CHECK(audiosim::scan_inputs({root + "/notes.txt"}, options).files.empty());
    }
}

TEST_CASE("symbolic links are not followed unless asked") {
    TempFolder folder;
    std::string root = folder.file("lib");
    audiosim::make_directories(root + "/real");
    audiosim::make_directories(folder.file("outside"));
    write_bytes(root + "/real/r.wav", "x");
    write_bytes(folder.file("outside/o.wav"), "x");
    std::filesystem::create_symlink(root + "/real/r.wav", root + "/link.wav");
    std::filesystem::create_directory_symlink(folder.file("outside"), root + "/linked_folder");
    std::filesystem::create_symlink(root + "/missing.wav", root + "/broken.wav");

    ScanResult plain = audiosim::scan_inputs({root}, {});
    CHECK(relative(plain.files, root) == listing({"real/r.wav"}));
    CHECK(plain.problems.empty());

    ScanOptions follow;
    follow.follow_symlinks = true;
    ScanResult followed = audiosim::scan_inputs({root}, follow);
    CHECK(relative(followed.files, root) == listing({"link.wav", "linked_folder/o.wav", "real/r.wav"}));
    REQUIRE(followed.problems.size() == 1);
    CHECK(followed.problems[0].path == root + "/broken.wav");
    CHECK_FALSE(followed.problems[0].vanished);
}

TEST_CASE("a symbolic link named directly is taken, a broken one is a problem") {
    TempFolder folder;
    write_bytes(folder.file("r.wav"), "x");
    std::filesystem::create_symlink(folder.file("r.wav"), folder.file("link.wav"));
    std::filesystem::create_symlink(folder.file("missing.wav"), folder.file("broken.wav"));
    ScanResult result = audiosim::scan_inputs({folder.file("link.wav"), folder.file("broken.wav")}, {});
    CHECK(listing(result.files) == listing({folder.file("link.wav")}));
    REQUIRE(result.problems.size() == 1);
    CHECK(result.problems[0].path == folder.file("broken.wav"));
    CHECK(result.problems[0].cause.find("broken") != std::string::npos);
    CHECK_FALSE(result.problems[0].vanished);
}

TEST_CASE("a symbolic link loop is reported as a problem and the scan ends") {
    TempFolder folder;
    std::string root = folder.file("lib");
    audiosim::make_directories(root + "/a/b");
    write_bytes(root + "/a/b/x.wav", "x");
    std::filesystem::create_directory_symlink(root + "/a", root + "/a/b/up");  // a/b/up -> a
    ScanOptions follow;
    follow.follow_symlinks = true;
    ScanResult result = audiosim::scan_inputs({root}, follow);
    CHECK(relative(result.files, root) == listing({"a/b/x.wav"}));
    REQUIRE(result.problems.size() == 1);
    CHECK(result.problems[0].path == root + "/a/b/up");
    CHECK_FALSE(result.problems[0].vanished);

    ScanResult plain = audiosim::scan_inputs({root}, {});  // not followed: no loop to see
    CHECK(relative(plain.files, root) == listing({"a/b/x.wav"}));
    CHECK(plain.problems.empty());
}

TEST_CASE("a link to itself named directly is a problem, not a hang") {
    TempFolder folder;
    std::filesystem::create_symlink(folder.file("self"), folder.file("self"));
    ScanResult result = audiosim::scan_inputs({folder.file("self")}, {});
    CHECK(result.files.empty());
    REQUIRE(result.problems.size() == 1);
    CHECK_FALSE(result.problems[0].vanished);
}

TEST_CASE("a missing input is a problem with vanished=true") {
    TempFolder folder;
    write_bytes(folder.file("here.wav"), "x");
    ScanResult result = audiosim::scan_inputs({folder.file("gone.wav"), folder.file("here.wav"), folder.file("gone/")}, {});
    CHECK(listing(result.files) == listing({folder.file("here.wav")}));
    REQUIRE(result.problems.size() == 2);
    CHECK(result.problems[0].path == folder.file("gone.wav"));
    CHECK(result.problems[0].vanished);
    CHECK(result.problems[1].path == folder.file("gone"));
    CHECK(result.problems[1].vanished);
    CHECK(result.problems[0].cause != "");
}

TEST_CASE("a path through a regular file is a problem, not vanished") {
    TempFolder folder;
    write_bytes(folder.file("file"), "x");
    ScanResult result = audiosim::scan_inputs({folder.file("file/inside.wav")}, {});
    REQUIRE(result.problems.size() == 1);
    CHECK_FALSE(result.problems[0].vanished);  // ENOTDIR: something is there, just not readable as asked
}

TEST_CASE("output is sorted and unique when inputs overlap") {
    TempFolder folder;
    std::string root = make_library(folder);
    ScanResult result =
        audiosim::scan_inputs({root + "/keys", root, root + "/a.wav", root, root + "/drums/../a.wav"}, {});
    CHECK(relative(result.files, root) ==
          listing({"B.FLAC", "a.wav", "drums/kicks/k1.wav", "drums/kicks/k2.mp3", "drums/snare.wav", "keys/piano.ogg"}));
    CHECK(std::adjacent_find(result.files.begin(), result.files.end()) == result.files.end());
}

TEST_CASE("overlapping inputs list the same files whatever their order") {
    // Scanning a folder and its parent lists what scanning each alone lists, together.
    TempFolder folder;
    std::string root = make_library(folder);
    ScanOptions options;
    options.include = {"drums/*"};
    std::string parent_alone = relative(audiosim::scan_inputs({root}, options).files, root);
    REQUIRE(parent_alone == listing({"drums/snare.wav"}));
    CHECK(relative(audiosim::scan_inputs({root, root + "/drums"}, options).files, root) == parent_alone);
    CHECK(relative(audiosim::scan_inputs({root + "/drums", root}, options).files, root) == parent_alone);
}

TEST_CASE("names with spaces and non-UTF-8 bytes survive") {
    TempFolder folder;
    std::string root = folder.file("lib");
    audiosim::make_directories(root + "/with space");
    write_bytes(root + "/with space/caf\xe9 1.wav", "x");
    ScanResult result = audiosim::scan_inputs({root}, {});
    CHECK(listing(result.files) == listing({root + "/with space/caf\xe9 1.wav"}));
}

TEST_CASE("special files named directly are problems") {
    ScanResult result = audiosim::scan_inputs({"/dev/null"}, {});
    CHECK(result.files.empty());
    REQUIRE(result.problems.size() == 1);
    CHECK_FALSE(result.problems[0].vanished);
    CHECK(result.problems[0].special);
    CHECK(result.problems[0].cause == "is a character device, not a regular file");
}

TEST_CASE("a FIFO inside a scanned folder is a problem when the filters take its name") {
    TempFolder folder;
    std::string root = folder.file("lib");
    audiosim::make_directories(root);
    write_bytes(root + "/a.wav", "x");
    REQUIRE(::mkfifo((root + "/pipe.wav").c_str(), 0600) == 0);
    REQUIRE(::mkfifo((root + "/pipe.txt").c_str(), 0600) == 0);  // not audio by its name: not looked at
    ScanResult result = audiosim::scan_inputs({root}, {});
    CHECK(relative(result.files, root) == listing({"a.wav"}));
    REQUIRE(result.problems.size() == 1);
    CHECK(result.problems[0].path == root + "/pipe.wav");
    CHECK(result.problems[0].cause == "is a FIFO, not a regular file");
    CHECK(result.problems[0].special);
    CHECK_FALSE(result.problems[0].vanished);
}

TEST_CASE("has_audio_extension") {
    CHECK(audiosim::has_audio_extension("a.wav"));
    CHECK(audiosim::has_audio_extension("A.WaV"));
    CHECK(audiosim::has_audio_extension("x.y.flac"));
    CHECK_FALSE(audiosim::has_audio_extension("a.txt"));
    CHECK_FALSE(audiosim::has_audio_extension("wav"));
    CHECK_FALSE(audiosim::has_audio_extension(".wav"));  // a hidden file named "wav", no extension
    CHECK_FALSE(audiosim::has_audio_extension("a.wav.bak"));
    CHECK_FALSE(audiosim::has_audio_extension("a.raw"));
    CHECK_FALSE(audiosim::has_audio_extension("a."));
}

TEST_SUITE_END();
