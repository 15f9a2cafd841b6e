// hnswlib chooses its SIMD code at compile time, so its functions are compiled for the level in
// the CMake option AUDIOSIM_HNSW_ARCH (index/hnswlib_simd.hpp). On a CPU without those
// instructions they would die of SIGILL; the index calls check_hnsw_cpu_support() first. This
// translation unit is compiled for the baseline.
#pragma once

#include <functional>
#include <string>

namespace audiosim {

// Throws Error(internal) naming what this CPU lacks when it cannot run code compiled for
// AUDIOSIM_HNSW_ARCH, and the value to rebuild with; returns at once when the build chose none.
void check_hnsw_cpu_support();

// Why a CPU cannot run code compiled for `arch` ("x86-64", "x86-64-v3", "x86-64-v4"),
// empty when it can. `has` answers for one feature as __builtin_cpu_supports names it ("avx2").
// Error(internal) for another arch.
std::string cpu_arch_shortfall(const std::string& arch, const std::function<bool(const std::string&)>& has);

}  // namespace audiosim
