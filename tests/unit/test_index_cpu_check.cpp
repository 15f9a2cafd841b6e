// lib/index/cpu_check: the message for a CPU that lacks what hnsw_index.cpp was compiled for.
#include <set>
#include <string>

#include <doctest/doctest.h>

#include "index/cpu_check.hpp"
#include "support.hpp"

using audiosim::cpu_arch_shortfall;
using audiosim::ErrorKind;
using audiosim::test::contains;
using audiosim::test::error_of;

namespace {

// A CPU with every feature of the levels up to x86-64-v4 except `absent`.
auto cpu_without(std::set<std::string> absent) {
    return [absent](const std::string& feature) { return absent.count(feature) == 0; };
}

}  // namespace

TEST_SUITE_BEGIN("index/cpu_check");

TEST_CASE("a CPU with every feature of the level has no shortfall") {
    for (const char* arch : {"x86-64", "x86-64-v3", "x86-64-v4"})
        CHECK(cpu_arch_shortfall(arch, cpu_without({})).empty());
    CHECK(cpu_arch_shortfall("x86-64-v3", cpu_without({"avx512f"})).empty());  // v4 features are not asked for
}

TEST_CASE("a CPU without AVX2 and FMA is told what it lacks and which level to rebuild with") {
    auto message = cpu_arch_shortfall("x86-64-v3", cpu_without({"avx2", "fma"}));
    CHECK(message == "this audiosim was built for x86-64-v3 (AVX2, FMA) but this CPU lacks avx2, fma: "
                     "rebuild with -DAUDIOSIM_HNSW_ARCH=x86-64");
    auto old = cpu_arch_shortfall("x86-64-v4", cpu_without({"sse4.2", "avx512f"}));
    CHECK(contains(old, "lacks sse4.2, avx512f:"));
    CHECK(old.substr(old.rfind('=') + 1) == "x86-64");  // the lowest level that lacks something decides
    CHECK(contains(cpu_arch_shortfall("x86-64-v4", cpu_without({"avx512bw"})), "=x86-64-v3"));
}

TEST_CASE("an unknown level is a bug in the build") {
    CHECK(error_of([] { cpu_arch_shortfall("native", cpu_without({})); }).first == ErrorKind::internal);
    CHECK(error_of([] { cpu_arch_shortfall("x86-64-v2", cpu_without({})); }).first == ErrorKind::internal);
}

TEST_CASE("this machine runs the unit tests' own build") {
    CHECK_NOTHROW(audiosim::check_hnsw_cpu_support());
}

TEST_SUITE_END();
