#include "report/svg_plot.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include <fmt/format.h>

namespace audiosim {

namespace {

// Geometry, in SVG user units.
constexpr double width = 900, left = 70, right = 20;
constexpr double header = 50;        // the image title
constexpr double panel_height = 320;
constexpr double panel_top = 56;     // panel title, bucket labels and legend above the plot area
constexpr double plot_height = 220;
constexpr double plot_width = width - left - right;

const char* const all_colour = "#3a6ea5";
const char* const kept_colour = "#e07b24";
const std::array<const char*, score_bucket_count> bucket_fills = {"#d9ead3", "#fff2cc", "#fce5cd", "#eeeeee"};

std::string number(double value) {
    std::string text = fmt::format("{:.2f}", value);
    if (text == "-0.00") text = "0.00";
    return text;
}

double x_of(double score) { return left + (score + 1.0) / 2.0 * plot_width; }

// The share axis: a round step (1, 2, 2.5 or 5 times a power of ten) giving at most 5 ticks.
std::pair<double, int> share_axis(double max_share) {
    static const double steps[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.025, 0.05, 0.1, 0.2, 0.25};
    if (max_share <= 0) return {0.25, 4};
    for (double step : steps) {
        int ticks = static_cast<int>(std::ceil(max_share / step - 1e-9));
        if (ticks <= 5) return {step, std::max(ticks, 1)};
    }
    return {0.25, 4};
}

std::string percent(double share, double step) {
    return step < 0.01 ? fmt::format("{:.1f}%", share * 100) : fmt::format("{:.0f}%", share * 100);
}

void panel_svg(std::string& out, const PlotPanel& panel, double top) {
    const double plot_top = top + panel_top, plot_bottom = plot_top + plot_height;
    double max_share = 0;
    for (const PlotSeries* series : {&panel.all, &panel.kept})
        if (series->histogram)
            for (size_t bin = 0; bin < score_bins; ++bin)
                max_share = std::max(max_share, series->histogram->share(series->histogram->bin_count(bin)));
    const auto [step, ticks] = share_axis(max_share);
    const double y_max = step * ticks;
    auto y_of = [&](double share) { return plot_bottom - share / y_max * plot_height; };

    out += fmt::format("<g class=\"panel\">\n<text x=\"{}\" y=\"{}\" font-size=\"14\" font-weight=\"bold\">{}</text>\n",
                       number(left), number(top + 18), xml_text(panel.title));
    // The buckets, shaded behind the bars and named above the plot area.
    size_t bucket_index = 0;
    for (const ScoreBucketInfo& bucket : score_buckets()) {
        const double label_y = plot_top - 6 - 13 * static_cast<double>(bucket_index++ % 2);  // neighbours on two rows: narrow buckets
        const double x0 = x_of(bucket.low), x1 = x_of(bucket.high);
        out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>\n", number(x0),
                           number(plot_top), number(x1 - x0), number(plot_height),
                           bucket_fills[static_cast<size_t>(bucket.bucket)]);
        const std::string range = bucket.bucket == ScoreBucket::different  ? fmt::format("< {:.1f}", bucket.high)
                                  : bucket.bucket == ScoreBucket::very_similar ? fmt::format("\u2265 {:.1f}", bucket.low)
                                                                               : fmt::format("{:.1f}\u2013{:.1f}", bucket.low, bucket.high);
        out += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#444444\">{} ({})</text>\n",
                           number((x0 + x1) / 2), number(label_y), xml_text(bucket.name), xml_text(range));
    }
    // Share grid and ticks.
    for (int tick = 0; tick <= ticks; ++tick) {
        const double share = step * tick, y = y_of(share);
        out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#bbbbbb\" stroke-width=\"0.5\"/>\n",
                           number(left), number(y), number(left + plot_width), number(y));
        out += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text>\n", number(left - 6),
                           number(y + 4), percent(share, step));
    }
    // Bars: all pairs on the left half of each bin, kept pairs on the right half.
    const double bin_width = plot_width / static_cast<double>(score_bins);
    for (size_t bin = 0; bin < score_bins; ++bin) {
        const double x = left + bin_width * static_cast<double>(bin);
        const PlotSeries* series[] = {&panel.all, &panel.kept};
        for (size_t s = 0; s < 2; ++s) {
            const ScoreHistogram* h = series[s]->histogram;
            if (!h || h->bin_count(bin) == 0) continue;
            const double share = h->share(h->bin_count(bin)), y = y_of(share);
            out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{}: {}\u2013{}: {} "
                               "({:.1f}%)</title></rect>\n",
                               number(x + 1 + static_cast<double>(s) * (bin_width - 2) / 2), number(y),
                               number((bin_width - 2) / 2), number(plot_bottom - y), s == 0 ? all_colour : kept_colour,
                               xml_text(series[s]->label), number(score_bin_low(bin)), number(score_bin_high(bin)),
                               h->bin_count(bin), share * 100);
        }
    }
    // Score axis.
    out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#000000\"/>\n", number(left),
                       number(plot_bottom), number(left + plot_width), number(plot_bottom));
    for (int tick = -5; tick <= 5; ++tick) {
        const double score = tick / 5.0, x = x_of(score);
        out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#000000\"/>\n", number(x),
                           number(plot_bottom), number(x), number(plot_bottom + 5));
        out += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{:.1f}</text>\n", number(x),
                           number(plot_bottom + 18), score);
    }
    out += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">score (cosine of file vectors); "
                       "bars: share of the pairs in each 0.05 bin</text>\n",
                       number(left + plot_width / 2), number(plot_bottom + 34));
    // Legend, top right.
    double legend_x = left + plot_width - 300;
    for (size_t s = 0; s < 2; ++s) {
        const PlotSeries& series = s == 0 ? panel.all : panel.kept;
        const double y = top + 8 + 14 * static_cast<double>(s);
        out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/>\n", number(legend_x),
                           number(y), s == 0 ? all_colour : kept_colour);
        out += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>\n", number(legend_x + 14), number(y + 9),
                           xml_text(series.histogram ? series.label : series.label + " (none)"));
    }
    out += "</g>\n";
}

}  // namespace

std::string xml_text(const std::string& text) {
    std::string out;
    const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
    const size_t n = text.size();
    for (size_t i = 0; i < n;) {
        const unsigned char c = bytes[i];
        if (c < 0x80) {
            if (c == '&') out += "&amp;";
            else if (c == '<') out += "&lt;";
            else if (c == '>') out += "&gt;";
            else if (c == '"') out += "&quot;";
            else if (c == '\'') out += "&apos;";
            else if (c < 0x20 || c == 0x7f) out += '?';
            else out += static_cast<char>(c);
            ++i;
            continue;
        }
        // A well-formed UTF-8 sequence (no overlongs, no surrogates, at most U+10FFFF) passes whole.
        size_t length = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        bool ok = length > 0 && i + length <= n;
        for (size_t k = 1; ok && k < length; ++k) ok = (bytes[i + k] & 0xC0) == 0x80;
        if (ok && length == 3) {
            const unsigned char d = bytes[i + 1];
            ok = !(c == 0xE0 && d < 0xA0) && !(c == 0xED && d >= 0xA0);
        }
        if (ok && length == 4) {
            const unsigned char d = bytes[i + 1];
            ok = !(c == 0xF0 && d < 0x90) && !(c == 0xF4 && d >= 0x90);
        }
        if (!ok) {
            out += "\xEF\xBF\xBD";
            ++i;
            continue;
        }
        out.append(text, i, length);
        i += length;
    }
    return out;
}

std::string histogram_svg(const std::string& title, const std::vector<PlotPanel>& panels) {
    const double height = header + panel_height * static_cast<double>(std::max<size_t>(panels.size(), 1));
    std::string out = fmt::format(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
        "font-family=\"sans-serif\">\n"
        "<title>{2}</title>\n"
        "<rect x=\"0\" y=\"0\" width=\"{0}\" height=\"{1}\" fill=\"#ffffff\"/>\n"
        "<text x=\"{3}\" y=\"30\" font-size=\"16\" font-weight=\"bold\">{2}</text>\n",
        number(width), number(height), xml_text(title), number(left));
    if (panels.empty())
        out += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"13\">no files with vectors</text>\n", number(left),
                           number(header + 40));
    for (size_t p = 0; p < panels.size(); ++p) panel_svg(out, panels[p], header + panel_height * static_cast<double>(p));
    out += "</svg>\n";
    return out;
}

}  // namespace audiosim
