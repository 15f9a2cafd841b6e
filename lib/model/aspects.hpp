// Named presets of model fusion (--aspect of query, eval and classify): which models, with which
// weights, for which kind of similarity. The weights come from measurements on the devset
// (docs/QUALITY.md, "Fusion"); models beyond the default are installed with
// scripts/install-model.sh.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace audiosim {

struct AspectPreset {
    std::string name;
    std::string what;  // one line for --help and errors
    std::vector<std::pair<std::string, double>> models;  // model name, weight
};

const std::vector<AspectPreset>& aspect_presets();
// Error(usage) naming the presets when there is none of that name.
const AspectPreset& aspect_preset(const std::string& name);

}  // namespace audiosim
