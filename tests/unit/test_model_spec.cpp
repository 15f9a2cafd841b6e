// lib/model/spec: model sidecars, ids, the search path, the text a text tower reads.
#include <cstdlib>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "model/spec.hpp"
#include "support.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "version.hpp"

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

TEST_CASE("a sidecar that breaks the rules is Error(model) naming the file and the problem") {
    TempFolder folder;
    write_bytes(folder.file("tiny.pt"), "weights");
    nlohmann::json sidecar = good_sidecar();
    std::string text, expected;
    SUBCASE("not JSON") { text = "{\"name\": "; expected = "not a JSON object"; }
    SUBCASE("an array") { text = "[1, 2]"; expected = "not a JSON object"; }
    SUBCASE("a field missing") { sidecar.erase("embedding_dim"); expected = "sidecar field missing or of the wrong type"; }
    SUBCASE("a field of the wrong type") { sidecar["normalized"] = "yes"; expected = "sidecar field missing or of the wrong type"; }
    SUBCASE("upper case in the name") { sidecar["name"] = "Tiny"; expected = "name and version must be"; }
    SUBCASE("a name starting with a dot") { sidecar["name"] = ".tiny"; expected = "name and version must be"; }
    SUBCASE("a slash in the version") { sidecar["version"] = "1/2"; expected = "name and version must be"; }
    SUBCASE("an empty version") { sidecar["version"] = ""; expected = "name and version must be"; }
    SUBCASE("a sample rate too low") { sidecar["sample_rate"] = 999; expected = "sample_rate 999 out of range"; }
    SUBCASE("a sample rate too high") { sidecar["sample_rate"] = 384001; expected = "sample_rate 384001 out of range"; }
    SUBCASE("a negative sample rate") { sidecar["sample_rate"] = -16000; expected = "sample_rate"; }
    SUBCASE("no dimensions") { sidecar["embedding_dim"] = 0; expected = "embedding_dim 0 out of range"; }
    SUBCASE("too many dimensions") { sidecar["embedding_dim"] = 65537; expected = "embedding_dim 65537 out of range"; }
    SUBCASE("a window of 0 s") { sidecar["window_seconds"] = 0; expected = "window_seconds must be positive"; }
    SUBCASE("weights that are not there") { sidecar["weights"] = "other.pt"; expected = "weights " + folder.file("other.pt") + " not found"; }
    SUBCASE("a text tower that is not an object") { sidecar["text_tower"] = "yes"; expected = "text_tower must be null or an object"; }
    SUBCASE("a text tower reading other input") { sidecar["text_tower"]["input"] = "tokens"; expected = "text_tower input 'tokens' is not supported"; }
    SUBCASE("a text tower reading no bytes") { sidecar["text_tower"]["max_bytes"] = 0; expected = "text_tower max_bytes must be positive"; }
    write_bytes(folder.file("tiny.json"), text.empty() ? sidecar.dump() : text);
    auto [kind, message] = error_of([&] { audiosim::read_model_spec(folder.file("tiny.json")); });
    CHECK(kind == ErrorKind::model);
    CHECK_MESSAGE(message.rfind(folder.file("tiny.json") + ": ", 0) == 0, message);
    CHECK_MESSAGE(contains(message, expected), message);
}

TEST_CASE("defaults: no text tower when null, the tower's method and 512 bytes when unsaid; weights by name or field") {
    TempFolder folder;
    write_bytes(folder.file("tiny.pt"), "weights");
    nlohmann::json sidecar = good_sidecar();
    sidecar["text_tower"] = nullptr;
    write_bytes(folder.file("tiny.json"), sidecar.dump());
    audiosim::ModelSpec plain = audiosim::read_model_spec(folder.file("tiny.json"));
    CHECK_FALSE(plain.has_text_tower);

    sidecar["text_tower"] = nlohmann::json::object();
    sidecar["weights"] = folder.file("tiny.pt");  // absolute
    write_bytes(folder.file("other.json"), sidecar.dump());
    audiosim::ModelSpec tower = audiosim::read_model_spec(folder.file("other.json"));
    CHECK(tower.has_text_tower);
    CHECK(tower.text_method == "embed_text");
    CHECK(tower.text_max_bytes == 512);
    CHECK(tower.weights_path == folder.file("tiny.pt"));
    CHECK(tower.id() == plain.id());  // the same name, version and weights
}

TEST_CASE("the id follows the weights' bytes, not where they are") {
    TempFolder folder;
    audiosim::make_directories(folder.file("a"));
    audiosim::make_directories(folder.file("b"));
    for (const char* place : {"a", "b"}) {
        write_bytes(folder.file(std::string(place) + "/tiny.pt"), "weights");
        write_bytes(folder.file(std::string(place) + "/tiny.json"), good_sidecar().dump());
    }
    const std::string id = audiosim::read_model_spec(folder.file("a/tiny.json")).id();
    CHECK(id.size() == std::string("tiny-1-").size() + 12);
    CHECK(audiosim::read_model_spec(folder.file("b/tiny.json")).id() == id);
    write_bytes(folder.file("b/tiny.pt"), "weights, retrained");
    CHECK(audiosim::read_model_spec(folder.file("b/tiny.json")).id() != id);
}

TEST_CASE("text_for_tower cuts at max_bytes, never inside a UTF-8 character") {
    audiosim::ModelSpec spec;
    spec.text_max_bytes = 4;
    CHECK(audiosim::text_for_tower(spec, "kick") == "kick");
    CHECK(audiosim::text_for_tower(spec, "kicks") == "kick");
    CHECK(audiosim::text_for_tower(spec, "") == "");
    CHECK(audiosim::text_for_tower(spec, "ab\xc3\xa9z") == "ab\xc3\xa9");      // é ends at byte 4
    CHECK(audiosim::text_for_tower(spec, "abc\xc3\xa9") == "abc");             // é would be split
    CHECK(audiosim::text_for_tower(spec, "a\xe2\x82\xac" "b") == "a\xe2\x82\xac");  // € is 3 bytes
    CHECK(audiosim::text_for_tower(spec, "\xf0\x9f\x8e\xb5!") == "\xf0\x9f\x8e\xb5");  // a 4-byte character
    spec.text_max_bytes = 3;
    CHECK(audiosim::text_for_tower(spec, "\xf0\x9f\x8e\xb5") == "");
}

namespace {

// Sets $AUDIOSIM_MODEL_PATH for one test and restores it afterwards.
class ModelPath {
public:
    explicit ModelPath(const std::string& value) {
        if (const char* old = std::getenv("AUDIOSIM_MODEL_PATH")) saved_ = old, had_ = true;
        ::setenv("AUDIOSIM_MODEL_PATH", value.c_str(), 1);
    }
    ~ModelPath() { had_ ? ::setenv("AUDIOSIM_MODEL_PATH", saved_.c_str(), 1) : ::unsetenv("AUDIOSIM_MODEL_PATH"); }
    ModelPath(const ModelPath&) = delete;
    ModelPath& operator=(const ModelPath&) = delete;

private:
    std::string saved_;
    bool had_ = false;
};

}  // namespace

TEST_CASE("the search path: $AUDIOSIM_MODEL_PATH first, then beside the binary, then the source tree") {
    ModelPath path("/x/one::/x/two:");
    std::vector<std::string> folders = audiosim::model_search_path();
    REQUIRE(folders.size() == 4);
    CHECK(folders[0] == "/x/one");
    CHECK(folders[1] == "/x/two");
    CHECK(contains(folders[2], "share/audiosim/models"));
    CHECK(folders[3] == audiosim::audiosim_source_models);
}

TEST_CASE("find_model: by sidecar or weights path, by name or id along the search path; unknown names list the models") {
    TempFolder folder;
    audiosim::make_directories(folder.file("models/tiny"));
    write_bytes(folder.file("models/tiny/tiny.pt"), "weights");
    write_bytes(folder.file("models/tiny/tiny.json"), good_sidecar().dump());
    write_bytes(folder.file("models/notes.json"), "{}");  // no weights beside it: not a model
    ModelPath path(folder.file("models"));

    const std::string sidecar = folder.file("models/tiny/tiny.json");
    CHECK(audiosim::find_model(sidecar).sidecar_path == sidecar);
    CHECK(audiosim::find_model(folder.file("models/tiny/tiny.pt")).sidecar_path == sidecar);
    const audiosim::ModelSpec tiny = audiosim::find_model("tiny");
    CHECK(tiny.sidecar_path == sidecar);
    CHECK(audiosim::find_model(tiny.id()).sidecar_path == sidecar);
    CHECK(audiosim::find_model("").name == audiosim::default_model_name);  // from the source tree
    CHECK(contains(audiosim::text_tower_models(), "tiny"));

    auto [kind, message] = error_of([] { audiosim::find_model("nope"); });
    CHECK(kind == ErrorKind::model);
    CHECK(contains(message, "no model named 'nope'"));
    CHECK(contains(message, "tiny"));
    CHECK(contains(message, audiosim::default_model_name));
}

TEST_SUITE_END();
