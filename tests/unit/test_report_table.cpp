// lib/report/table: rows for stdout as TSV, CSV, JSON and JSON lines.
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "report/table.hpp"
#include "util/csv.hpp"
#include "util/error.hpp"

using audiosim::TableFormat;
using audiosim::TableWriter;
using nlohmann::json;

namespace {

const std::vector<std::string> columns = {"path", "score", "ok", "note"};

// Rows with the awkward cases: separators, quotes, escapes, nulls, non-UTF-8 bytes.
std::vector<std::vector<json>> awkward_rows() {
    return {
        {"a.wav", 0.5, true, nullptr},
        {"with,comma \"quoted\".wav", 2, false, "line 1\nline 2"},
        {"tab\there\\back.wav", -1.25, nullptr, "cr\rlf"},
        {"caf\xc3\xa9.wav", 0, true, ""},
    };
}

std::string write_table(TableFormat format, const std::vector<std::vector<json>>& rows) {
    std::ostringstream out;
    {
        TableWriter writer(out, format, columns);
        for (const auto& row : rows) writer.row(row);
    }
    return out.str();
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

}  // namespace

TEST_SUITE_BEGIN("report/table");

TEST_CASE("tsv_escape escapes backslash, tab, newline, carriage return and nothing else") {
    CHECK(audiosim::tsv_escape("plain.wav") == "plain.wav");
    CHECK(audiosim::tsv_escape("a\tb") == "a\\tb");
    CHECK(audiosim::tsv_escape("a\nb") == "a\\nb");
    CHECK(audiosim::tsv_escape("a\rb") == "a\\rb");
    CHECK(audiosim::tsv_escape("a\\b") == "a\\\\b");
    CHECK(audiosim::tsv_escape("\\t") == "\\\\t");  // a literal backslash-t stays distinguishable from a tab
    CHECK(audiosim::tsv_escape("caf\xe9 \"x\",y") == "caf\xe9 \"x\",y");
    CHECK(audiosim::tsv_escape("") == "");
}

TEST_CASE("csv_quote quotes only when needed and doubles quotes") {
    CHECK(audiosim::csv_quote("plain.wav") == "plain.wav");
    CHECK(audiosim::csv_quote("a,b") == "\"a,b\"");
    CHECK(audiosim::csv_quote("say \"hi\"") == "\"say \"\"hi\"\"\"");
    CHECK(audiosim::csv_quote("a\nb") == "\"a\nb\"");
    CHECK(audiosim::csv_quote("a\rb") == "\"a\rb\"");
    CHECK(audiosim::csv_quote("") == "");
    CHECK(audiosim::csv_quote("tab\there") == "tab\there");
}

TEST_CASE("csv_quote output reads back through parse_csv") {
    std::vector<std::string> fields = {"a,b", "say \"hi\"", "x\ny", "plain", "\"", ",", "caf\xe9"};
    std::string line;
    for (size_t i = 0; i < fields.size(); ++i) line += (i ? "," : "") + audiosim::csv_quote(fields[i]);
    auto rows = audiosim::parse_csv(line + "\n", "t");
    REQUIRE(rows.size() == 1);
    CHECK(rows[0] == fields);
}

TEST_CASE("TSV: a header row, one line per row, escaped cells, null as empty") {
    std::string text = write_table(TableFormat::tsv, awkward_rows());
    auto lines = split_lines(text);
    REQUIRE(lines.size() == 5);
    CHECK(lines[0] == "path\tscore\tok\tnote");
    CHECK(lines[1] == "a.wav\t0.5\ttrue\t");
    CHECK(lines[2] == "with,comma \"quoted\".wav\t2\tfalse\tline 1\\nline 2");
    CHECK(lines[3] == "tab\\there\\\\back.wav\t-1.25\t\tcr\\rlf");
    CHECK(lines[4] == "caf\xc3\xa9.wav\t0\ttrue\t");
    CHECK(text.back() == '\n');
}

TEST_CASE("TSV passes non-UTF-8 bytes through unchanged") {
    std::ostringstream out;
    {
        TableWriter writer(out, TableFormat::tsv, {"path"});
        writer.row({"caf\xe9.wav"});
    }
    CHECK(out.str() == "path\ncaf\xe9.wav\n");
}

TEST_CASE("CSV: reads back with an RFC 4180 parser to the same cells") {
    std::string text = write_table(TableFormat::csv, awkward_rows());
    auto rows = audiosim::parse_csv(text, "out");
    REQUIRE(rows.size() == 5);
    CHECK(rows[0] == columns);
    CHECK(rows[1] == audiosim::CsvRow{"a.wav", "0.5", "true", ""});
    CHECK(rows[2] == audiosim::CsvRow{"with,comma \"quoted\".wav", "2", "false", "line 1\nline 2"});
    CHECK(rows[3] == audiosim::CsvRow{"tab\there\\back.wav", "-1.25", "", "cr\rlf"});
    CHECK(rows[4] == audiosim::CsvRow{"caf\xc3\xa9.wav", "0", "true", ""});
}

TEST_CASE("JSON: one valid array of objects keyed by column, nulls kept") {
    std::string text = write_table(TableFormat::json, awkward_rows());
    json parsed = json::parse(text);
    REQUIRE(parsed.is_array());
    REQUIRE(parsed.size() == 4);
    CHECK(parsed[0] == json{{"path", "a.wav"}, {"score", 0.5}, {"ok", true}, {"note", nullptr}});
    CHECK(parsed[1].at("path") == "with,comma \"quoted\".wav");
    CHECK(parsed[1].at("note") == "line 1\nline 2");
    CHECK(parsed[2].at("path") == "tab\there\\back.wav");
    CHECK(parsed[2].at("ok").is_null());
    CHECK(parsed[3].at("path") == "caf\xc3\xa9.wav");
    // Keys in column order, for readers that keep it.
    nlohmann::ordered_json ordered = nlohmann::ordered_json::parse(text);
    std::vector<std::string> keys;
    for (const auto& item : ordered[0].items()) keys.push_back(item.key());
    CHECK(keys == columns);
}

TEST_CASE("JSON: no rows is an empty array; finish() twice writes it once") {
    std::ostringstream out;
    {
        TableWriter writer(out, TableFormat::json, columns);
        writer.finish();
    }
    CHECK(json::parse(out.str()) == json::array());
    std::ostringstream tsv;
    { TableWriter writer(tsv, TableFormat::tsv, columns); }
    CHECK(tsv.str() == "path\tscore\tok\tnote\n");
}

TEST_CASE("JSON: non-UTF-8 bytes do not break the document") {
    std::ostringstream out;
    {
        TableWriter writer(out, TableFormat::json, {"path"});
        writer.row({"caf\xe9.wav"});
        writer.row({"ok.wav"});
    }
    json parsed;
    REQUIRE_NOTHROW(parsed = json::parse(out.str()));
    REQUIRE(parsed.size() == 2);
    CHECK(parsed[1].at("path") == "ok.wav");
    CHECK(parsed[0].at("path").get<std::string>().rfind("caf", 0) == 0);
}

TEST_CASE("JSON lines: one valid object per line") {
    std::string text = write_table(TableFormat::jsonl, awkward_rows());
    auto lines = split_lines(text);
    REQUIRE(lines.size() == 4);
    auto rows = awkward_rows();
    for (size_t i = 0; i < lines.size(); ++i) {
        CAPTURE(i);
        json object = json::parse(lines[i]);
        REQUIRE(object.is_object());
        for (size_t c = 0; c < columns.size(); ++c) CHECK(object.at(columns[c]) == rows[i][c]);
    }
    CHECK(text.back() == '\n');
}

TEST_CASE("a row with the wrong number of cells is Error(internal)") {
    for (TableFormat format : {TableFormat::tsv, TableFormat::csv, TableFormat::json, TableFormat::jsonl}) {
        std::ostringstream out;
        TableWriter writer(out, format, columns);
        try {
            writer.row({"a.wav", 1});
            FAIL("no error for a short row");
        } catch (const audiosim::Error& error) {
            CHECK(error.kind() == audiosim::ErrorKind::internal);
        }
        CHECK_THROWS_AS(writer.row({"a", 1, true, nullptr, "extra"}), audiosim::Error);
    }
}

TEST_CASE("parse_table_format") {
    CHECK(audiosim::parse_table_format("tsv") == TableFormat::tsv);
    CHECK(audiosim::parse_table_format("csv") == TableFormat::csv);
    CHECK(audiosim::parse_table_format("json") == TableFormat::json);
    CHECK(audiosim::parse_table_format("jsonl") == TableFormat::jsonl);
    for (const char* bad : {"", "TSV", "xml", "json "}) {
        CAPTURE(bad);
        try {
            audiosim::parse_table_format(bad);
            FAIL("accepted a bad format name");
        } catch (const audiosim::Error& error) {
            CHECK(error.kind() == audiosim::ErrorKind::usage);
        }
    }
}

TEST_CASE("score_cell rounds to 6 decimals") {
    CHECK(audiosim::score_cell(0.12345678) == 0.123457);
    CHECK(audiosim::score_cell(-0.99999949) == -0.999999);
    CHECK(audiosim::score_cell(1.0) == 1.0);
}

TEST_SUITE_END();
