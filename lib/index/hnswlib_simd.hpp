// Force-included into lib/index/hnsw_index.cpp alone, ahead of its first line, when the CMake
// option AUDIOSIM_HNSW_ARCH names a level (lib/CMakeLists.txt): it includes hnswlib with hnswlib's
// functions compiled for that level through `#pragma GCC target`. hnswlib chooses its SIMD code
// at compile time, and -march on the whole file was tried first: it also compiled the nlohmann
// json, fmt and std templates that the file instantiates for AVX2, and such COMDAT copies may be
// the ones the linker keeps for the whole program (measured: the json parser's were), where no
// CPU check can guard them. Here only hnswlib's own code carries the instructions, and the index
// calls check_hnsw_cpu_support() (cpu_check.hpp) before any of it runs.
#pragma once

// Everything hnswlib includes, parsed first for the baseline target, so that the std templates
// hnswlib instantiates keep baseline code.
#include <algorithm>
#include <assert.h>
#include <atomic>
#include <cpuid.h>
#include <deque>
#include <fstream>
#include <iostream>
#include <list>
#include <mutex>
#include <queue>
#include <random>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unordered_map>
#include <unordered_set>
#include <vector>
#include <x86intrin.h>

#pragma GCC push_options
// GCC's C++ front end does not define __AVX__ and friends under a target pragma, so hnswlib's own
// switches are set here (hnswlib.h derives them from those macros).
#if AUDIOSIM_HNSW_LEVEL == 4
#pragma GCC target("arch=x86-64-v4")
#define USE_AVX
#define USE_AVX512
#elif AUDIOSIM_HNSW_LEVEL == 3
#pragma GCC target("arch=x86-64-v3")
#define USE_AVX
#else
#error "AUDIOSIM_HNSW_LEVEL must be 3 or 4"
#endif
#include <hnswlib/hnswlib.h>
#pragma GCC pop_options
