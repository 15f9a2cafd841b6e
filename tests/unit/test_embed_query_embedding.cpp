// lib/embed/query_embedding: a query's audio and texts embedded by the model of a stored set, as
// `embed` would, through the default model and the torch plugin beside unit_tests.
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <sndfile.h>

#include "embed/query_embedding.hpp"
#include "support.hpp"

using audiosim::ErrorKind;
using audiosim::QueryEmbedder;
using audiosim::test::contains;
using audiosim::test::error_of;

namespace {

audiosim::EmbeddingSet default_set() {
    audiosim::ModelSpec spec = audiosim::find_model(audiosim::default_model_name);
    return {spec.id(), "sample", spec.embedding_dim, {}, {}};
}

}  // namespace

TEST_CASE("QueryEmbedder: a set whose model is not installed is Error(model) naming the set and the model") {
    audiosim::EmbeddingSet set{"no-such-model-1-0123456789ab", "sample", 8, {}, {}};
    auto [kind, message] = error_of([&] { QueryEmbedder(set, "cpu", 1, 0); });
    CHECK(kind == ErrorKind::model);
    CHECK(contains(message, "sample/no-such-model-1-0123456789ab"));
    CHECK(contains(message, "AUDIOSIM_MODEL_PATH"));
}

TEST_CASE("QueryEmbedder: text needs a text tower; the option that asked is named") {
    QueryEmbedder embedder(default_set(), "cpu", 1, 0);
    auto [kind, message] = error_of([&] { embedder.require_text_tower("--topic"); });
    CHECK(kind == ErrorKind::usage);
    CHECK(contains(message, "--topic needs a model with a text tower"));
    CHECK(contains(message, embedder.spec().id()));
    CHECK(error_of([&] { embedder.embed_texts({"a kick"}); }).first == ErrorKind::usage);
}

TEST_CASE("QueryEmbedder: audio is embedded as embed_audio_file does, whatever the batch size") {
    audiosim::test::TempFolder folder;
    const std::string path = folder.file("tone.wav");
    QueryEmbedder by_device(default_set(), "cpu", 1, 0);
    QueryEmbedder one_by_one(default_set(), "cpu", 1, 1);
    const audiosim::ModelSpec& spec = by_device.spec();
    audiosim::test::write_sine(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, static_cast<int>(spec.sample_rate), 2,
                               static_cast<long>(5 * spec.sample_rate), 660.0);
    const audiosim::ChunkProfile profile = audiosim::preset_profile("sample");

    audiosim::EmbeddedAudio a = by_device.embed_audio(path, profile);
    audiosim::EmbeddedAudio b = one_by_one.embed_audio(path, profile);
    REQUIRE(a.chunks.size() == 4);  // 5 s in 2 s windows, 1 s apart
    CHECK(a.vectors.size() == a.chunks.size() * static_cast<size_t>(spec.embedding_dim));
    CHECK(a.vectors == b.vectors);

    auto model = audiosim::torch_backend("cpu").load(spec.weights_path, "cpu", 1, "fp32");
    audiosim::EmbeddedAudio direct = audiosim::embed_audio_file(path, profile, spec, *model, 8, audiosim::ResampleQuality::fast);
    CHECK(a.vectors == direct.vectors);

    auto [kind, message] = error_of([&] { by_device.embed_audio(folder.file("missing.wav"), profile); });
    CHECK(kind == ErrorKind::input);
    CHECK(contains(message, "missing.wav"));
}
