// lib/model/spec: model sidecars.
#include <string>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "model/spec.hpp"
#include "support.hpp"
#include "util/error.hpp"

using audiosim::ErrorKind;
using audiosim::test::contains;
using audiosim::test::error_of;
using audiosim::test::TempFolder;
using audiosim::test::write_bytes;

namespace {

nlohmann::json good_sidecar() {
    return {{"name", "tiny"},      {"version", "1"},       {"sample_rate", 16000},
            {"window_seconds", 2}, {"embedding_dim", 8},   {"normalized", true},
            {"text_tower", {{"method", "embed_text"}, {"max_bytes", 16}, {"input", "utf8-bytes"}}}};
}

}  // namespace

TEST_SUITE_BEGIN("model/spec");

TEST_CASE("a sidecar beside its weights is read and named by content") {
    TempFolder folder;
    write_bytes(folder.file("tiny.pt"), "weights");
    write_bytes(folder.file("tiny.json"), good_sidecar().dump());
    audiosim::ModelSpec spec = audiosim::read_model_spec(folder.file("tiny.json"));
    CHECK(spec.sample_rate == 16000);
    CHECK(spec.embedding_dim == 8);
    CHECK(spec.text_max_bytes == 16);
    CHECK(spec.weights_path == folder.file("tiny.pt"));
    CHECK(spec.id().rfind("tiny-1-", 0) == 0);
}

TEST_CASE("integer fields holding floats are Error(model) (found by fuzzing: undefined behaviour before)") {
    TempFolder folder;
    write_bytes(folder.file("tiny.pt"), "weights");
    nlohmann::json sidecar = good_sidecar();
    SUBCASE("sample_rate beyond any integer") { sidecar["sample_rate"] = 3.3e129; }
    SUBCASE("a fractional embedding_dim") { sidecar["embedding_dim"] = 8.5; }
    SUBCASE("a float max_bytes") { sidecar["text_tower"]["max_bytes"] = 1e30; }
    write_bytes(folder.file("tiny.json"), sidecar.dump());
    auto [kind, message] = error_of([&] { audiosim::read_model_spec(folder.file("tiny.json")); });
    CHECK(kind == ErrorKind::model);
    CHECK(contains(message, "tiny.json"));
    CHECK(contains(message, "must be an integer"));
}
