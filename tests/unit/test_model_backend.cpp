// lib/model/backend: finding and loading the torch plugin. The search is made once per process,
// so the cases that need a fresh one run in a copy of unit_tests placed where no plugin lies
// beside it (the cases marked skip, run by the parent test with --no-skip).
#include <cstdlib>
#include <dlfcn.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>
#include <sndfile.h>

#include "model/backend.hpp"
#include "support.hpp"
#include "util/fs.hpp"

using audiosim::ErrorKind;
using audiosim::torch_backend;
using audiosim::test::contains;
using audiosim::test::error_of;

namespace {

std::string this_executable() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

// Runs test case `name` in `copy` (a copy of unit_tests) with AUDIOSIM_TORCH_PLUGIN=`plugin`;
// returns its exit status and output.
std::pair<int, std::string> run_child(const std::string& copy, const std::string& name, const std::string& plugin) {
    const std::string log = copy + ".log";
    const std::string command = "AUDIOSIM_TORCH_PLUGIN='" + plugin + "' '" + copy + "' --no-skip -tc='" + name + "' >'" + log + "' 2>&1";
    int status = std::system(command.c_str());
    std::ifstream in(log);
    std::stringstream output;
    output << in.rdbuf();
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output.str()};
}

}  // namespace

TEST_SUITE_BEGIN("model/backend");

TEST_CASE("the plugin beside the executable is loaded once") {
    audiosim::TorchBackend& backend = torch_backend();
    CHECK(&backend == &torch_backend());
    CHECK_FALSE(backend.runtime().torch_version.empty());
}

TEST_CASE("child: no plugin anywhere: Error(model) naming every path tried, again on a second call" * doctest::skip()) {
    for (int call = 0; call < 2; call++) {
        auto [kind, message] = error_of([] { torch_backend(); });
        CHECK(kind == ErrorKind::model);
        CHECK(contains(message, std::string(std::getenv("AUDIOSIM_TORCH_PLUGIN")) + ": not found"));
        CHECK(contains(message, audiosim::parent_path(this_executable()) + "/libaudiosim_torch.so: not found"));
        CHECK(contains(message, "/../lib/audiosim/libaudiosim_torch.so: not found"));
    }
}

TEST_CASE("child: $AUDIOSIM_TORCH_PLUGIN names the plugin" * doctest::skip()) {
    CHECK_FALSE(torch_backend().runtime().torch_version.empty());
}

TEST_CASE("child: a library without the entry point is refused" * doctest::skip()) {
    auto [kind, message] = error_of([] { torch_backend(); });
    CHECK(kind == ErrorKind::model);
    CHECK(contains(message, "no audiosim_torch_backend_v6 (plugin of another version)"));
}

TEST_CASE("where the plugin is looked for") {
    audiosim::test::TempFolder folder;
    const std::string copy = folder.file("unit_tests");
    std::filesystem::copy_file(this_executable(), copy);
    std::filesystem::permissions(copy, std::filesystem::perms::owner_all);
    const std::string plugin = audiosim::parent_path(this_executable()) + "/libaudiosim_torch.so";
    Dl_info sndfile{};
    REQUIRE(::dladdr(reinterpret_cast<void*>(&sf_version_string), &sndfile) != 0);

    struct Case {
        const char* name;
        std::string plugin;
    };
    for (const Case& child : {Case{"child: no plugin anywhere*", folder.file("missing.so")},
                              Case{"child: $AUDIOSIM_TORCH_PLUGIN names the plugin", plugin},
                              Case{"child: a library without the entry point*", sndfile.dli_fname}}) {
        auto [status, output] = run_child(copy, child.name, child.plugin);
        CHECK_MESSAGE(status == 0, child.name, "\n", output);
        CHECK_MESSAGE(contains(output, "1 passed"), child.name, "\n", output);  // it ran, and only it
    }
}

TEST_SUITE_END();
