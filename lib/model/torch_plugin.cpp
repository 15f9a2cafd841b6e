// libaudiosim_torch.so: everything that touches libtorch. Loaded by model/backend.cpp.
#include <ATen/autocast_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/script.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <malloc.h>
#include <mutex>
#include <optional>

#include "model/backend.hpp"
#include "util/error.hpp"

namespace audiosim {
namespace {

[[noreturn]] void model_error(const std::string& what, const std::exception& cause) {
    std::string message = cause.what();
    // c10::Error messages carry a C++ backtrace after the first line: one line is enough here.
    auto newline = message.find('\n');
    if (newline != std::string::npos) message.resize(newline);
    throw Error(ErrorKind::model, fmt::format("{}: {}", what, message));
}

torch::Device choose_device(const std::string& name) {
    if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
    torch::Device device(torch::kCPU);
    try {
        device = torch::Device(name);
    } catch (const std::exception&) {
        throw Error(ErrorKind::usage, fmt::format("unknown device '{}' (auto, cpu, cuda, cuda:N)", name));
    }
    if (device.is_cuda()) {
        int64_t count = static_cast<int64_t>(torch::cuda::device_count());
        int64_t index = device.has_index() ? device.index() : 0;
        if (index >= count)
            throw Error(ErrorKind::model, fmt::format("device {} requested, but {} CUDA device{} found", name, count,
                                                      count == 1 ? "" : "s"));
        device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
    }
    return device;
}

// Autocast for one forward call: ops on autocast's lists run in the reduced precision.
class AutocastScope {
public:
    AutocastScope(torch::DeviceType device, std::optional<torch::ScalarType> dtype) : device_(device), enabled_(dtype.has_value()) {
        if (!enabled_) return;
        at::autocast::set_autocast_dtype(device_, *dtype);
        at::autocast::set_autocast_enabled(device_, true);
    }
    ~AutocastScope() {
        if (!enabled_) return;
        at::autocast::set_autocast_enabled(device_, false);
        at::autocast::clear_cache();
    }
    AutocastScope(const AutocastScope&) = delete;
    AutocastScope& operator=(const AutocastScope&) = delete;

private:
    torch::DeviceType device_;
    bool enabled_;
};

std::optional<torch::ScalarType> choose_precision(const std::string& name, const torch::Device& device) {
    if (name == "fp32") return std::nullopt;
    if (name == "bf16") return torch::kBFloat16;
    if (name == "fp16") {
        if (!device.is_cuda()) throw Error(ErrorKind::usage, "--precision fp16 needs a CUDA device (bf16 runs on the CPU too)");
        return torch::kHalf;
    }
    throw Error(ErrorKind::usage, fmt::format("unknown precision '{}' (fp32, bf16, fp16)", name));
}

class TorchScriptModel final : public EmbeddingModel {
public:
    TorchScriptModel(const std::string& path, torch::Device device, std::optional<torch::ScalarType> autocast)
        : path_(path), device_(device), autocast_(autocast) {
        try {
            module_ = torch::jit::load(path, device_);
            module_.eval();
        } catch (const std::exception& error) {
            model_error(path, error);
        }
    }

    std::vector<float> embed(const std::vector<float>& waveforms, int64_t rows, int64_t samples,
                             const std::vector<int64_t>& lengths, int64_t dim) override {
        try {
            torch::InferenceMode inference;
            auto host = torch::from_blob(const_cast<float*>(waveforms.data()), {rows, samples}, torch::kFloat32);
            auto host_lengths = torch::from_blob(const_cast<int64_t*>(lengths.data()), {rows}, torch::kInt64);
            torch::Tensor input = host, input_lengths = host_lengths;
            if (device_.is_cuda()) {
                // Pinned staging lets the copy run asynchronously with the decoding threads' work.
                input = host.pin_memory().to(device_, /*non_blocking=*/true);
                input_lengths = host_lengths.to(device_);
            }
            torch::Tensor output;
            {
                AutocastScope scope(device_.type(), autocast_);
                output = module_.forward({input, input_lengths}).toTensor();
            }
            if (output.dim() != 2 || output.size(0) != rows || output.size(1) != dim)
                throw Error(ErrorKind::model, fmt::format("{}: forward returned shape {} for {} rows, expected [{}, {}]", path_,
                                                          fmt::streamed(output.sizes()), rows, rows, dim));
            output = output.to(torch::kCPU, torch::kFloat32).contiguous();
            return std::vector<float>(output.data_ptr<float>(), output.data_ptr<float>() + rows * dim);
        } catch (const Error&) {
            throw;
        } catch (const std::exception& error) {
            model_error(path_ + ": forward failed", error);
        }
    }

    std::string device() const override { return device_.str(); }

private:
    std::string path_;
    torch::Device device_;
    std::optional<torch::ScalarType> autocast_;
    torch::jit::script::Module module_;
};

class LibtorchBackend final : public TorchBackend {
public:
    TorchRuntime runtime() const override {
        TorchRuntime runtime;
        runtime.torch_version = TORCH_VERSION;
        try {
            // Only a loaded libtorch_cuda registers these hooks; without it they throw.
            long cudart = at::detail::getCUDAHooks().versionCUDART();
            runtime.cuda_compiled = true;
            runtime.cuda_version = fmt::format("{}.{}", cudart / 1000, (cudart % 1000) / 10);
        } catch (const c10::Error&) {
            runtime.cuda_compiled = false;
        }
        runtime.cuda_devices = static_cast<int>(torch::cuda::device_count());
        return runtime;
    }

    std::unique_ptr<EmbeddingModel> load(const std::string& path, const std::string& device, int threads,
                                         const std::string& precision) override {
        // libtorch may start with one intra-op thread; inter-op threads must be set before any work.
        static std::once_flag once;
        std::call_once(once, [] {
            at::set_num_interop_threads(1);
            // Batch tensors are large: with glibc's default thresholds every batch maps fresh pages
            // and unmaps them again, and the kernel's page faults took a third of embed's time
            // (docs/PERFORMANCE.md). Keeping them in the heap costs ~150 MB of RSS, not time.
            mallopt(M_MMAP_THRESHOLD, 512 << 20);
            mallopt(M_TRIM_THRESHOLD, 1 << 30);
        });
        if (threads > 0) at::set_num_threads(threads);
        torch::Device chosen = choose_device(device);
        return std::make_unique<TorchScriptModel>(path, chosen, choose_precision(precision, chosen));
    }
};

}  // namespace
}  // namespace audiosim

extern "C" audiosim::TorchBackend* audiosim_torch_backend_v3() {
    static audiosim::LibtorchBackend backend;
    return &backend;
}
