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

constexpr const char* plugin_name = "libaudiosim_torch.so";

std::string executable_folder() {
    char buffer[4096];
    ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof buffer - 1);
    return n > 0 ? parent_path(std::string(buffer, static_cast<size_t>(n))) : ".";
}

TorchBackend* load_backend() {
    // Torch's OpenMP threads otherwise spin between parallel regions. embed's CPU path starts one
    // region per batch beside the decoding threads, and the spinning took 85 % of embed's CPU
    // time and 10x its wall time on a busy 2-core machine (docs/PERFORMANCE.md). libgomp reads
    // this when the plugin loads it; a user's own setting wins.
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", /*overwrite=*/0);
    std::vector<std::string> candidates;
    if (const char* path = std::getenv("AUDIOSIM_TORCH_PLUGIN"); path && *path) candidates.emplace_back(path);
    std::string folder = executable_folder();
    candidates.push_back(join_path(folder, plugin_name));
    candidates.push_back(join_path(folder, std::string("../lib/audiosim/") + plugin_name));
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
        auto entry = reinterpret_cast<TorchBackend* (*)()>(::dlsym(handle, "audiosim_torch_backend_v6"));
        if (!entry) {
            failures += fmt::format("; {}: no audiosim_torch_backend_v6 (plugin of another version)", candidate);
            continue;
        }
        return entry();  // the handle stays open for the life of the process
    }
    throw Error(ErrorKind::model, fmt::format("cannot load the torch plugin {}{}", plugin_name, failures));
}

}  // namespace

TorchBackend& torch_backend() {
    static std::once_flag once;
    static TorchBackend* backend = nullptr;
    std::call_once(once, [] { backend = load_backend(); });
    return *backend;
}

void validate_device(const std::string& device) {
    bool known = device == "auto" || device == "cpu" || device == "cuda" ||
                 (device.rfind("cuda:", 0) == 0 && device.size() > 5 && device.find_first_not_of("0123456789", 5) == std::string::npos);
    if (!known) throw Error(ErrorKind::usage, fmt::format("unknown device '{}' (auto, cpu, cuda, cuda:N)", device));
}

ExactSearchFactory torch_exact_search_factory(std::string device, int threads) {
    return [device = std::move(device), threads](std::vector<uint64_t> ids, std::vector<float> vectors, size_t dim) {
        return torch_backend().exact_search(std::move(ids), vectors, dim, device, threads);
    };
}

}  // namespace audiosim
