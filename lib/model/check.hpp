// `audiosim models check`: does a model keep the contract (models/README.md)? Checked the way one
// debugs an embedding pipeline: shapes, finite outputs, norms, determinism, independence from
// batch and padding, silence, full-scale noise and very short inputs. A speech-activity model
// (one share of speech per row) is checked for shares in 0..1 instead of norms and distinctness.
#pragma once

#include <string>
#include <vector>

#include "model/backend.hpp"
#include "model/spec.hpp"

namespace audiosim {

struct ContractCheck {
    std::string name;
    bool passed = false;
    std::string detail;  // what was measured
};

// Runs every check on a loaded model; a check that throws counts as failed with the message.
std::vector<ContractCheck> check_model_contract(const ModelSpec& spec, EmbeddingModel& model);

}  // namespace audiosim
