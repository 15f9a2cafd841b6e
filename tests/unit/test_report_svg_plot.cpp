// lib/report/svg_plot: the SVG of fixed histograms, byte for byte against a golden file
// (tests/unit/golden/report_histogram.svg). To change the drawing on purpose, run the unit tests
// with AUDIOSIM_REGENERATE_GOLDEN=1, look at the new file, and commit it.
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "report/svg_plot.hpp"
#include "support.hpp"

using namespace audiosim;
using audiosim::test::contains;

namespace {

const std::string golden_path = std::string(AUDIOSIM_UNIT_SOURCE_DIR) + "/golden/report_histogram.svg";

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// Scores on a fixed grid: every bin and every edge is hit a known number of times.
ScoreHistogram fixed_histogram(int skew) {
    ScoreHistogram h;
    for (int i = 0; i <= 400; ++i) {
        const double score = -1.0 + i / 200.0;
        for (int copies = 0; copies < 1 + (i * skew) % 7; ++copies) h.add(score);
    }
    return h;
}

}  // namespace

TEST_SUITE_BEGIN("report_svg_plot");

TEST_CASE("the plot of fixed histograms matches the golden file byte for byte") {
    const ScoreHistogram all = fixed_histogram(3), kept = fixed_histogram(5), other = fixed_histogram(1);
    std::vector<PlotPanel> panels = {
        {"folder drums: 12 files", {"all pairs (66)", &all}, {"kept pairs (20)", &kept}},
        {"folder <pads & \"keys\">: \xff\xfe bytes", {"all pairs (sample of 100 of 1000, seed 1)", &other}, {"kept pairs", nullptr}},
    };
    const std::string svg = histogram_svg("sample/test-model@1: 24 files, 1066 pairs, 20 kept", panels);
    if (std::getenv("AUDIOSIM_REGENERATE_GOLDEN")) {
        std::ofstream(golden_path, std::ios::binary) << svg;
        MESSAGE("regenerated " << golden_path);
    }
    const std::string golden = read_file(golden_path);
    REQUIRE_MESSAGE(!golden.empty(), "missing " << golden_path << ": run with AUDIOSIM_REGENERATE_GOLDEN=1");
    CHECK(svg == golden);
    // What a person needs to see is there.
    for (const char* text : {"very similar", "similar", "related", "different", "all pairs (66)", "kept pairs (20)",
                             "&lt;pads &amp; &quot;keys&quot;&gt;", "\xEF\xBF\xBD\xEF\xBF\xBD bytes", "kept pairs (none)"})
        CHECK_MESSAGE(contains(svg, text), text);
    CHECK_FALSE(contains(svg, "\xff"));
}

TEST_CASE("the same histograms give the same bytes; no panels is still an image") {
    const ScoreHistogram all = fixed_histogram(2);
    std::vector<PlotPanel> panels = {{"all files: 3 files", {"all pairs (3)", &all}, {"kept pairs", nullptr}}};
    CHECK(histogram_svg("t", panels) == histogram_svg("t", panels));
    const std::string empty = histogram_svg("t", {});
    CHECK(contains(empty, "<svg"));
    CHECK(contains(empty, "</svg>"));
    CHECK(contains(empty, "no files with vectors"));
}

TEST_CASE("xml_text escapes markup and repairs bytes that are not UTF-8") {
    CHECK(xml_text("a<b>&\"'") == "a&lt;b&gt;&amp;&quot;&apos;");
    CHECK(xml_text("tab\there") == "tab?here");
    CHECK(xml_text("caf\xc3\xa9 \xe2\x89\xa5 \xf0\x9f\x8e\xb5") == "caf\xc3\xa9 \xe2\x89\xa5 \xf0\x9f\x8e\xb5");
    CHECK(xml_text("\xc3") == "\xEF\xBF\xBD");                 // truncated
    CHECK(xml_text("\xc0\xaf") == "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong
    CHECK(xml_text("\xed\xa0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
}

TEST_SUITE_END();
