// The store manifest (manifest.json) as parsed JSON: manifest_from_json must accept it or throw
// Error, and what it accepts must survive manifest_to_json and a second read.
#include <cstddef>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "store/store.hpp"
#include "util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto json = nlohmann::json::parse(data, data + size, nullptr, false);
    if (json.is_discarded()) return 0;  // read_store_manifest refuses bad JSON before this point
    audiosim::Manifest manifest;
    try {
        manifest = audiosim::manifest_from_json(json, "manifest.json");
    } catch (const audiosim::Error&) {
        return 0;
    }
    // Not caught: a manifest we accept and cannot read back after writing it is a bug.
    audiosim::manifest_from_json(audiosim::manifest_to_json(manifest), "manifest.json (written back)");
    return 0;
}
