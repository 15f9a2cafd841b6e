// lib/model/aspects: the named fusions and their lookup.
#include <set>
#include <string>

#include <doctest/doctest.h>

#include "model/aspects.hpp"
#include "support.hpp"

using namespace audiosim;
using audiosim::test::error_of;

TEST_SUITE_BEGIN("model/aspects");

TEST_CASE("every aspect has a unique name, a description and positive weights; drums is the default model alone") {
    std::set<std::string> names;
    for (const AspectPreset& preset : aspect_presets()) {
        CHECK(names.insert(preset.name).second);
        CHECK_FALSE(preset.what.empty());
        REQUIRE_FALSE(preset.models.empty());
        for (const auto& [model, weight] : preset.models) {
            CHECK_FALSE(model.empty());
            CHECK(weight > 0);
        }
    }
    const AspectPreset& drums = aspect_preset("drums");
    REQUIRE(drums.models.size() == 1);
    CHECK(drums.models[0].first == "audiosim-dsp");
    CHECK(aspect_preset("timbre").models.size() == 2);
}

TEST_CASE("an unknown aspect is a usage error naming the aspects there are") {
    auto [kind, message] = error_of([] { aspect_preset("loudness"); });
    CHECK(kind == ErrorKind::usage);
    for (const AspectPreset& preset : aspect_presets()) CHECK(message.find(preset.name) != std::string::npos);
}
