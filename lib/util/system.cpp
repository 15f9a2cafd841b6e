#include "util/system.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fnmatch.h>
#include <sys/resource.h>

#include <fmt/format.h>

namespace audiosim {

int64_t now_unix_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string utc_timestamp(int64_t unix_ns) {
    std::time_t seconds = static_cast<std::time_t>(unix_ns / 1000000000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

uint64_t peak_rss_bytes() {
    // VmHWM belongs to this address space. getrusage's ru_maxrss does not: Linux carries it over
    // execve from the process that forked us, so a run started from a large parent reports its size.
    if (std::FILE* status = std::fopen("/proc/self/status", "r")) {
        char line[256];
        unsigned long long kib = 0;
        while (std::fgets(line, sizeof line, status))
            if (std::sscanf(line, "VmHWM: %llu kB", &kib) == 1) break;
        std::fclose(status);
        if (kib) return kib * 1024;
    }
    struct rusage usage {};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<uint64_t>(usage.ru_maxrss) * 1024;
}

bool glob_match(const std::string& pattern, const std::string& path) {
    return fnmatch(pattern.c_str(), path.c_str(), FNM_PATHNAME | FNM_PERIOD) == 0;
}

}  // namespace audiosim
