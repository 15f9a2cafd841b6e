// Clock and process facts for file headers and summaries.
#pragma once

#include <cstdint>
#include <string>

namespace audiosim {

int64_t now_unix_ns();
std::string utc_timestamp(int64_t unix_ns);  // 2026-11-21T11:10:00Z
uint64_t peak_rss_bytes();
bool glob_match(const std::string& pattern, const std::string& path);  // fnmatch, '*' stops at '/'

}  // namespace audiosim
