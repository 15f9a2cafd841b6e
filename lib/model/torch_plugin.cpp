// libaudiosim_torch.so and libaudiosim_torch_cuda.so: everything that touches libtorch, compiled
// once and linked twice (without and with libtorch_cuda). Loaded by model/backend.cpp.
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/csrc/jit/runtime/static/impl.h>
#include <torch/script.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <algorithm>
#include <cstring>
#include <malloc.h>
#include <memory>
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

// libtorch_cuda registers CUDA's hooks when it loads. Asking torch about CUDA before that makes
// libtorch_cpu answer "no CUDA" for the rest of the process, to the CUDA plugin loaded after this
// one too; so without the hooks (the CPU plugin alone) there is no CUDA and torch is not asked.
bool cuda_linked() { return at::CUDAHooksRegistry()->Has("CUDAHooks"); }

int64_t cuda_device_count() { return cuda_linked() ? static_cast<int64_t>(torch::cuda::device_count()) : 0; }

torch::Device choose_device(const std::string& name) {
    if (name == "auto") return cuda_device_count() > 0 ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
    torch::Device device(torch::kCPU);
    try {
        device = torch::Device(name);
    } catch (const std::exception&) {
        throw Error(ErrorKind::usage, fmt::format("unknown device '{}' (auto, cpu, cuda, cuda:N)", name));
    }
    if (device.is_cuda()) {
        int64_t count = cuda_device_count();
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
            // The profiling executor spends a process's first calls profiling the graph (75 ms of a
            // one-query process's 95 ms, docs/PERFORMANCE.md) for fusers that do not run on the CPU;
            // the legacy executor gives the same vectors from the first call.
            if (!device_.is_cuda()) torch::jit::getProfilingMode() = false;
            module_ = torch::jit::load(path, device_);
            module_.eval();
        } catch (const std::exception& error) {
            model_error(path, error);
        }
    }

    std::vector<float> embed(const std::vector<float>& waveforms, int64_t rows, int64_t samples,
                             const std::vector<int64_t>& lengths, int64_t dim) override {
        if (device_.is_cuda()) return embed_padded_batch(waveforms, rows, samples, lengths, dim);
        return embed_rows_alone(waveforms, rows, samples, lengths, dim);
    }

    std::vector<float> embed_padded_batch(const std::vector<float>& waveforms, int64_t rows, int64_t samples,
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
            check_output(output, rows, dim);
            output = output.to(torch::kCPU, torch::kFloat32).contiguous();
            return std::vector<float>(output.data_ptr<float>(), output.data_ptr<float>() + rows * dim);
        } catch (const Error&) {
            throw;
        } catch (const std::exception& error) {
            model_error(path_ + ": forward failed", error);
        }
    }

    // On the CPU every row runs alone, at its own length, on one thread; the intra-op threads take
    // rows in parallel. A row's vector then does not depend on its batch mates, the batch size or
    // --threads: a batch in one call took other kernels and rounded differently (~1e-7), and on one
    // thread a row alone measured no slower per chunk than batches of 8.
    std::vector<float> embed_rows_alone(const std::vector<float>& waveforms, int64_t rows, int64_t samples,
                                        const std::vector<int64_t>& lengths, int64_t dim) {
        std::vector<float> vectors(static_cast<size_t>(rows * dim));
        // At least one sample: the model zeroes what lies past `length` anyway.
        auto row_inputs = [&](int64_t r) -> std::vector<c10::IValue> {
            const int64_t length = lengths[static_cast<size_t>(r)];
            return {torch::from_blob(const_cast<float*>(waveforms.data()) + r * samples,
                                     {1, std::clamp<int64_t>(length, 1, samples)}, torch::kFloat32),
                    torch::full({1}, length, torch::kInt64)};
        };
        auto store_row = [&](int64_t r, torch::Tensor output) {
            check_output(output, 1, dim);
            output = output.to(torch::kFloat32).contiguous();
            std::copy_n(output.data_ptr<float>(), dim, vectors.begin() + r * dim);
        };
        try {
            int64_t first = 0;
            if (!static_tried_ && rows_interpreted_ >= kRowsBeforeStaticRuntime && rows > 0 && !autocast_) {
                torch::InferenceMode inference;
                store_row(0, module_.forward(row_inputs(0)).toTensor());
                first = 1;
                try_static_runtime(row_inputs(0), vectors, dim);
            }
            if (!static_module_) rows_interpreted_ += rows - first;
            if (static_module_) runtimes_.resize(std::max<size_t>(runtimes_.size(), static_cast<size_t>(at::get_num_threads())));
            at::parallel_for(first, rows, 1, [&](int64_t begin, int64_t end) {
                torch::InferenceMode inference;  // thread-local, like autocast's state
                torch::jit::StaticRuntime* runtime = nullptr;
                if (static_module_) {
                    auto& slot = runtimes_.at(static_cast<size_t>(at::get_thread_num()));
                    if (!slot) slot = std::make_unique<torch::jit::StaticRuntime>(*static_module_);
                    runtime = slot.get();
                }
                for (int64_t r = begin; r < end; ++r) {
                    if (runtime) {
                        store_row(r, (*runtime)(row_inputs(r)).toTensor());
                        continue;
                    }
                    AutocastScope scope(device_.type(), autocast_);
                    store_row(r, module_.forward(row_inputs(r)).toTensor());
                }
            });
        } catch (const Error&) {
            throw;
        } catch (const std::exception& error) {
            model_error(path_ + ": forward failed", error);
        }
        return vectors;
    }

    // Static Runtime, torch's interpreter for small-op CPU inference, runs the same kernels as the
    // TorchScript interpreter with less work per op: the default model's rows took 21-28 % less
    // time (docs/PERFORMANCE.md). Preparing it takes ~25 ms, what ~100 such rows save, so it is
    // tried once a model has run that many rows: a query of a few chunks never pays for it. The
    // row in `inputs` also runs on it: unless its vector has the interpreter's bits (already in
    // `vectors`), or if it cannot take the model, the interpreter stays, so that no vector depends
    // on which of the two ran it.
    static constexpr int64_t kRowsBeforeStaticRuntime = 128;

    void try_static_runtime(const std::vector<c10::IValue>& inputs, const std::vector<float>& vectors, int64_t dim) {
        static_tried_ = true;
        try {
            static_module_ = std::make_unique<torch::jit::StaticModule>(module_);
            torch::jit::StaticRuntime runtime(*static_module_);
            torch::Tensor output = runtime(inputs).toTensor();
            if (output.dim() == 2 && output.size(0) == 1 && output.size(1) == dim && output.scalar_type() == torch::kFloat32) {
                output = output.contiguous();
                if (std::memcmp(vectors.data(), output.data_ptr<float>(), static_cast<size_t>(dim) * sizeof(float)) == 0) return;
            }
        } catch (const std::exception&) {
        }
        static_module_.reset();
    }

    void check_output(const torch::Tensor& output, int64_t rows, int64_t dim) const {
        if (output.dim() != 2 || output.size(0) != rows || output.size(1) != dim)
            throw Error(ErrorKind::model, fmt::format("{}: forward returned shape {} for {} rows, expected [{}, {}]", path_,
                                                      fmt::streamed(output.sizes()), rows, rows, dim));
    }

    std::vector<float> embed_text(const std::vector<std::string>& texts, const std::string& method, int64_t dim) override {
        try {
            torch::InferenceMode inference;
            const auto rows = static_cast<int64_t>(texts.size());
            int64_t longest = 1;
            for (const auto& text : texts) longest = std::max<int64_t>(longest, static_cast<int64_t>(text.size()));
            torch::Tensor bytes = torch::zeros({rows, longest}, torch::kInt64), lengths = torch::empty({rows}, torch::kInt64);
            for (int64_t r = 0; r < rows; ++r) {
                const std::string& text = texts[static_cast<size_t>(r)];
                for (size_t i = 0; i < text.size(); ++i) bytes[r][static_cast<int64_t>(i)] = static_cast<unsigned char>(text[i]);
                lengths[r] = static_cast<int64_t>(text.size());
            }
            auto tower = module_.find_method(method);
            if (!tower) throw Error(ErrorKind::model, fmt::format("{}: no method '{}' (the sidecar's text_tower)", path_, method));
            torch::Tensor output = (*tower)({bytes.to(device_), lengths.to(device_)}).toTensor();
            if (output.dim() != 2 || output.size(0) != rows || output.size(1) != dim)
                throw Error(ErrorKind::model, fmt::format("{}: {} returned shape {} for {} texts, expected [{}, {}]", path_,
                                                          method, fmt::streamed(output.sizes()), rows, rows, dim));
            output = output.to(torch::kCPU, torch::kFloat32).contiguous();
            return std::vector<float>(output.data_ptr<float>(), output.data_ptr<float>() + rows * dim);
        } catch (const Error&) {
            throw;
        } catch (const std::exception& error) {
            model_error(path_ + ": " + method + " failed", error);
        }
    }

    std::string device() const override { return device_.str(); }
    std::string executor() const override { return static_module_ ? "static runtime" : "interpreter"; }

private:
    std::string path_;
    torch::Device device_;
    std::optional<torch::ScalarType> autocast_;
    torch::jit::script::Module module_;
    std::unique_ptr<torch::jit::StaticModule> static_module_;  // set while the CPU rows run on it (fp32 only)
    bool static_tried_ = false;
    int64_t rows_interpreted_ = 0;
    std::vector<std::unique_ptr<torch::jit::StaticRuntime>> runtimes_;  // one per intra-op thread: not shareable
};

// Exact search as matrix products: the rows stay on the device; each block of queries is one
// matmul against a block of rows, then topk. topk picks arbitrarily among equal scores at its cut,
// so every row that scores at least the k-th best of its block is kept, and the host applies the
// tie rule to those candidates.
class TorchExactSearch final : public ExactSearch {
public:
    TorchExactSearch(std::vector<uint64_t> ids, const std::vector<float>& vectors, size_t dim, torch::Device device)
        : ids_(std::move(ids)), dim_(dim), device_(device) {
        try {
            torch::InferenceMode inference;
            auto host = torch::from_blob(const_cast<float*>(vectors.data()),
                                         {static_cast<int64_t>(ids_.size()), static_cast<int64_t>(dim_)}, torch::kFloat32);
            rows_ = host.to(device_, /*non_blocking=*/false, /*copy=*/true);
        } catch (const std::exception& error) {
            model_error(fmt::format("exact search: cannot place {} vectors on {}", ids_.size(), device_.str()), error);
        }
    }

    std::vector<Neighbours> search(const float* queries, size_t count, size_t k) const override {
        std::vector<Neighbours> results(count);
        const int64_t n = static_cast<int64_t>(ids_.size());
        const int64_t kept = static_cast<int64_t>(std::min(k, ids_.size()));
        if (kept == 0 || count == 0) return results;
        // One score matrix (queries x rows) of at most 64 Mi floats (256 MiB) at a time.
        constexpr int64_t max_scores = int64_t{1} << 26;
        const int64_t queries_per_block = std::clamp<int64_t>(max_scores / n, 1, 4096);
        const int64_t rows_per_block = std::min(n, max_scores / queries_per_block);
        try {
            torch::InferenceMode inference;
            for (int64_t first = 0; first < static_cast<int64_t>(count); first += queries_per_block) {
                const int64_t block = std::min(queries_per_block, static_cast<int64_t>(count) - first);
                auto query = torch::from_blob(const_cast<float*>(queries + first * static_cast<int64_t>(dim_)),
                                              {block, static_cast<int64_t>(dim_)}, torch::kFloat32)
                                 .to(device_);
                std::vector<Neighbours> candidates(static_cast<size_t>(block));
                for (int64_t row = 0; row < n; row += rows_per_block)
                    add_candidates(query, row, std::min(rows_per_block, n - row), kept, candidates);
                for (int64_t q = 0; q < block; q++) {
                    auto& best = candidates[static_cast<size_t>(q)];
                    std::sort(best.begin(), best.end(), ranks_before);
                    if (static_cast<int64_t>(best.size()) > kept) best.resize(static_cast<size_t>(kept));
                    results[static_cast<size_t>(first + q)] = std::move(best);
                }
            }
        } catch (const std::exception& error) {
            model_error(fmt::format("exact search on {}", device_.str()), error);
        }
        return results;
    }

    std::string device() const override { return device_.str(); }
    size_t size() const override { return ids_.size(); }
    size_t dim() const override { return dim_; }

private:
    // Appends to candidates[q] every row of [first_row, first_row + rows) that scores at least the
    // k-th best score of query q in those rows (NaN scores never do).
    void add_candidates(const torch::Tensor& query, int64_t first_row, int64_t rows, int64_t k,
                        std::vector<Neighbours>& candidates) const {
        auto scores = query.matmul(rows_.narrow(0, first_row, rows).t());
        const int64_t kk = std::min(k, rows);
        auto [values, indices] = scores.topk(kk, /*dim=*/1, /*largest=*/true, /*sorted=*/true);
        auto floor = values.narrow(1, kk - 1, 1);
        auto at_or_above = (scores >= floor).sum(1).to(torch::kCPU);
        values = values.to(torch::kCPU);
        indices = indices.to(torch::kCPU);
        auto value = values.accessor<float, 2>();
        auto index = indices.accessor<int64_t, 2>();
        auto count = at_or_above.accessor<int64_t, 1>();
        for (int64_t q = 0; q < query.size(0); q++) {
            auto& best = candidates[static_cast<size_t>(q)];
            if (count[q] == kk) {
                for (int64_t j = 0; j < kk; j++)
                    best.emplace_back(ids_[static_cast<size_t>(first_row + index[q][j])], value[q][j]);
                continue;
            }
            // Equal scores straddle the cut (or the scores are NaN): take every row at or above it.
            auto row_scores = scores[q];
            auto rows_at_or_above = torch::nonzero(row_scores >= floor[q]).flatten();
            auto their_scores = row_scores.index_select(0, rows_at_or_above).to(torch::kCPU);
            rows_at_or_above = rows_at_or_above.to(torch::kCPU);
            auto row = rows_at_or_above.accessor<int64_t, 1>();
            auto score = their_scores.accessor<float, 1>();
            for (int64_t j = 0; j < row.size(0); j++)
                best.emplace_back(ids_[static_cast<size_t>(first_row + row[j])], score[j]);
        }
    }

    std::vector<uint64_t> ids_;
    size_t dim_;
    torch::Device device_;
    torch::Tensor rows_;
};

// Settings that must be made once, before torch does any work.
void configure_torch_once() {
    static std::once_flag once;
    std::call_once(once, [] {
        // Once per process, and both plugins share libtorch_cpu: the one loaded first set it.
        if (at::get_num_interop_threads() != 1) at::set_num_interop_threads(1);
        // Batch tensors are large: with glibc's default thresholds every batch maps fresh pages
        // and unmaps them again, and the kernel's page faults took a third of embed's time
        // (docs/PERFORMANCE.md). Keeping them in the heap costs ~150 MB of RSS, not time.
        mallopt(M_MMAP_THRESHOLD, 512 << 20);
        mallopt(M_TRIM_THRESHOLD, 1 << 30);
    });
}

class LibtorchBackend final : public TorchBackend {
public:
    TorchRuntime runtime() const override {
        TorchRuntime runtime;
        runtime.torch_version = TORCH_VERSION;
        if (!cuda_linked()) return runtime;  // the CPU plugin, alone in the process
        long cudart = at::detail::getCUDAHooks().versionCUDART();
        runtime.cuda_compiled = true;
        runtime.cuda_version = fmt::format("{}.{}", cudart / 1000, (cudart % 1000) / 10);
        runtime.cuda_devices = static_cast<int>(cuda_device_count());
        return runtime;
    }

    std::unique_ptr<EmbeddingModel> load(const std::string& path, const std::string& device, int threads,
                                         const std::string& precision) override {
        configure_torch_once();
        if (threads > 0) at::set_num_threads(threads);  // libtorch may start with one intra-op thread
        torch::Device chosen = choose_device(device);
        return std::make_unique<TorchScriptModel>(path, chosen, choose_precision(precision, chosen));
    }

    std::unique_ptr<ExactSearch> exact_search(std::vector<uint64_t> ids, const std::vector<float>& vectors, size_t dim,
                                              const std::string& device, int threads) override {
        check_exact_search_rows(ids, vectors, dim);
        configure_torch_once();
        if (threads > 0) at::set_num_threads(threads);
        return std::make_unique<TorchExactSearch>(std::move(ids), vectors, dim, choose_device(device));
    }
};

}  // namespace
}  // namespace audiosim

extern "C" audiosim::TorchBackend* audiosim_torch_backend_v7() {
    static audiosim::LibtorchBackend backend;
    return &backend;
}
