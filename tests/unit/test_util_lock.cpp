// lib/util/lock: the store's flock(2) writer lock.
#include <chrono>
#include <memory>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <doctest/doctest.h>

#include "support.hpp"
#include "util/error.hpp"
#include "util/lock.hpp"

using audiosim::test::TempFolder;

namespace {

// Exit codes of the child that tries the lock.
constexpr int child_busy_with_note = 0;
constexpr int child_got_lock = 1;
constexpr int child_busy_without_note = 2;
constexpr int child_other_error = 3;

// Forks a child that tries the lock without waiting; returns its exit status.
int try_lock_in_child(const std::string& lock_path, const std::string& expected_note) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int code = child_other_error;
        try {
            audiosim::WriterLock lock(lock_path, "child", 0);
            code = child_got_lock;
        } catch (const audiosim::Error& error) {
            if (error.kind() == audiosim::ErrorKind::busy)
                code = std::string(error.what()).find(expected_note) != std::string::npos ? child_busy_with_note
                                                                                           : child_busy_without_note;
        } catch (...) {
        }
        ::_exit(code);  // no doctest teardown in the child
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    return WEXITSTATUS(status);
}

bool busy(const std::string& lock_path, double wait_seconds) {
    try {
        audiosim::WriterLock lock(lock_path, "second", wait_seconds);
        return false;
    } catch (const audiosim::Error& error) {
        CHECK(error.kind() == audiosim::ErrorKind::busy);
        return true;
    }
}

}  // namespace

TEST_SUITE_BEGIN("util/lock");

TEST_CASE("another process cannot take a held lock and is told who holds it") {
    TempFolder folder;
    std::string path = folder.file("lock");
    std::string note = "pid 4242: audiosim ingest /music";
    audiosim::WriterLock lock(path, note, 0);
    CHECK(try_lock_in_child(path, note) == child_busy_with_note);
}

TEST_CASE("another process takes the lock once it is released") {
    TempFolder folder;
    std::string path = folder.file("lock");
    { audiosim::WriterLock lock(path, "first", 0); }
    CHECK(try_lock_in_child(path, "first") == child_got_lock);
}

TEST_CASE("the lock is released by its destructor") {
    TempFolder folder;
    std::string path = folder.file("lock");
    auto first = std::make_unique<audiosim::WriterLock>(path, "first", 0);
    CHECK(busy(path, 0));  // flock is per open file description: the same process conflicts too
    first.reset();
    CHECK_FALSE(busy(path, 0));
}

TEST_CASE("the busy message names the holder's note, the latest holder's") {
    TempFolder folder;
    std::string path = folder.file("lock");
    { audiosim::WriterLock lock(path, "an old and much longer note of an earlier holder", 0); }
    audiosim::WriterLock lock(path, "pid 7: new", 0);
    try {
        audiosim::WriterLock second(path, "second", 0);
        FAIL("took a held lock");
    } catch (const audiosim::Error& error) {
        std::string message = error.what();
        CHECK(message.find("pid 7: new") != std::string::npos);
        CHECK(message.find("earlier holder") == std::string::npos);
    }
}

TEST_CASE("waiting succeeds when the holder releases in time") {
    TempFolder folder;
    std::string path = folder.file("lock");
    auto holder = std::make_unique<audiosim::WriterLock>(path, "holder", 0);
    std::thread release([&holder] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        holder.reset();
    });
    auto start = std::chrono::steady_clock::now();
    bool got = false;
    try {
        audiosim::WriterLock lock(path, "waiter", 10);
        got = true;
    } catch (const audiosim::Error&) {
    }
    double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    release.join();
    CHECK(got);
    CHECK(waited >= 0.15);
    CHECK(waited < 5);
}

TEST_CASE("waiting gives up with Error(busy) after about wait_seconds") {
    TempFolder folder;
    std::string path = folder.file("lock");
    audiosim::WriterLock holder(path, "holder", 0);
    auto start = std::chrono::steady_clock::now();
    CHECK(busy(path, 0.3));
    double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK(waited >= 0.3);
    CHECK(waited < 3);
}

TEST_CASE("a lock file in a missing folder is Error(io)") {
    TempFolder folder;
    try {
        audiosim::WriterLock lock(folder.file("missing/lock"), "x", 0);
        FAIL("locked a file in a missing folder");
    } catch (const audiosim::Error& error) {
        CHECK(error.kind() == audiosim::ErrorKind::io);
    }
}

TEST_SUITE_END();
