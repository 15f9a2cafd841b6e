// A model is a TorchScript file plus a JSON sidecar (models/README.md). This reads sidecars, finds
// models by name, and names each model by content: a changed model never mixes with old vectors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace audiosim {

struct ModelSpec {
    std::string name;            // [a-z0-9._-]
    std::string version;
    uint32_t sample_rate = 0;    // of the mono input the model takes
    double window_seconds = 0;   // the chunk length it prefers
    int64_t embedding_dim = 0;
    bool normalized = false;     // outputs already L2-normalized (audiosim normalizes anyway)
    std::string license;
    std::string source;
    // "embedding" (vectors to search) or "speech-activity" (the fraction of a row that is speech,
    // one value per row: a chunk profile's speech flag, never embeddings).
    std::string role = "embedding";
    bool has_text_tower = false;
    std::string text_method;     // the TorchScript method of the text tower (models/README.md)
    size_t text_max_bytes = 0;   // longer texts are cut (at a UTF-8 character boundary)
    std::string sidecar_path;
    std::string weights_path;    // the TorchScript file: "weights" in the sidecar, else the sidecar's name with .pt
    uint64_t weights_hash = 0;   // XXH3-64 of the TorchScript file

    // name-version-hash: keys every embedding made with this exact file, e.g. audiosim-dsp-1-3fa2c1d4e5b6.
    std::string id() const;
};

// Reads and checks a sidecar and hashes its weights. Error(model) naming the file and the problem.
ModelSpec read_model_spec(const std::string& sidecar_path);

// Where models are looked for: $AUDIOSIM_MODEL_PATH (folders separated by ':'), then
// share/audiosim/models next to the binary's folder, then the source tree's models/.
std::vector<std::string> model_search_path();
std::vector<ModelSpec> list_models();

// A sidecar (.json) or weights (.pt) path, or a model name from the search path. Error(model)
// listing the models there are when nothing matches.
ModelSpec find_model(const std::string& name_or_path);
// Error(usage) unless the model makes embeddings (its role), naming what it is for instead.
void require_embedding_model(const ModelSpec& spec);

// The text a model's text tower reads: at most spec.text_max_bytes, never splitting a UTF-8 character.
std::string text_for_tower(const ModelSpec& spec, const std::string& text);

// For messages: "models with one: A, B", or that none is installed.
std::string text_tower_models();

inline constexpr const char* default_model_name = "audiosim-dsp";

}  // namespace audiosim
