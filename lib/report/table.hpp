// Rows of data for stdout: TSV and CSV with a header row, JSON (one array), JSON lines. Columns are
// fixed per command and documented in docs/CLI.md, so that sort, awk, jq and pandas can rely on them.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace audiosim {

enum class TableFormat { tsv, csv, json, jsonl };
TableFormat parse_table_format(const std::string& name);  // Error(usage) for an unknown name

class TableWriter {
public:
    TableWriter(std::ostream& out, TableFormat format, std::vector<std::string> columns);
    ~TableWriter();  // closes a JSON array
    void row(const std::vector<nlohmann::json>& cells);  // strings, numbers, booleans or null
    // JSON and JSON lines only: a row that nests arrays or objects (its fields documented by the caller).
    void object(const nlohmann::ordered_json& object);
    void finish();

private:
    std::ostream& out_;
    TableFormat format_;
    std::vector<std::string> columns_;
    size_t rows_ = 0;
    bool finished_ = false;
};

// TSV cells escape backslash, tab, newline and carriage return as \\, \t, \n, \r; other bytes
// (non-UTF-8 path names included) pass through unchanged.
std::string tsv_escape(const std::string& text);

// Scores and similarities as printed: 6 decimals, so outputs diff cleanly across runs and machines.
double score_cell(double value);
std::string csv_quote(const std::string& text);

}  // namespace audiosim
