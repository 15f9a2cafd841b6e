// libaudiosim_torch.so: everything that touches libtorch. Loaded by model/backend.cpp.
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <fmt/format.h>

#include "model/backend.hpp"

namespace audiosim {
namespace {

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
};

}  // namespace
}  // namespace audiosim

extern "C" audiosim::TorchBackend* audiosim_torch_backend_v1() {
    static audiosim::LibtorchBackend backend;
    return &backend;
}
