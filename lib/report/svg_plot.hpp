// `audiosim report --plot FILE.svg`: the fine-bin histograms as a self-contained SVG (text, no
// library, no scripts, no external fonts or styles). One panel per group: the share of each 0.05
// bin for all pairs and, beside it, for the kept pairs; the four named buckets shaded and labelled
// behind the bars; ticks every 0.2 on the score axis and at a round step on the share axis. The
// output depends only on the arguments (a golden-file test holds it byte for byte).
#pragma once

#include <string>
#include <vector>

#include "report/histogram.hpp"

namespace audiosim {

struct PlotSeries {
    std::string label;                         // the legend, e.g. "all pairs (1225)"
    const ScoreHistogram* histogram = nullptr;  // null: the series is absent from this panel
};

struct PlotPanel {
    std::string title;  // e.g. "group drums: 50 files"
    PlotSeries all, kept;
};

// `title` heads the image (e.g. the set key and the counts). Text that is not valid UTF-8 (path
// names) is written with U+FFFD in place of the bad bytes; control characters as '?'.
std::string histogram_svg(const std::string& title, const std::vector<PlotPanel>& panels);

// Text escaped for XML character data and attribute values, made valid UTF-8 as above.
std::string xml_text(const std::string& text);

}  // namespace audiosim
