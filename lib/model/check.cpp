#include "model/check.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>

#include <fmt/format.h>

#include "util/error.hpp"

namespace audiosim {

namespace {

struct Batch {
    std::vector<std::vector<float>> rows;
};

std::vector<float> sine(size_t samples, uint32_t rate, double frequency, double amplitude) {
    std::vector<float> wave(samples);
    for (size_t i = 0; i < samples; ++i)
        wave[i] = static_cast<float>(amplitude * std::sin(2 * M_PI * frequency * static_cast<double>(i) / rate));
    return wave;
}

std::vector<float> noise(size_t samples, uint32_t seed) {
    std::mt19937 random(seed);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    std::vector<float> wave(samples);
    for (float& x : wave) x = uniform(random);
    return wave;
}

// Runs the model on rows padded to the longest, in one call as CUDA batches are; returns rows x dim.
std::vector<float> run(EmbeddingModel& model, const std::vector<std::vector<float>>& rows, int64_t dim) {
    size_t samples = 1;
    for (const auto& row : rows) samples = std::max(samples, row.size());
    std::vector<float> input(rows.size() * samples, 0.0f);
    std::vector<int64_t> lengths;
    for (size_t r = 0; r < rows.size(); ++r) {
        std::copy(rows[r].begin(), rows[r].end(), input.begin() + static_cast<std::ptrdiff_t>(r * samples));
        lengths.push_back(static_cast<int64_t>(rows[r].size()));
    }
    return model.embed_padded_batch(input, static_cast<int64_t>(rows.size()), static_cast<int64_t>(samples), lengths, dim);
}

double max_difference(const std::vector<float>& a, size_t row_a, const std::vector<float>& b, size_t row_b, size_t dim) {
    double worst = 0;
    for (size_t i = 0; i < dim; ++i) worst = std::max(worst, std::fabs(double(a[row_a * dim + i]) - b[row_b * dim + i]));
    return worst;
}

double norm_of(const std::vector<float>& v, size_t row, size_t dim) {
    double sum = 0;
    for (size_t i = 0; i < dim; ++i) sum += double(v[row * dim + i]) * v[row * dim + i];
    return std::sqrt(sum);
}

ContractCheck attempt(const std::string& name, const std::function<ContractCheck()>& check) {
    try {
        return check();
    } catch (const std::exception& error) {
        return {name, false, error.what()};
    }
}

}  // namespace

std::vector<ContractCheck> check_model_contract(const ModelSpec& spec, EmbeddingModel& model) {
    const uint32_t rate = spec.sample_rate;
    const size_t dim = static_cast<size_t>(spec.embedding_dim);
    const size_t window = std::max<size_t>(1, static_cast<size_t>(spec.window_seconds * rate));
    const std::vector<std::vector<float>> inputs = {
        sine(window, rate, 440, 0.5),          // a tone, one window long
        std::vector<float>(rate, 0.0f),        // 1 s of silence
        noise(rate, 1),                        // 1 s of full-scale noise
        {0.5f},                                // one sample
        sine(rate / 20, rate, 1000, 0.5),      // 50 ms
    };
    const char* input_names[] = {"tone", "silence", "full-scale noise", "one sample", "50 ms"};
    std::vector<ContractCheck> checks;
    std::vector<float> batch;

    checks.push_back(attempt("shape", [&] {
        batch = run(model, inputs, spec.embedding_dim);
        return ContractCheck{"shape", true, fmt::format("[{}, {}] for {} inputs", inputs.size(), dim, inputs.size())};
    }));
    if (!checks.back().passed) return checks;

    checks.push_back(attempt("finite", [&] {
        for (size_t r = 0; r < inputs.size(); ++r)
            for (size_t i = 0; i < dim; ++i)
                if (!std::isfinite(batch[r * dim + i]))
                    return ContractCheck{"finite", false, fmt::format("non-finite output for {}", input_names[r])};
        return ContractCheck{"finite", true, "tone, silence, full-scale noise, one sample, 50 ms"};
    }));
    const bool speech_activity = spec.role == "speech-activity";
    if (speech_activity) {
        // One value per row, the share of the row that is speech: in 0..1, and none of these
        // synthetic inputs is speech.
        checks.push_back(attempt("speech shares", [&] {
            std::string shares;
            bool ok = dim == 1;
            for (size_t r = 0; r < inputs.size(); ++r) {
                shares += fmt::format("{}{} {:.3f}", r ? ", " : "", input_names[r], batch[r * dim]);
                ok = ok && batch[r * dim] >= 0 && batch[r * dim] <= 1;
            }
            return ContractCheck{"speech shares", ok, "in 0..1: " + shares};
        }));
    }
    if (!speech_activity) checks.push_back(attempt("norms", [&] {
        std::string norms;
        bool ok = true;
        for (size_t r = 0; r < inputs.size(); ++r) {
            double norm = norm_of(batch, r, dim);
            norms += fmt::format("{}{} {:.4f}", r ? ", " : "", input_names[r], norm);
            ok = ok && norm > 1e-6 && (!spec.normalized || std::fabs(norm - 1) < 1e-3);
        }
        return ContractCheck{"norms", ok, (spec.normalized ? "normalized: " : "") + norms};
    }));
    checks.push_back(attempt("deterministic", [&] {
        std::vector<float> again = run(model, inputs, spec.embedding_dim);
        double worst = 0;
        for (size_t r = 0; r < inputs.size(); ++r) worst = std::max(worst, max_difference(batch, r, again, r, dim));
        return ContractCheck{"deterministic", worst <= 1e-6, fmt::format("same input twice: max difference {:.2e}", worst)};
    }));
    checks.push_back(attempt("batch and padding", [&] {
        // Each input alone (no padding) must give what it gave inside the padded batch.
        double worst = 0;
        for (size_t r = 0; r < inputs.size(); ++r)
            worst = std::max(worst, max_difference(run(model, {inputs[r]}, spec.embedding_dim), 0, batch, r, dim));
        return ContractCheck{"batch and padding", worst <= 1e-4,
                             fmt::format("alone vs in a padded batch: max difference {:.2e}", worst)};
    }));
    if (!speech_activity) checks.push_back(attempt("distinct", [&] {
        double difference = max_difference(batch, 0, batch, 2, dim);
        return ContractCheck{"distinct", difference > 1e-3,
                             fmt::format("tone vs noise: max difference {:.3f}", difference)};
    }));
    return checks;
}

}  // namespace audiosim
