#include "util/csv.hpp"

#include <set>

#include <fmt/format.h>

#include "util/error.hpp"

namespace audiosim {

void check_unique_columns(const CsvRow& header, const std::string& source) {
    std::set<std::string> seen;
    for (const std::string& column : header)
        if (!seen.insert(column).second)
            throw Error(ErrorKind::input, fmt::format("{}: column '{}' appears twice in the header", source, column));
}

std::vector<CsvRow> parse_csv(const std::string& text, const std::string& source) {
    std::vector<CsvRow> rows;
    CsvRow row;
    std::string field;
    bool in_quotes = false;
    bool row_has_content = false;
    size_t line = 1;
    size_t quote_line = 0;
    size_t start = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;  // a UTF-8 byte order mark
    auto end_row = [&] {
        row.push_back(std::move(field));
        field.clear();
        if (row_has_content || row.size() > 1 || !row[0].empty()) rows.push_back(std::move(row));
        row.clear();
        row_has_content = false;
    };
    for (size_t i = start; i < text.size(); ++i) {
        char c = text[i];
        if (in_quotes) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                field += '"';
                ++i;
            } else if (c == '"') {
                in_quotes = false;
            } else {
                if (c == '\n') ++line;
                field += c;
            }
        } else if (c == '"') {
            in_quotes = true;
            row_has_content = true;
            quote_line = line;
        } else if (c == ',') {
            row.push_back(std::move(field));
            field.clear();
        } else if (c == '\n' || c == '\r') {
            if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
            end_row();
            ++line;
        } else {
            field += c;
        }
    }
    if (in_quotes)
        throw Error(ErrorKind::input, fmt::format("{}: line {}: quoted field never closed", source, quote_line));
    if (!field.empty() || !row.empty() || row_has_content) end_row();
    return rows;
}

}  // namespace audiosim
