// What a query brings, embedded by the model that made a stored set: audio files outside the
// store (cut and embedded exactly as `embed` would) and texts (the model's text tower). Used by
// `query` and by `report --topic`.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "embed/embedding.hpp"
#include "stage/chunking.hpp"
#include "model/backend.hpp"
#include "model/spec.hpp"
#include "store/store.hpp"

namespace audiosim {

class QueryEmbedder {
public:
    // Finds the set's model in the model search path: Error(model) naming the set when it is not
    // installed. Loads nothing yet. batch_size 0: default_batch_size of the device.
    QueryEmbedder(const EmbeddingSet& set, std::string device, int threads, size_t batch_size);

    const ModelSpec& spec() const { return spec_; }
    // Error(usage) naming `option` when the model has no text tower.
    void require_text_tower(const std::string& option) const;
    // Loads the weights; the embed calls do it on first use, callers that time queries do it first.
    void load();

    EmbeddedAudio embed_audio(const std::string& path, const ChunkProfile& profile);
    std::vector<float> embed_texts(const std::vector<std::string>& texts);  // texts.size() x dim, unit rows

private:
    ModelSpec spec_;
    std::string device_;
    int threads_;
    size_t batch_size_;
    std::unique_ptr<EmbeddingModel> model_;
    std::unique_ptr<SpeechActivity> speech_;  // the profile's, loaded with the first audio query that needs it
};

}  // namespace audiosim
