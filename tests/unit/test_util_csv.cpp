// lib/util/csv: RFC 4180 parsing.
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "util/csv.hpp"
#include "util/error.hpp"

using Rows = std::vector<audiosim::CsvRow>;

namespace {

Rows parse(const std::string& text) { return audiosim::parse_csv(text, "test.csv"); }

}  // namespace

TEST_SUITE_BEGIN("util/csv");

TEST_CASE("plain rows") {
    CHECK(parse("path,genre\na.wav,rock\n") == Rows{{"path", "genre"}, {"a.wav", "rock"}});
    CHECK(parse("a,b") == Rows{{"a", "b"}});  // no final newline
    CHECK(parse("") == Rows{});
}

TEST_CASE("empty fields are kept") {
    CHECK(parse("a,,c\n,,\n") == Rows{{"a", "", "c"}, {"", "", ""}});
    CHECK(parse("a,\n") == Rows{{"a", ""}});
}

TEST_CASE("quoted fields: commas, doubled quotes, newlines") {
    CHECK(parse("\"a,b\",c\n") == Rows{{"a,b", "c"}});
    CHECK(parse("\"say \"\"hi\"\"\",x\n") == Rows{{"say \"hi\"", "x"}});
    CHECK(parse("\"line 1\nline 2\",x\ny,z\n") == Rows{{"line 1\nline 2", "x"}, {"y", "z"}});
    CHECK(parse("\"\"\"\"\n") == Rows{{"\""}});
    CHECK(parse("\"\",x\n") == Rows{{"", "x"}});
}

TEST_CASE("a quoted empty field alone on a line is a row, an empty line is not") {
    CHECK(parse("h\n\"\"\n") == Rows{{"h"}, {""}});
    CHECK(parse("a\n\nb\n") == Rows{{"a"}, {"b"}});
}

TEST_CASE("CRLF line ends, and CRLF kept inside quotes") {
    CHECK(parse("a,b\r\nc,d\r\n") == Rows{{"a", "b"}, {"c", "d"}});
    CHECK(parse("\"x\r\ny\",z\r\n") == Rows{{"x\r\ny", "z"}});
}

TEST_CASE("a UTF-8 byte order mark is skipped") {
    CHECK(parse("\xEF\xBB\xBFpath,genre\na,b\n") == Rows{{"path", "genre"}, {"a", "b"}});
    CHECK(parse("\xEF\xBB\xBF") == Rows{});
    // Only at the very start: elsewhere the bytes are data.
    CHECK(parse("a\n\xEF\xBB\xBF" "b\n") == Rows{{"a"}, {"\xEF\xBB\xBF" "b"}});
}

TEST_CASE("empty trailing lines add no rows") {
    CHECK(parse("a,b\n\n\n") == Rows{{"a", "b"}});
    CHECK(parse("a,b\r\n\r\n") == Rows{{"a", "b"}});
}

TEST_CASE("non-UTF-8 bytes pass through") {
    CHECK(parse("caf\xe9.wav,x\n") == Rows{{"caf\xe9.wav", "x"}});
}

TEST_CASE("an unterminated quote is Error(input) naming the source and the line") {
    try {
        parse("path,genre\na.wav,rock\nb.wav,\"jazz\nc.wav,pop\n");
        FAIL("no error for an unterminated quote");
    } catch (const audiosim::Error& error) {
        CHECK(error.kind() == audiosim::ErrorKind::input);
        std::string message = error.what();
        CHECK(message.find("test.csv") != std::string::npos);
        CHECK(message.find("line 3") != std::string::npos);  // where the quote opened
    }
}

TEST_CASE("the line of an unterminated quote counts newlines inside earlier quoted fields") {
    try {
        parse("\"a\nb\",c\n\"open\n");
        FAIL("no error for an unterminated quote");
    } catch (const audiosim::Error& error) {
        CHECK(error.kind() == audiosim::ErrorKind::input);
        CHECK(std::string(error.what()).find("line 3") != std::string::npos);
    }
}

TEST_CASE("check_unique_columns: a repeated column is Error(input) naming it and the source") {
    audiosim::check_unique_columns({"path", "title", "tags"}, "m.csv");
    audiosim::check_unique_columns({}, "m.csv");
    try {
        audiosim::check_unique_columns({"path", "title", "tags", "title"}, "m.csv");
        FAIL("no error");
    } catch (const audiosim::Error& error) {
        CHECK(error.kind() == audiosim::ErrorKind::input);
        CHECK(std::string(error.what()) == "m.csv: column 'title' appears twice in the header");
    }
}

TEST_SUITE_END();
