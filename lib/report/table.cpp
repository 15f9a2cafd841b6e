#include "report/table.hpp"

#include <cmath>

#include <fmt/format.h>

#include "util/error.hpp"

namespace audiosim {

TableFormat parse_table_format(const std::string& name) {
    if (name == "tsv") return TableFormat::tsv;
    if (name == "csv") return TableFormat::csv;
    if (name == "json") return TableFormat::json;
    if (name == "jsonl") return TableFormat::jsonl;
    throw Error(ErrorKind::usage, fmt::format("unknown format '{}' (tsv, csv, json, jsonl)", name));
}

std::string tsv_escape(const std::string& text) {
    std::string escaped;
    escaped.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '\\': escaped += "\\\\"; break;
            case '\t': escaped += "\\t"; break;
            case '\n': escaped += "\\n"; break;
            case '\r': escaped += "\\r"; break;
            default: escaped += c;
        }
    }
    return escaped;
}

double score_cell(double value) { return std::round(value * 1e6) / 1e6; }

std::string csv_quote(const std::string& text) {
    if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
    std::string quoted = "\"";
    for (char c : text) {
        if (c == '"') quoted += '"';
        quoted += c;
    }
    return quoted + "\"";
}

namespace {

std::string plain_cell(const nlohmann::json& cell) {
    if (cell.is_null()) return "";
    if (cell.is_string()) return cell.get<std::string>();
    if (cell.is_number_float()) return fmt::format("{:.6g}", cell.get<double>());
    return cell.dump();
}

}  // namespace

TableWriter::TableWriter(std::ostream& out, TableFormat format, std::vector<std::string> columns)
    : out_(out), format_(format), columns_(std::move(columns)) {
    if (format_ == TableFormat::tsv || format_ == TableFormat::csv) {
        for (size_t i = 0; i < columns_.size(); ++i) out_ << (i ? (format_ == TableFormat::tsv ? "\t" : ",") : "") << columns_[i];
        out_ << '\n';
    } else if (format_ == TableFormat::json) {
        out_ << '[';
    }
}

TableWriter::~TableWriter() {
    if (!finished_) finish();
}

void TableWriter::row(const std::vector<nlohmann::json>& cells) {
    if (cells.size() != columns_.size())
        throw Error(ErrorKind::internal, fmt::format("table row of {} cells for {} columns", cells.size(), columns_.size()));
    switch (format_) {
        case TableFormat::tsv:
            for (size_t i = 0; i < cells.size(); ++i) out_ << (i ? "\t" : "") << tsv_escape(plain_cell(cells[i]));
            out_ << '\n';
            break;
        case TableFormat::csv:
            for (size_t i = 0; i < cells.size(); ++i) out_ << (i ? "," : "") << csv_quote(plain_cell(cells[i]));
            out_ << '\n';
            break;
        case TableFormat::json:
        case TableFormat::jsonl: {
            nlohmann::ordered_json fields;
            for (size_t i = 0; i < cells.size(); ++i) fields[columns_[i]] = cells[i];
            return object(fields);
        }
    }
    ++rows_;
}

void TableWriter::object(const nlohmann::ordered_json& fields) {
    if (format_ != TableFormat::json && format_ != TableFormat::jsonl)
        throw Error(ErrorKind::internal, "a nested table row needs the json or jsonl format");
    if (format_ == TableFormat::json) out_ << (rows_ ? ",\n" : "\n");
    out_ << fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (format_ == TableFormat::jsonl) out_ << '\n';
    ++rows_;
}

void TableWriter::finish() {
    finished_ = true;
    if (format_ == TableFormat::json) out_ << (rows_ ? "\n]\n" : "]\n");
    out_.flush();
}

}  // namespace audiosim
