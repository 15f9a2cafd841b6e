#include "fuzz_support.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace audiosim::fuzz {

const std::string& scratch_folder() {
    static const std::string folder = [] {
        std::string path = "/dev/shm/audiosim-fuzz-" + std::to_string(::getpid());
        std::filesystem::create_directories(path);
        std::atexit([] { std::filesystem::remove_all(scratch_folder()); });
        return path;
    }();
    return folder;
}

std::string write_scratch(const std::string& name, const void* data, size_t size) {
    std::string path = scratch_folder() + "/" + name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out.flush()) std::abort();  // a full /dev/shm would make every later run meaningless
    return path;
}

}  // namespace audiosim::fuzz
