// lib/model/check: the model contract checks, each shown to catch the one fault it is for (on a
// scripted model), and the default model passing them all.
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "model/backend.hpp"
#include "model/check.hpp"
#include "model/spec.hpp"
#include "support.hpp"
#include "util/error.hpp"

using audiosim::ContractCheck;
using audiosim::test::contains;

namespace {

// A model that computes each row from its first `length` samples: [1, mean, mean square, zero
// crossings per sample], L2-normalized; `fault` then spoils the output the way a broken model would.
class ScriptedModel : public audiosim::EmbeddingModel {
public:
    using Fault = std::function<void(std::vector<float>& out, int64_t rows, int64_t samples, int64_t dim)>;
    explicit ScriptedModel(Fault fault = nullptr) : fault_(std::move(fault)) {}

    std::vector<float> embed(const std::vector<float>& waveforms, int64_t rows, int64_t samples,
                             const std::vector<int64_t>& lengths, int64_t dim) override {
        return embed_padded_batch(waveforms, rows, samples, lengths, dim);
    }
    std::vector<float> embed_padded_batch(const std::vector<float>& waveforms, int64_t rows, int64_t samples,
                                          const std::vector<int64_t>& lengths, int64_t dim) override {
        REQUIRE(dim == 4);
        std::vector<float> out;
        for (int64_t r = 0; r < rows; r++) {
            const float* x = waveforms.data() + r * samples;
            double n = static_cast<double>(lengths[static_cast<size_t>(r)]), sum = 0, squares = 0, crossings = 0;
            for (int64_t i = 0; i < lengths[static_cast<size_t>(r)]; i++) {
                sum += x[i];
                squares += double{x[i]} * x[i];
                if (i > 0 && (x[i] < 0) != (x[i - 1] < 0)) crossings++;
            }
            std::vector<double> row = {1, sum / n, squares / n, crossings / n};
            double norm = std::sqrt(row[0] * row[0] + row[1] * row[1] + row[2] * row[2] + row[3] * row[3]);
            for (double v : row) out.push_back(static_cast<float>(v / norm));
        }
        if (fault_) fault_(out, rows, samples, dim);
        return out;
    }
    std::string device() const override { return "cpu"; }
    std::string executor() const override { return "scripted"; }
    std::vector<float> embed_text(const std::vector<std::string>&, const std::string&, int64_t) override {
        throw audiosim::Error(audiosim::ErrorKind::internal, "no text tower");
    }

private:
    Fault fault_;
};

audiosim::ModelSpec scripted_spec(bool normalized = true) {
    audiosim::ModelSpec spec;
    spec.name = "scripted";
    spec.sample_rate = 8000;
    spec.window_seconds = 0.5;
    spec.embedding_dim = 4;
    spec.normalized = normalized;
    return spec;
}

// The names of the checks that failed.
std::vector<std::string> failed(const std::vector<ContractCheck>& checks) {
    std::vector<std::string> names;
    for (const ContractCheck& check : checks)
        if (!check.passed) names.push_back(check.name);
    return names;
}

const std::vector<std::string> all_checks = {"shape", "finite", "norms", "deterministic", "batch and padding", "distinct"};

}  // namespace

TEST_SUITE_BEGIN("model/check");

TEST_CASE("a model that keeps the contract passes every check, each with what it measured") {
    ScriptedModel model;
    std::vector<ContractCheck> checks = audiosim::check_model_contract(scripted_spec(), model);
    std::vector<std::string> names;
    for (const ContractCheck& check : checks) {
        names.push_back(check.name);
        CHECK_MESSAGE(check.passed, check.name, ": ", check.detail);
        CHECK_FALSE(check.detail.empty());
    }
    CHECK(names == all_checks);
}

TEST_CASE("each fault fails its own check") {
    using Fault = ScriptedModel::Fault;
    // Row 1 of the checks' batch is the silence, row 2 the noise.
    SUBCASE("a model that throws: shape fails with its message and nothing else runs") {
        ScriptedModel model([](std::vector<float>&, int64_t, int64_t, int64_t) {
            throw audiosim::Error(audiosim::ErrorKind::model, "returned [5, 3], expected [5, 4]");
        });
        std::vector<ContractCheck> checks = audiosim::check_model_contract(scripted_spec(), model);
        REQUIRE(checks.size() == 1);
        CHECK(checks[0].name == "shape");
        CHECK_FALSE(checks[0].passed);
        CHECK(checks[0].detail == "returned [5, 3], expected [5, 4]");
    }
    SUBCASE("NaN for silence") {
        ScriptedModel model([](std::vector<float>& out, int64_t rows, int64_t, int64_t dim) {
            if (rows > 1) out[static_cast<size_t>(dim)] = std::numeric_limits<float>::quiet_NaN();
        });
        std::vector<ContractCheck> checks = audiosim::check_model_contract(scripted_spec(), model);
        CHECK(failed(checks) == std::vector<std::string>{"finite", "norms"});  // differences with NaN are not measured
        CHECK(checks[1].detail == "non-finite output for silence");
    }
    Fault doubled = [](std::vector<float>& out, int64_t, int64_t, int64_t) {
        for (float& v : out) v *= 2;
    };
    SUBCASE("not normalized though the sidecar says so") {
        ScriptedModel model(doubled);
        std::vector<ContractCheck> checks = audiosim::check_model_contract(scripted_spec(), model);
        CHECK(failed(checks) == std::vector<std::string>{"norms"});
        CHECK(contains(checks[2].detail, "2.0000"));
    }
    SUBCASE("not normalized, and the sidecar does not promise it") {
        ScriptedModel model(doubled);
        CHECK(failed(audiosim::check_model_contract(scripted_spec(false), model)).empty());
    }
    SUBCASE("a zero vector") {
        ScriptedModel model([](std::vector<float>& out, int64_t rows, int64_t, int64_t dim) {
            if (rows > 1) std::fill(out.begin() + dim, out.begin() + 2 * dim, 0.0f);
        });
        CHECK(failed(audiosim::check_model_contract(scripted_spec(false), model)) ==
              std::vector<std::string>{"norms", "batch and padding"});
    }
    SUBCASE("another output every call") {
        int calls = 0;
        ScriptedModel model([&calls](std::vector<float>& out, int64_t, int64_t, int64_t) { out[0] += 0.01f * static_cast<float>(++calls); });
        CHECK(failed(audiosim::check_model_contract(scripted_spec(false), model)) ==
              std::vector<std::string>{"deterministic", "batch and padding"});
    }
    SUBCASE("outputs that depend on the padding") {
        ScriptedModel model([](std::vector<float>& out, int64_t, int64_t samples, int64_t) {
            out[0] += 1e-6f * static_cast<float>(samples);
        });
        CHECK(failed(audiosim::check_model_contract(scripted_spec(false), model)) == std::vector<std::string>{"batch and padding"});
    }
    SUBCASE("the same vector for everything") {
        ScriptedModel model([](std::vector<float>& out, int64_t, int64_t, int64_t) { std::fill(out.begin(), out.end(), 0.5f); });
        CHECK(failed(audiosim::check_model_contract(scripted_spec(), model)) == std::vector<std::string>{"distinct"});
    }
}

TEST_CASE("the default model keeps the contract") {
    const audiosim::ModelSpec spec = audiosim::find_model(audiosim::default_model_name);
    auto model = audiosim::torch_backend("cpu").load(spec.weights_path, "cpu", 1, "fp32");
    for (const ContractCheck& check : audiosim::check_model_contract(spec, *model))
        CHECK_MESSAGE(check.passed, check.name, ": ", check.detail);
}

TEST_SUITE_END();
