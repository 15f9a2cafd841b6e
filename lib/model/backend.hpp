// The torch backend lives in a plugin, libaudiosim_torch.so, loaded on first use: linking libtorch
// (with CUDA) into the binary costs every command ~0.4 s and ~470 MB of RSS at start (measured,
// docs/PERFORMANCE.md), which ingest, status and shell pipelines must not pay.
#pragma once

#include <string>

namespace audiosim {

struct TorchRuntime {
    std::string torch_version;
    bool cuda_compiled = false;
    std::string cuda_version;  // the CUDA runtime torch was built with, empty without
    int cuda_devices = 0;      // devices found at run time
};

// What the plugin offers. Grows with the model runner (issue: embed); bump the entry point's
// version suffix when the layout changes, so an old plugin is refused rather than misused.
class TorchBackend {
public:
    virtual ~TorchBackend() = default;
    virtual TorchRuntime runtime() const = 0;
};

// Loads the plugin once: $AUDIOSIM_TORCH_PLUGIN, else next to the executable, else in
// ../lib/audiosim relative to it. Throws Error(model) naming the paths tried and dlerror().
TorchBackend& torch_backend();

}  // namespace audiosim

// The plugin's entry point.
extern "C" audiosim::TorchBackend* audiosim_torch_backend_v1();
