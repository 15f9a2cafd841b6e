#include "store/stamp.hpp"

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/system.hpp"
#include "version.hpp"

namespace audiosim {

std::string writer_name() { return fmt::format("audiosim {} ({})", audiosim_version, audiosim_git_describe); }

void write_stamp(const h5::File& file, const std::string& format, int64_t version, const WriterStamp& stamp) {
    hid_t root = file.id();
    h5::write_string_attribute(file, root, "format", format);
    h5::write_int_attribute(file, root, "format_version", version);
    h5::write_string_attribute(file, root, "writer", writer_name());
    h5::write_string_attribute(file, root, "command_line", stamp.command_line);
    h5::write_string_attribute(file, root, "created", utc_timestamp(now_unix_ns()));
    h5::write_int_attribute(file, root, "store_generation", stamp.generation);
    if (!stamp.library_root.empty()) h5::write_string_attribute(file, root, "library_root", stamp.library_root);
}

StampInfo read_stamp(const h5::File& file) {
    hid_t root = file.id();
    auto text = [&](const char* name) {
        return h5::has_attribute(root, name) ? h5::read_string_attribute(file, root, name) : std::string();
    };
    auto number = [&](const char* name) { return h5::has_attribute(root, name) ? h5::read_int_attribute(file, root, name) : 0; };
    return {text("format"), number("format_version"), text("writer"), text("command_line"),
            text("created"), number("store_generation"), text("library_root")};
}

void check_stamp(const h5::File& file, const std::string& format, int64_t supported_version) {
    hid_t root = file.id();
    if (!h5::has_attribute(root, "format") || h5::read_string_attribute(file, root, "format") != format)
        throw Error(ErrorKind::format, fmt::format("{}: not an {} file", file.path(), format));
    int64_t version = h5::read_int_attribute(file, root, "format_version");
    if (version > supported_version || version < 1) {
        std::string writer = h5::has_attribute(root, "writer") ? h5::read_string_attribute(file, root, "writer") : "?";
        throw Error(ErrorKind::format,
                    fmt::format("{}: {} version {} (written by {}); this audiosim reads versions 1 to {}",
                                file.path(), format, version, writer, supported_version));
    }
}

}  // namespace audiosim
