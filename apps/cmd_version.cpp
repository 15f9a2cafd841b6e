// audiosim version: what this binary is built from, and whether it found a GPU.
#include <iostream>

#include <CLI/Version.hpp>
#include <samplerate.h>

#include "audio/probe.hpp"
#include "commands.hpp"
#include "model/backend.hpp"
#include "store/h5.hpp"
#include "version.hpp"

namespace audiosim::cli {

namespace {
// "libsndfile-1.2.0" and "libsamplerate-0.2.2 (c) ..." -> the version number alone.
std::string version_number(const std::string& text) {
    auto start = text.find_first_of("0123456789");
    if (start == std::string::npos) return text;
    auto end = text.find_first_of(" \t", start);
    return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}
}  // namespace

int print_versions() {
    // The CUDA plugin: only it can tell what CUDA torch was built for and which devices it finds.
    TorchRuntime torch = torch_plugin(TorchPlugin::cuda).runtime();
    std::string cuda = torch.cuda_compiled ? fmt::format("compiled for CUDA {}, {} device{} found", torch.cuda_version,
                                                         torch.cuda_devices, torch.cuda_devices == 1 ? "" : "s")
                                           : "not compiled in";
    std::cout << fmt::format("audiosim {} ({})\n", audiosim_version, audiosim_git_describe)
              << fmt::format("torch {}\n", torch.torch_version)  //
              << fmt::format("cuda {}\n", cuda)
              << fmt::format("libsndfile {}\n", version_number(libsndfile_version()))
              << fmt::format("libsamplerate {}\n", version_number(src_get_version()))
              << fmt::format("hdf5 {}\n", h5::library_version())
              << fmt::format("hnswlib {}\n", hnswlib_version)
              << fmt::format("cli11 {}\n", CLI11_VERSION);
    return exit_ok;
}

Runner setup_version(CLI::App&) {
    return [](const GlobalOptions&) { return print_versions(); };
}

}  // namespace audiosim::cli
