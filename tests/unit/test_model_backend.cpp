// lib/model/backend: which plugin runs a device, finding and loading the plugins. Each plugin is
// looked for once per process, so the cases that need a fresh one run in a copy of unit_tests
// placed where no plugin lies beside it (the cases marked skip, run by the parent test with
// --no-skip). This process loads the CPU plugin only.
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
#include "model/spec.hpp"
#include "support.hpp"
#include "util/fs.hpp"

using audiosim::ErrorKind;
using audiosim::plugin_for_device;
using audiosim::torch_backend;
using audiosim::torch_plugin;
using audiosim::TorchPlugin;
using audiosim::test::contains;
using audiosim::test::error_of;

namespace {

std::string this_executable() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

// Runs test case `name` in `copy` (a copy of unit_tests) with AUDIOSIM_TORCH_PLUGIN_DIR=`folder`;
// returns its exit status and output.
std::pair<int, std::string> run_child(const std::string& copy, const std::string& name, const std::string& folder) {
    const std::string log = copy + ".log";
    const std::string command =
        "AUDIOSIM_TORCH_PLUGIN_DIR='" + folder + "' '" + copy + "' --no-skip -tc='" + name + "' >'" + log + "' 2>&1";
    int status = std::system(command.c_str());
    std::ifstream in(log);
    std::stringstream output;
    output << in.rdbuf();
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output.str()};
}

bool libtorch_cuda_loaded() {
    void* handle = ::dlopen("libtorch_cuda.so", RTLD_LAZY | RTLD_NOLOAD);
    if (handle) ::dlclose(handle);  // NOLOAD took a reference
    return handle != nullptr;
}

// One second of noise through `device`'s model of `plugin`.
std::vector<float> embed_noise(audiosim::TorchBackend& plugin, const std::string& device) {
    const audiosim::ModelSpec spec =
        audiosim::find_model(std::string(AUDIOSIM_UNIT_SOURCE_DIR) + "/../../models/default/audiosim-dsp-v4.json");
    std::vector<float> wave(static_cast<size_t>(spec.sample_rate));
    for (size_t i = 0; i < wave.size(); i++) wave[i] = static_cast<float>((i * 7919) % 101) / 101.0f - 0.5f;
    auto model = plugin.load(spec.weights_path, device, 1, "fp32");
    CHECK(model->device() == "cpu");
    const auto samples = static_cast<int64_t>(wave.size());
    return model->embed(wave, 1, samples, {samples}, spec.embedding_dim);
}

}  // namespace

TEST_SUITE_BEGIN("model/backend");

TEST_CASE("which plugin runs a device: CUDA for cuda and cuda:N, and for auto where the driver finds a device") {
    for (int devices : {0, 1, 2}) {
        CHECK(plugin_for_device("cpu", devices) == TorchPlugin::cpu);
        CHECK(plugin_for_device("cuda", devices) == TorchPlugin::cuda);
        CHECK(plugin_for_device("cuda:1", devices) == TorchPlugin::cuda);
        CHECK(plugin_for_device("auto", devices) == (devices > 0 ? TorchPlugin::cuda : TorchPlugin::cpu));
    }
    for (const char* device : {"tpu", "", "cuda:", "cuda:x", "CPU"}) {
        auto [kind, message] = error_of([&] { plugin_for_device(device, 1); });
        CHECK_MESSAGE(kind == ErrorKind::usage, device);
        CHECK(contains(message, "unknown device"));
    }
}

TEST_CASE("the CPU plugin beside the executable is loaded once, for cpu") {
    audiosim::TorchBackend& backend = torch_backend("cpu");
    CHECK(&backend == &torch_backend("cpu"));
    CHECK(&backend == &torch_plugin(TorchPlugin::cpu));
    CHECK_FALSE(backend.runtime().torch_version.empty());
}

TEST_CASE("child: no plugin anywhere: Error(model) naming the plugin and every path tried, again on a second call" *
          doctest::skip()) {
    const std::string folder = std::getenv("AUDIOSIM_TORCH_PLUGIN_DIR");
    for (const char* name : {"libaudiosim_torch.so", "libaudiosim_torch_cuda.so"}) {
        for (int call = 0; call < 2; call++) {
            auto [kind, message] = error_of([&] { torch_backend(contains(name, "cuda") ? "cuda" : "cpu"); });
            CHECK(kind == ErrorKind::model);
            CHECK(contains(message, std::string("cannot load the torch plugin ") + name + ";"));
            CHECK(contains(message, folder + "/" + name + ": not found"));
            CHECK(contains(message, audiosim::parent_path(this_executable()) + "/" + name + ": not found"));
            CHECK(contains(message, std::string("/../lib/audiosim/") + name + ": not found"));
        }
    }
}

TEST_CASE("child: $AUDIOSIM_TORCH_PLUGIN_DIR names the plugins' folder; the CUDA plugin loads after the CPU one has run" *
          doctest::skip()) {
    audiosim::TorchBackend& cpu = torch_backend("cpu");
    std::vector<float> on_cpu_plugin = embed_noise(cpu, "cpu");
    // Without devices the driver sends auto to the CPU plugin too, which has no CUDA to offer.
    if (audiosim::cuda_driver_devices() == 0) embed_noise(torch_backend("auto"), "auto");
    CHECK(cpu.exact_search({1, 2}, std::vector<float>(8, 0.5f), 4, "cpu", 1)->size() == 2);
    CHECK_FALSE(cpu.runtime().cuda_compiled);
    CHECK(cpu.runtime().cuda_devices == 0);
    CHECK_FALSE(libtorch_cuda_loaded());

    audiosim::TorchBackend& cuda = torch_backend("cuda:0");
    CHECK(libtorch_cuda_loaded());
    CHECK(&cuda == &torch_plugin(TorchPlugin::cuda));
    CHECK(&cuda != &cpu);
    // The CPU plugin's work before did not leave libtorch_cpu believing there is no CUDA.
    const audiosim::TorchRuntime runtime = cuda.runtime();
    CHECK(runtime.cuda_compiled);
    CHECK_FALSE(runtime.cuda_version.empty());
    CHECK(runtime.cuda_devices == audiosim::cuda_driver_devices());
    CHECK(embed_noise(cuda, "cpu") == on_cpu_plugin);
}

TEST_CASE("child: a library without the entry point is refused" * doctest::skip()) {
    auto [kind, message] = error_of([] { torch_backend("cpu"); });
    CHECK(kind == ErrorKind::model);
    CHECK(contains(message, "/libaudiosim_torch.so: no audiosim_torch_backend_v7 (plugin of another version)"));
}

TEST_CASE("where the plugins are looked for") {
    audiosim::test::TempFolder folder;
    const std::string copy = folder.file("unit_tests");
    std::filesystem::copy_file(this_executable(), copy);
    std::filesystem::permissions(copy, std::filesystem::perms::owner_all);
    Dl_info sndfile{};
    REQUIRE(::dladdr(reinterpret_cast<void*>(&sf_version_string), &sndfile) != 0);
    const std::string impostor = folder.file("impostor");
    std::filesystem::create_directory(impostor);
    std::filesystem::create_symlink(sndfile.dli_fname, impostor + "/libaudiosim_torch.so");

    struct Case {
        const char* name;
        std::string folder;
    };
    for (const Case& child : {Case{"child: no plugin anywhere*", folder.file("missing")},
                              Case{"child: $AUDIOSIM_TORCH_PLUGIN_DIR names*", audiosim::parent_path(this_executable())},
                              Case{"child: a library without the entry point*", impostor}}) {
        auto [status, output] = run_child(copy, child.name, child.folder);
        CHECK_MESSAGE(status == 0, child.name, "\n", output);
        CHECK_MESSAGE(contains(output, "1 passed"), child.name, "\n", output);  // it ran, and only it
    }
}

TEST_SUITE_END();
