#include "fuzz_support.hpp"

#include <cstdlib>
#include <string>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace audiosim::fuzz {

namespace {

struct Scratch {
    std::string path = "/dev/shm/audiosim-fuzz-" + std::to_string(::getpid());
    Scratch() { std::filesystem::create_directories(path); }
    ~Scratch() { std::filesystem::remove_all(path); }
};

}  // namespace

const std::string& scratch_folder() {
    static const Scratch scratch;
    return scratch.path;
}

std::string write_scratch(const std::string& name, const void* data, size_t size) {
    std::string path = scratch_folder() + "/" + name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out.flush()) std::abort();  // a full /dev/shm would make every later run meaningless
    return path;
}

}  // namespace audiosim::fuzz
