// RFC 4180 CSV reading (quoted fields, doubled quotes, newlines inside quotes, CRLF).
#pragma once

#include <string>
#include <vector>

namespace audiosim {

using CsvRow = std::vector<std::string>;

// Parses the whole text. Throws Error(input) naming `source` and the line of an unterminated quote.
std::vector<CsvRow> parse_csv(const std::string& text, const std::string& source);

// A header row names each column once: Error(input) naming `source` and the first repeated column
// (a reader would keep one of the two values silently).
void check_unique_columns(const CsvRow& header, const std::string& source);

}  // namespace audiosim
