#include "embed/query_embedding.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "util/error.hpp"

namespace audiosim {

QueryEmbedder::QueryEmbedder(const EmbeddingSet& set, std::string device, int threads, size_t batch_size)
    : device_(std::move(device)), threads_(threads), batch_size_(batch_size) {
    try {
        spec_ = find_model(set.model_id);
    } catch (const Error&) {
        // A model id is NAME-VERSION-HASH: when another file of that name is installed (a newer
        // version after an upgrade), say how to embed the store with it.
        std::string other;
        size_t hash_dash = set.model_id.rfind('-');
        size_t version_dash = hash_dash == std::string::npos ? hash_dash : set.model_id.rfind('-', hash_dash - 1);
        if (version_dash != std::string::npos && version_dash > 0) {
            try {
                ModelSpec installed = find_model(set.model_id.substr(0, version_dash));
                other = fmt::format(" The installed {} is {}: `audiosim embed --profile {} --model {}` embeds the store "
                                    "with it.", installed.name, installed.id(), set.profile, installed.name);
            } catch (const Error&) {
            }
        }
        throw Error(ErrorKind::model, fmt::format("the vectors of {} were made by model {}, which is not in the model "
                                                  "search path: install it, or set AUDIOSIM_MODEL_PATH.{}",
                                                  set.key(), set.model_id, other));
    }
}

void QueryEmbedder::require_text_tower(const std::string& option) const {
    if (!spec_.has_text_tower)
        throw Error(ErrorKind::usage, fmt::format("{} needs a model with a text tower; {} has none ({})", option, spec_.id(),
                                                  text_tower_models()));
}

void QueryEmbedder::load() {
    if (model_) return;
    model_ = torch_backend(device_).load(spec_.weights_path, device_, threads_, "fp32");
    if (batch_size_ == 0) batch_size_ = default_batch_size(model_->device());
}

EmbeddedAudio QueryEmbedder::embed_audio(const std::string& path, const ChunkProfile& profile) {
    load();
    if (!profile.speech_model.empty() && !speech_) speech_ = std::make_unique<SpeechActivity>(profile, static_cast<unsigned>(std::max(threads_, 0)));
    return embed_audio_file(path, profile, spec_, *model_, batch_size_, ResampleQuality::fast, speech_.get());
}

std::vector<float> QueryEmbedder::embed_texts(const std::vector<std::string>& texts) {
    require_text_tower("text search");
    load();
    std::vector<std::string> cut;
    for (const std::string& text : texts) cut.push_back(text_for_tower(spec_, text));
    std::vector<float> vectors = model_->embed_text(cut, spec_.text_method, spec_.embedding_dim);
    normalize_rows(vectors, static_cast<size_t>(spec_.embedding_dim));
    return vectors;
}

}  // namespace audiosim
