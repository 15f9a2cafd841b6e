// The torch backend lives in plugins, loaded on first use: linking libtorch (with CUDA) into the
// binary costs every command ~0.4 s and ~470 MB of RSS at start (measured, docs/PERFORMANCE.md),
// which ingest, status and shell pipelines must not pay. Two plugins from one source:
// libaudiosim_torch.so links libtorch_cpu alone, libaudiosim_torch_cuda.so the CUDA stack too, which
// a process that runs on the CPU must not pay either (to load: 0.28 s and 116 MB against 0.41 s
// and 505 MB).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "index/exact_search.hpp"

namespace audiosim {

struct TorchRuntime {
    std::string torch_version;
    bool cuda_compiled = false;
    std::string cuda_version;  // the CUDA runtime torch was built with, empty without
    int cuda_devices = 0;      // devices found at run time
};

// A loaded TorchScript model (models/README.md has the contract).
class EmbeddingModel {
public:
    virtual ~EmbeddingModel() = default;
    // `waveforms` holds rows x samples floats, row-major, each row zero-padded past its length.
    // Returns rows x dim floats, as the model computes them. Error(model) if the model fails or
    // returns another shape. On the CPU each row runs alone, so that its vector is the same in any
    // batch; on CUDA the batch is one forward call (embed_padded_batch).
    virtual std::vector<float> embed(const std::vector<float>& waveforms, int64_t rows, int64_t samples,
                                     const std::vector<int64_t>& lengths, int64_t dim) = 0;
    // The same in one forward call over the padded batch, on any device: what the model contract
    // (model/check) is checked with.
    virtual std::vector<float> embed_padded_batch(const std::vector<float>& waveforms, int64_t rows, int64_t samples,
                                                  const std::vector<int64_t>& lengths, int64_t dim) = 0;
    virtual std::string device() const = 0;  // "cpu", "cuda:0"
    // What runs embed(): "static runtime" (torch's Static Runtime, on the CPU in fp32 where it
    // accepts the model and gave the interpreter's bits on the first row) or "interpreter".
    virtual std::string executor() const = 0;
    // The text tower: `method` takes (bytes [rows, L] int64, zero-padded UTF-8; lengths [rows] int64)
    // and returns rows x dim floats in the audio tower's space. Error(model) as embed().
    virtual std::vector<float> embed_text(const std::vector<std::string>& texts, const std::string& method, int64_t dim) = 0;
};

// What a plugin offers. Bump the entry point's version suffix when this layout changes, so an
// old plugin is refused rather than misused. The CPU plugin alone in a process has no CUDA: its
// runtime() reports none, "auto" is the CPU, "cuda" finds 0 devices (torch_backend sends it elsewhere).
class TorchBackend {
public:
    virtual ~TorchBackend() = default;
    virtual TorchRuntime runtime() const = 0;
    // device: "auto" (CUDA when there is a device, else CPU), "cpu", "cuda" or "cuda:N".
    // threads: torch's intra-op threads on the CPU. precision: "fp32", or "bf16"/"fp16" to run
    // forward under autocast (fp16 on CUDA only); outputs are float32 either way.
    // Error(model) naming the file and the cause; Error(usage) for an unknown device or precision.
    virtual std::unique_ptr<EmbeddingModel> load(const std::string& path, const std::string& device, int threads,
                                                 const std::string& precision) = 0;
    // Exact search with matrix products: `vectors` (ids.size() x dim, row-major, L2-normalized) is
    // copied to `device` ("auto", "cpu", "cuda", "cuda:N") and stays there. Same order and tie rule
    // as make_cpu_exact_search; torch sums in another order (BLAS blocking, FMA), so similarities
    // differ from the CPU search's in the last bits and rows closer than that may swap.
    // Error(internal) for sizes that do not match or duplicate ids, Error(usage) for an unknown
    // device, Error(model) when torch fails (out of device memory).
    virtual std::unique_ptr<ExactSearch> exact_search(std::vector<uint64_t> ids, const std::vector<float>& vectors,
                                                      size_t dim, const std::string& device, int threads) = 0;
};

// Error(usage) unless `device` is "auto", "cpu", "cuda" or "cuda:N": checked without torch.
void validate_device(const std::string& device);

enum class TorchPlugin { cpu, cuda };

// The plugin that runs `device`: the CUDA one for "cuda" and "cuda:N", and for "auto" when
// `cuda_devices` (read for "auto" only) is above 0; else the CPU one. Error(usage) as validate_device.
TorchPlugin plugin_for_device(const std::string& device, int cuda_devices);

// The CUDA devices the driver (libcuda.so.1) finds, asked without torch; 0 without a driver.
int cuda_driver_devices();

// Exact search by torch's matrix products on `device` (the plugin is loaded on the first search).
ExactSearchFactory torch_exact_search_factory(std::string device, int threads);

// Loads `plugin` once, from $AUDIOSIM_TORCH_PLUGIN_DIR, else next to the executable, else from
// ../lib/audiosim relative to it. Throws Error(model) naming the plugin, the paths tried and
// dlerror(). Both plugins may load in one process: they share its one libtorch_cpu.
TorchBackend& torch_plugin(TorchPlugin plugin);

// What the plugins need in the environment before they load (OMP_WAIT_POLICY). setenv is not safe
// beside threads that read the environment: a caller that loads a plugin while its own threads
// run (embed decodes while torch loads) calls this before starting them. Loading calls it too.
void prepare_torch_environment();

// The plugin for `device` (plugin_for_device; the driver is asked for "auto" only).
TorchBackend& torch_backend(const std::string& device);

}  // namespace audiosim

// The plugin's entry point.
extern "C" audiosim::TorchBackend* audiosim_torch_backend_v7();
