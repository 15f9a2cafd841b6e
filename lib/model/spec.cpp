#include "model/spec.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"
#include "util/json.hpp"
#include "version.hpp"

namespace audiosim {

std::string ModelSpec::id() const { return fmt::format("{}-{}-{}", name, version, hash_to_hex(weights_hash).substr(0, 12)); }

namespace {

bool safe_name(const std::string& text) {
    return !text.empty() && text.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-") == std::string::npos &&
           text[0] != '.';
}

uint64_t hash_weights(const std::string& path) {
    try {
        return hash_file(path).hash;
    } catch (const Error& error) {
        throw Error(ErrorKind::model, error.what());  // a model that cannot be read is a model error
    }
}

}  // namespace

ModelSpec read_model_spec(const std::string& sidecar_path) {
    auto fail = [&](const std::string& why) { return Error(ErrorKind::model, fmt::format("{}: {}", sidecar_path, why)); };
    nlohmann::json json = nlohmann::json::parse(read_text_file(sidecar_path), nullptr, false);
    if (json.is_discarded() || !json.is_object()) throw fail("not a JSON object");
    ModelSpec spec;
    spec.sidecar_path = sidecar_path;
    try {
        spec.name = json.at("name").get<std::string>();
        spec.version = json.at("version").get<std::string>();
        spec.sample_rate = json_integer<uint32_t>(json.at("sample_rate"));
        spec.window_seconds = json.at("window_seconds").get<double>();
        spec.embedding_dim = json_integer<int64_t>(json.at("embedding_dim"));
        spec.normalized = json.at("normalized").get<bool>();
        spec.license = json.value("license", "");
        spec.source = json.value("source", "");
        spec.role = json.value("role", "embedding");
        if (spec.role != "embedding" && spec.role != "speech-activity")
            throw fail(fmt::format("role '{}' is not one audiosim knows (embedding, speech-activity)", spec.role));
        spec.has_text_tower = json.contains("text_tower") && !json["text_tower"].is_null();
        if (spec.has_text_tower) {
            const auto& tower = json.at("text_tower");
            if (!tower.is_object()) throw fail("text_tower must be null or an object (models/README.md)");
            spec.text_method = tower.value("method", "embed_text");
            spec.text_max_bytes = tower.contains("max_bytes") ? json_integer<size_t>(tower.at("max_bytes")) : 512;
            if (tower.value("input", "utf8-bytes") != "utf8-bytes")
                throw fail(fmt::format("text_tower input '{}' is not supported (only utf8-bytes)", tower.value("input", "")));
            if (spec.text_max_bytes == 0) throw fail("text_tower max_bytes must be positive");
        }
        std::string weights = json.value("weights", "");
        if (weights.empty()) {
            weights = file_name(sidecar_path);
            auto dot = weights.rfind('.');
            weights = weights.substr(0, dot) + ".pt";
        }
        spec.weights_path = weights[0] == '/' ? weights : join_path(parent_path(sidecar_path), weights);
    } catch (const nlohmann::json::exception& error) {
        throw fail(fmt::format("sidecar field missing or of the wrong type: {}", error.what()));
    }
    if (!safe_name(spec.name) || !safe_name(spec.version)) throw fail("name and version must be a-z, 0-9, '.', '_', '-'");
    if (spec.sample_rate < 1000 || spec.sample_rate > 384000) throw fail(fmt::format("sample_rate {} out of range", spec.sample_rate));
    if (spec.embedding_dim < 1 || spec.embedding_dim > 65536) throw fail(fmt::format("embedding_dim {} out of range", spec.embedding_dim));
    if (!(spec.window_seconds > 0)) throw fail("window_seconds must be positive");
    if (!path_exists(spec.weights_path)) throw fail(fmt::format("weights {} not found", spec.weights_path));
    spec.weights_hash = hash_weights(spec.weights_path);
    return spec;
}

std::vector<std::string> model_search_path() {
    std::vector<std::string> folders;
    if (const char* env = std::getenv("AUDIOSIM_MODEL_PATH"); env && *env) {
        std::string list = env;
        size_t start = 0;
        while (start <= list.size()) {
            size_t end = list.find(':', start);
            if (end == std::string::npos) end = list.size();
            if (end > start) folders.push_back(list.substr(start, end - start));
            start = end + 1;
        }
    }
    char buffer[4096];
    ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof buffer - 1);
    if (n > 0) folders.push_back(join_path(parent_path(parent_path(std::string(buffer, static_cast<size_t>(n)))), "share/audiosim/models"));
    folders.push_back(audiosim_source_models);
    return folders;
}

std::vector<ModelSpec> list_models() {
    std::vector<ModelSpec> models;
    for (const auto& folder : model_search_path()) {
        std::error_code error;
        std::vector<std::string> sidecars;
        for (auto it = std::filesystem::recursive_directory_iterator(folder, error);
             !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error))
            if (it->path().extension() == ".json" && path_exists(it->path().string().substr(0, it->path().string().size() - 5) + ".pt"))
                sidecars.push_back(it->path().string());
        std::sort(sidecars.begin(), sidecars.end());
        for (const auto& sidecar : sidecars) models.push_back(read_model_spec(sidecar));
    }
    return models;
}

ModelSpec find_model(const std::string& name_or_path) {
    std::string name = name_or_path.empty() ? default_model_name : name_or_path;
    auto ends_with = [&](const char* suffix) {
        size_t length = std::strlen(suffix);
        return name.size() > length && name.compare(name.size() - length, length, suffix) == 0;
    };
    if (ends_with(".json")) return read_model_spec(name);
    if (ends_with(".pt")) return read_model_spec(name.substr(0, name.size() - 3) + ".json");
    std::string known;
    for (const ModelSpec& spec : list_models()) {
        if (spec.name == name || spec.id() == name) return spec;
        known += (known.empty() ? "" : ", ") + spec.name;
    }
    throw Error(ErrorKind::model, fmt::format("no model named '{}' (models found: {}; search path: $AUDIOSIM_MODEL_PATH, "
                                              "share/audiosim/models, the source tree's models/)",
                                              name, known.empty() ? "none" : known));
}

std::string text_for_tower(const ModelSpec& spec, const std::string& text) {
    std::string cut = text.substr(0, std::min(text.size(), spec.text_max_bytes));
    while (cut.size() < text.size() && !cut.empty() && (static_cast<unsigned char>(text[cut.size()]) & 0xC0) == 0x80)
        cut.pop_back();  // never split a UTF-8 character
    return cut;
}

void require_embedding_model(const ModelSpec& spec) {
    if (spec.role != "embedding")
        throw Error(ErrorKind::usage, fmt::format("{} is a {} model: it flags chunks of a profile (chunk --speech-model {}), "
                                                  "it makes no embeddings", spec.name, spec.role, spec.name));
}

std::string text_tower_models() {
    std::string names;
    for (const ModelSpec& spec : list_models())
        if (spec.has_text_tower) names += (names.empty() ? "" : ", ") + spec.name;
    return names.empty() ? "none is installed (models/README.md: the text tower contract)" : "models with one: " + names;
}

}  // namespace audiosim
