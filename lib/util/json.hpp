// Integer fields of the JSON files audiosim reads (manifest, model sidecars).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace audiosim {

// nlohmann's get<T>() for an integer T converts a JSON float with a static_cast, undefined
// behaviour when the value is out of T's range (found by fuzzing: "bytes": 1e300). This refuses a
// non-integer with the type_error get<T>() throws for a string, which the readers already map to
// their Error.
template <typename T>
T json_integer(const nlohmann::json& value) {
    if (!value.is_number_integer())
        throw nlohmann::json::type_error::create(
            302, std::string("type must be an integer, but is ") + value.type_name(), &value);
    return value.get<T>();
}

}  // namespace audiosim
