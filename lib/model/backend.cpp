#include "model/backend.hpp"

#include <cstdlib>
#include <dlfcn.h>
#include <mutex>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/fs.hpp"

namespace audiosim {

namespace {

const char* plugin_file(TorchPlugin plugin) {
    return plugin == TorchPlugin::cuda ? "libaudiosim_torch_cuda.so" : "libaudiosim_torch.so";
}

std::string executable_folder() {
    char buffer[4096];
    ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof buffer - 1);
    return n > 0 ? parent_path(std::string(buffer, static_cast<size_t>(n))) : ".";
}

TorchBackend* load_backend(TorchPlugin plugin) {
    prepare_torch_environment();
    const std::string name = plugin_file(plugin);
    std::vector<std::string> candidates;
    if (const char* folder = std::getenv("AUDIOSIM_TORCH_PLUGIN_DIR"); folder && *folder)
        candidates.push_back(join_path(folder, name));
    std::string folder = executable_folder();
    candidates.push_back(join_path(folder, name));
    candidates.push_back(join_path(folder, "../lib/audiosim/" + name));
    std::string failures;
    for (const auto& candidate : candidates) {
        if (!path_exists(candidate)) {
            failures += fmt::format("; {}: not found", candidate);
            continue;
        }
        void* handle = ::dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!handle) {
            failures += fmt::format("; {}: {}", candidate, ::dlerror());
            continue;
        }
        auto entry = reinterpret_cast<TorchBackend* (*)()>(::dlsym(handle, "audiosim_torch_backend_v7"));
        if (!entry) {
            failures += fmt::format("; {}: no audiosim_torch_backend_v7 (plugin of another version)", candidate);
            continue;
        }
        return entry();  // the handle stays open for the life of the process
    }
    throw Error(ErrorKind::model, fmt::format("cannot load the torch plugin {}{}", name, failures));
}

}  // namespace

TorchPlugin plugin_for_device(const std::string& device, int cuda_devices) {
    validate_device(device);
    if (device == "cpu") return TorchPlugin::cpu;
    if (device == "auto") return cuda_devices > 0 ? TorchPlugin::cuda : TorchPlugin::cpu;
    return TorchPlugin::cuda;
}

int cuda_driver_devices() {
    // The driver, not torch or the CUDA runtime: where it is missing the dlopen fails at once, and
    // cuInit fails without a device (or with CUDA_VISIBLE_DEVICES empty), as torch's would. Asked
    // once: every exact search asks for its plugin.
    static const int devices = [] {
        void* driver = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
        if (!driver) return 0;
        auto init = reinterpret_cast<int (*)(unsigned)>(::dlsym(driver, "cuInit"));
        auto count = reinterpret_cast<int (*)(int*)>(::dlsym(driver, "cuDeviceGetCount"));
        int found = 0;
        if (!init || !count || init(0) != 0 || count(&found) != 0) return 0;
        return found;  // the driver stays loaded: the CUDA plugin loads it next
    }();
    return devices;
}

TorchBackend& torch_plugin(TorchPlugin plugin) {
    static std::once_flag once[2];
    static TorchBackend* backends[2] = {};
    const auto slot = static_cast<size_t>(plugin);
    std::call_once(once[slot], [&] { backends[slot] = load_backend(plugin); });
    return *backends[slot];
}

void prepare_torch_environment() {
    // Torch's OpenMP threads otherwise spin between parallel regions. embed's CPU path starts one
    // region per batch beside the decoding threads, and the spinning took 85 % of embed's CPU
    // time and 10x its wall time on a busy 2-core machine (docs/PERFORMANCE.md). libgomp reads
    // this when the plugin loads it; a user's own setting wins.
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", /*overwrite=*/0);
}

TorchBackend& torch_backend(const std::string& device) {
    // cuInit is not free on a machine with devices: only "auto" needs the count.
    return torch_plugin(plugin_for_device(device, device == "auto" ? cuda_driver_devices() : 0));
}

void validate_device(const std::string& device) {
    bool known = device == "auto" || device == "cpu" || device == "cuda" ||
                 (device.rfind("cuda:", 0) == 0 && device.size() > 5 && device.find_first_not_of("0123456789", 5) == std::string::npos);
    if (!known) throw Error(ErrorKind::usage, fmt::format("unknown device '{}' (auto, cpu, cuda, cuda:N)", device));
}

ExactSearchFactory torch_exact_search_factory(std::string device, int threads) {
    return [device = std::move(device), threads](std::vector<uint64_t> ids, std::vector<float> vectors, size_t dim) {
        return torch_backend(device).exact_search(std::move(ids), vectors, dim, device, threads);
    };
}

}  // namespace audiosim
