// Compiled without AUDIOSIM_HNSW_ARCH's -march: it must run on any x86-64 CPU (cpu_check.hpp).
#include "index/cpu_check.hpp"

#include <map>
#include <vector>

#include <fmt/format.h>

#include "util/error.hpp"

namespace audiosim {

namespace {

struct ArchLevel {
    const char* name;
    const char* summary;
    std::vector<const char*> features;  // added to those of the levels before it
};

// The x86-64 psABI levels AUDIOSIM_HNSW_ARCH offers, in __builtin_cpu_supports' feature names
// (x86-64-v3 includes x86-64-v2, which brings hnswlib nothing of its own).
const std::vector<ArchLevel>& arch_levels() {
    static const std::vector<ArchLevel> levels = {
        {"x86-64", "SSE2", {}},
        {"x86-64-v3", "AVX2, FMA", {"cmpxchg16b", "lahf_lm", "popcnt", "sse3", "sse4.1", "sse4.2", "ssse3", "avx", "avx2",
                                    "bmi", "bmi2", "f16c", "fma", "lzcnt", "movbe", "osxsave"}},
        {"x86-64-v4", "AVX-512", {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}},
    };
    return levels;
}

bool this_cpu_has(const std::string& feature) {
#if defined(__x86_64__) && !defined(__clang__)
    // __builtin_cpu_supports takes string literals only. clang lacks some of these names; a clang
    // build compiles hnswlib for the baseline, which needs none (lib/CMakeLists.txt).
    static const std::map<std::string, bool> features = {
        {"cmpxchg16b", __builtin_cpu_supports("cmpxchg16b")}, {"lahf_lm", __builtin_cpu_supports("lahf_lm")},
        {"popcnt", __builtin_cpu_supports("popcnt")},         {"sse3", __builtin_cpu_supports("sse3")},
        {"sse4.1", __builtin_cpu_supports("sse4.1")},         {"sse4.2", __builtin_cpu_supports("sse4.2")},
        {"ssse3", __builtin_cpu_supports("ssse3")},           {"avx", __builtin_cpu_supports("avx")},
        {"avx2", __builtin_cpu_supports("avx2")},             {"bmi", __builtin_cpu_supports("bmi")},
        {"bmi2", __builtin_cpu_supports("bmi2")},             {"f16c", __builtin_cpu_supports("f16c")},
        {"fma", __builtin_cpu_supports("fma")},               {"lzcnt", __builtin_cpu_supports("lzcnt")},
        {"movbe", __builtin_cpu_supports("movbe")},           {"osxsave", __builtin_cpu_supports("osxsave")},
        {"avx512f", __builtin_cpu_supports("avx512f")},       {"avx512bw", __builtin_cpu_supports("avx512bw")},
        {"avx512cd", __builtin_cpu_supports("avx512cd")},     {"avx512dq", __builtin_cpu_supports("avx512dq")},
        {"avx512vl", __builtin_cpu_supports("avx512vl")},
    };
    auto it = features.find(feature);
    return it != features.end() && it->second;
#else
    (void)feature;
    return false;
#endif
}

}  // namespace

std::string cpu_arch_shortfall(const std::string& arch, const std::function<bool(const std::string&)>& has) {
    const auto& levels = arch_levels();
    size_t wanted = 0;
    while (wanted < levels.size() && arch != levels[wanted].name) wanted++;
    if (wanted == levels.size()) throw Error(ErrorKind::internal, fmt::format("unknown AUDIOSIM_HNSW_ARCH '{}'", arch));
    std::string missing;
    size_t runnable = levels.size();  // the highest level with nothing missing below it
    for (size_t level = 0; level <= wanted; level++)
        for (const char* feature : levels[level].features) {
            if (has(feature)) continue;
            missing += fmt::format("{}{}", missing.empty() ? "" : ", ", feature);
            runnable = std::min(runnable, level - 1);
        }
    if (missing.empty()) return "";
    return fmt::format("this audiosim was built for {} ({}) but this CPU lacks {}: rebuild with -DAUDIOSIM_HNSW_ARCH={}",
                       levels[wanted].name, levels[wanted].summary, missing, levels[runnable].name);
}

void check_hnsw_cpu_support() {
    static const std::string shortfall =
        std::string(AUDIOSIM_HNSW_ARCH).empty() ? "" : cpu_arch_shortfall(AUDIOSIM_HNSW_ARCH, this_cpu_has);
    if (!shortfall.empty()) throw Error(ErrorKind::internal, shortfall);
}

}  // namespace audiosim
