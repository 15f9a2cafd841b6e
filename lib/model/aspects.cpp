#include "model/aspects.hpp"

#include <fmt/format.h>

#include "util/error.hpp"

namespace audiosim {

const std::vector<AspectPreset>& aspect_presets() {
    static const std::vector<AspectPreset> presets = {
        {"drums", "drum and percussion one-shots, also across drum machines; the default model alone",
         {{"audiosim-dsp", 1.0}}},
        {"timbre", "instrument and sample timbre; aisfx weighs twice the default, the best of the fusions on "
                   "tonal notes and the held-out drum classes",
         {{"audiosim-dsp", 1.0}, {"aisfx", 2.0}}},
        {"overall", "a bit of everything; the default and aisfx alike, the best first hits on drums",
         {{"audiosim-dsp", 1.0}, {"aisfx", 1.0}}},
        {"voice", "who is speaking; resemblyzer", {{"resemblyzer", 1.0}}},
        {"pitch", "the same note, whatever plays it; crepe", {{"crepe", 1.0}}},
    };
    return presets;
}

const AspectPreset& aspect_preset(const std::string& name) {
    std::string names;
    for (const AspectPreset& preset : aspect_presets()) {
        if (preset.name == name) return preset;
        names += (names.empty() ? "" : ", ") + preset.name;
    }
    throw Error(ErrorKind::usage, fmt::format("no aspect '{}' (aspects: {})", name, names));
}

}  // namespace audiosim
