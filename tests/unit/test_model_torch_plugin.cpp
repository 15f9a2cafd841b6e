// lib/model/torch_plugin, through torch_backend("cpu") (the CPU plugin beside unit_tests): embedding with
// the default model, exact search.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include <doctest/doctest.h>

#include "index/exact_search.hpp"
#include "model/backend.hpp"
#include "model/spec.hpp"
#include "support.hpp"

using audiosim::ErrorKind;
using audiosim::make_cpu_exact_search;
using audiosim::torch_backend;
using audiosim::test::error_of;
using audiosim::test::random_unit_vectors;
using audiosim::test::check_tie_order;
using audiosim::test::tied_unit_vectors;
using audiosim::test::UnitVectors;

TEST_SUITE_BEGIN("model/torch_plugin");

TEST_CASE("embed on the CPU: a row's vector does not depend on its batch mates, the batch size or the threads") {
    const audiosim::ModelSpec spec =
        audiosim::find_model(std::string(AUDIOSIM_UNIT_SOURCE_DIR) + "/../../models/default/audiosim-dsp-v4.json");
    const int64_t dim = spec.embedding_dim;
    // Decaying noise of 0.4 to 2 s: batches of them are padded to their longest row.
    std::vector<std::vector<float>> waves;
    std::mt19937 random(3);
    std::normal_distribution<float> noise(0.0f, 0.3f);
    for (size_t r = 1; r <= 5; r++) {
        std::vector<float>& wave = waves.emplace_back(r * spec.sample_rate * 2 / 5);
        for (size_t i = 0; i < wave.size(); i++) wave[i] = noise(random) / (1.0f + static_cast<float>(i) / 4000.0f);
    }
    auto embed = [&](audiosim::EmbeddingModel& model, const std::vector<size_t>& rows) {
        size_t samples = 0;
        for (size_t r : rows) samples = std::max(samples, waves[r].size());
        std::vector<float> input(rows.size() * samples, 0.0f);
        std::vector<int64_t> lengths;
        for (size_t i = 0; i < rows.size(); i++) {
            std::copy(waves[rows[i]].begin(), waves[rows[i]].end(), input.begin() + static_cast<std::ptrdiff_t>(i * samples));
            lengths.push_back(static_cast<int64_t>(waves[rows[i]].size()));
        }
        std::vector<float> out = model.embed(input, static_cast<int64_t>(rows.size()), static_cast<int64_t>(samples), lengths, dim);
        std::vector<std::vector<float>> vectors;
        for (size_t i = 0; i < rows.size(); i++)
            vectors.emplace_back(out.begin() + static_cast<std::ptrdiff_t>(i) * dim, out.begin() + static_cast<std::ptrdiff_t>(i + 1) * dim);
        return vectors;
    };
    std::vector<std::vector<float>> alone;
    auto one_thread = torch_backend("cpu").load(spec.weights_path, "cpu", 1, "fp32");
    for (size_t r = 0; r < waves.size(); r++) alone.push_back(embed(*one_thread, {r}).front());
    for (int threads : {1, 2}) {
        auto model = torch_backend("cpu").load(spec.weights_path, "cpu", threads, "fp32");
        for (const std::vector<size_t>& batch : {std::vector<size_t>{0, 1, 2, 3, 4}, {4, 0, 2}, {1, 3}}) {
            auto vectors = embed(*model, batch);
            for (size_t i = 0; i < batch.size(); i++) CHECK_MESSAGE(vectors[i] == alone[batch[i]], "row ", batch[i]);
        }
    }
}

TEST_CASE("embed on the CPU runs on Static Runtime with the interpreter's bits; bf16 runs on the interpreter") {
    const audiosim::ModelSpec spec =
        audiosim::find_model(std::string(AUDIOSIM_UNIT_SOURCE_DIR) + "/../../models/default/audiosim-dsp-v4.json");
    const int64_t dim = spec.embedding_dim;
    const int64_t rate = spec.sample_rate;
    // Rows that take every branch of the model: long and short, silence, one sample, silence at
    // both ends (the trim), a lone click, a row shorter than the envelope's frames.
    std::vector<std::vector<float>> waves;
    std::mt19937 random(11);
    std::normal_distribution<float> noise(0.0f, 0.3f);
    auto noisy = [&](size_t n, float decay) {
        std::vector<float> wave(n);
        for (size_t i = 0; i < n; i++) wave[i] = noise(random) / (1.0f + static_cast<float>(i) / decay);
        return wave;
    };
    waves.push_back(noisy(static_cast<size_t>(2 * rate), 4000.0f));
    waves.push_back(noisy(static_cast<size_t>(rate / 10), 400.0f));
    waves.push_back(std::vector<float>(static_cast<size_t>(rate / 2), 0.0f));
    waves.push_back({0.25f});
    std::vector<float> padded(static_cast<size_t>(rate), 0.0f);
    std::vector<float> burst = noisy(static_cast<size_t>(rate / 4), 2000.0f);
    std::copy(burst.begin(), burst.end(), padded.begin() + rate / 3);
    waves.push_back(padded);
    std::vector<float> click(300, 0.0f);
    click[150] = 1.0f;
    waves.push_back(click);
    waves.push_back(noisy(static_cast<size_t>(3 * rate), 20000.0f));
    size_t samples = 0;
    for (const auto& wave : waves) samples = std::max(samples, wave.size());
    std::vector<float> input(waves.size() * samples, 0.0f);
    std::vector<int64_t> lengths;
    for (size_t r = 0; r < waves.size(); r++) {
        std::copy(waves[r].begin(), waves[r].end(), input.begin() + static_cast<std::ptrdiff_t>(r * samples));
        lengths.push_back(static_cast<int64_t>(waves[r].size()));
    }
    const auto rows = static_cast<int64_t>(waves.size());
    auto model = torch_backend("cpu").load(spec.weights_path, "cpu", 1, "fp32");
    // Static Runtime is tried after 128 rows on the interpreter, on the next call's first row.
    const std::vector<float> warm_up = noisy(128 * 300, 1e9f);
    model->embed(warm_up, 128, 300, std::vector<int64_t>(128, 300), dim);
    CHECK(model->executor() == "interpreter");
    model->embed(input, 1, static_cast<int64_t>(samples), lengths, dim);
    CHECK(model->executor() == "static runtime");
    const std::vector<float> out = model->embed(input, rows, static_cast<int64_t>(samples), lengths, dim);
    CHECK(model->executor() == "static runtime");
    for (size_t r = 0; r < waves.size(); r++) {
        // The interpreter's vector: one forward call over the row alone.
        std::vector<float> interpreted = model->embed_padded_batch(waves[r], 1, static_cast<int64_t>(waves[r].size()),
                                                                   {lengths[r]}, dim);
        std::vector<float> got(out.begin() + static_cast<std::ptrdiff_t>(r) * dim, out.begin() + static_cast<std::ptrdiff_t>(r + 1) * dim);
        CHECK_MESSAGE(std::memcmp(got.data(), interpreted.data(), got.size() * sizeof(float)) == 0, "row ", r);
    }
    auto bf16 = torch_backend("cpu").load(spec.weights_path, "cpu", 1, "bf16");
    bf16->embed(warm_up, 128, 300, std::vector<int64_t>(128, 300), dim);
    bf16->embed(input, rows, static_cast<int64_t>(samples), lengths, dim);
    CHECK(bf16->executor() == "interpreter");
}

TEST_CASE("torch exact search on the CPU finds what the CPU exact search finds") {
    // The default model audiosim-dsp v2's dimension; 3,001 rows: not a whole number of BLAS blocks.
    const UnitVectors data = random_unit_vectors(3001, 163, 11);
    const UnitVectors others = random_unit_vectors(20, 163, 12);
    std::vector<float> queries(data.vectors.begin(), data.vectors.begin() + 20 * 163);
    queries.insert(queries.end(), others.vectors.begin(), others.vectors.end());

    auto torch_search = torch_backend("cpu").exact_search(data.ids, data.vectors, data.dim, "cpu", 1);
    auto cpu_search = make_cpu_exact_search(data.ids, data.vectors, data.dim, 1);
    CHECK(torch_search->device() == "cpu");
    CHECK(torch_search->size() == 3001);
    CHECK(torch_search->dim() == 163);
    for (size_t k : {1, 10, 50}) {
        auto got = torch_search->search(queries.data(), 40, k);
        auto expected = cpu_search->search(queries.data(), 40, k);
        REQUIRE(got.size() == 40);
        for (size_t q = 0; q < 40; q++) {
            REQUIRE(got[q].size() == k);
            for (size_t i = 0; i < k; i++) {
                CHECK(got[q][i].first == expected[q][i].first);
                CHECK(got[q][i].second == doctest::Approx(expected[q][i].second).epsilon(1e-5));
            }
        }
    }
}

TEST_CASE("torch exact search: ties in ascending id order where k cuts through them; k past the end, k = 0") {
    const UnitVectors data = tied_unit_vectors();
    auto search = torch_backend("cpu").exact_search(data.ids, data.vectors, data.dim, "cpu", 1);
    check_tie_order(*search);
    const std::vector<float> query(4, 0.5f);
    auto none = search->search(query.data(), 1, 0);
    REQUIRE(none.size() == 1);
    CHECK(none[0].empty());
}

TEST_CASE("torch exact search: an empty set, sizes that do not match, an unknown device") {
    auto empty = torch_backend("cpu").exact_search({}, {}, 4, "cpu", 1);
    const std::vector<float> query(4, 0.5f);
    auto results = empty->search(query.data(), 1, 3);
    REQUIRE(results.size() == 1);
    CHECK(results[0].empty());
    CHECK(error_of([] { torch_backend("cpu").exact_search({1, 2}, std::vector<float>(7), 4, "cpu", 1); }).first ==
          ErrorKind::internal);
    CHECK(error_of([] { torch_backend("cpu").exact_search({1}, std::vector<float>(4), 4, "tpu", 1); }).first ==
          ErrorKind::usage);
}

TEST_SUITE_END();
