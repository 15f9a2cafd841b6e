#include "chunk/chunker.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "audio/decode.hpp"

namespace audiosim {

std::string chunk_flag_names(uint8_t flags) {
    std::string names;
    auto add = [&](uint8_t flag, const char* name) {
        if (flags & flag) names += (names.empty() ? "" : ",") + std::string(name);
    };
    add(chunk_silent, "silent");
    add(chunk_dc, "dc");
    add(chunk_noise_floor, "noise_floor");
    add(chunk_empty, "empty");
    add(chunk_no_speech, "no_speech");
    return names;
}

std::vector<std::pair<int64_t, int64_t>> plan_windows(const ChunkProfile& profile, int64_t total_frames,
                                                      uint32_t sample_rate) {
    auto frames_of = [&](double seconds) { return static_cast<int64_t>(std::llround(seconds * sample_rate)); };
    if (total_frames <= 0) return {{0, 0}};
    if (profile.first_seconds > 0) return {{0, std::min(total_frames, std::max<int64_t>(1, frames_of(profile.first_seconds)))}};
    int64_t window = frames_of(profile.window_seconds);
    if (window <= 0 || total_frames <= window || total_frames <= frames_of(profile.whole_seconds)) return {{0, total_frames}};
    int64_t hop = std::max<int64_t>(1, frames_of(profile.hop_seconds));
    int64_t min_frames = frames_of(profile.min_seconds);
    std::vector<std::pair<int64_t, int64_t>> windows;
    int64_t start = 0;
    for (; start + window <= total_frames; start += hop) windows.emplace_back(start, window);
    int64_t covered = windows.back().first + window;
    if (covered < total_frames) {
        int64_t rest = total_frames - start;  // the partial window starting at the next hop
        if (profile.last == LastWindow::align) windows.emplace_back(total_frames - window, window);
        else if (profile.last == LastWindow::keep && rest >= std::max<int64_t>(1, min_frames)) windows.emplace_back(start, rest);
    }
    return windows;
}

namespace {

// Level statistics of 10 ms blocks; a window's statistics are aggregated from its blocks.
struct Block {
    double sum = 0;
    double sum_squares = 0;
    float peak = 0;
    int64_t frames = 0;
};

// About 10 ms, and dividing the window and the hop, so that window edges fall on block edges and
// a window's levels are exactly its own (22050 Hz, 1 s hop: 210 frames, not 220). Odd windows
// with no such divisor above 2.5 ms keep 10 ms blocks (edges then approximate): block statistics
// of a long file must stay small.
int64_t block_size(const ChunkProfile& profile, uint32_t rate) {
    int64_t limit = std::max<int64_t>(1, rate / 100);
    if (profile.first_seconds > 0 || profile.window_seconds <= 0) return limit;
    int64_t window = std::llround(profile.window_seconds * rate);
    int64_t hop = std::llround(profile.hop_seconds * rate);
    int64_t common = std::gcd(std::max<int64_t>(1, window), std::max<int64_t>(1, hop));
    for (int64_t size = std::min(limit, common); size * 4 >= limit; --size)
        if (common % size == 0) return size;
    return limit;
}

// Adds `count` samples to `block`. Its own function, with the sums in locals: updated in place per
// sample they stayed in memory (the block lives across the decoder's calls), and that loop took a
// fifth of chunking MP3s. The same additions in the same order as a sample-by-sample update: the
// same bits. Not inlined, so that the compiler cannot merge the locals back into the block.
[[gnu::noinline]] void accumulate(Block& block, const float* samples, size_t count) {
    double sum = block.sum, sum_squares = block.sum_squares;
    float peak = block.peak;
    for (size_t i = 0; i < count; ++i) {
        double x = samples[i];
        sum += x;
        sum_squares += x * x;
        float magnitude = std::fabs(samples[i]);
        if (peak < magnitude) peak = magnitude;  // std::max's rule
    }
    block.sum = sum;
    block.sum_squares = sum_squares;
    block.peak = peak;
    block.frames += static_cast<int64_t>(count);
}

float to_db(double amplitude) { return static_cast<float>(20 * std::log10(std::max(amplitude, 1e-10))); }

std::vector<Block> block_statistics(MonoReader& reader, int64_t block_frames, int64_t max_frames) {
    std::vector<Block> blocks;
    std::vector<float> samples;
    Block current;
    int64_t done = 0;
    while (done < max_frames) {
        size_t want = static_cast<size_t>(std::min<int64_t>(65536, max_frames - done));
        size_t got = reader.read(want, samples);
        if (got == 0) break;
        for (size_t i = 0; i < got;) {
            size_t end = i + std::min(got - i, static_cast<size_t>(block_frames - current.frames));
            accumulate(current, samples.data() + i, end - i);
            i = end;
            if (current.frames == block_frames) {
                blocks.push_back(current);
                current = Block{};
            }
        }
        done += static_cast<int64_t>(got);
    }
    if (current.frames > 0) blocks.push_back(current);
    return blocks;
}

// The statistics of frames [from, to) read again: for a window edge inside a block (an aligned
// last window), so that no audio from outside the window counts.
Block exact_block(MonoReader& reader, int64_t from, int64_t to) {
    Block block;
    std::vector<float> samples;
    reader.seek(from);
    size_t got = reader.read(static_cast<size_t>(to - from), samples);
    for (size_t i = 0; i < got; ++i) {
        block.sum += samples[i];
        block.sum_squares += static_cast<double>(samples[i]) * samples[i];
        block.peak = std::max(block.peak, std::fabs(samples[i]));
    }
    block.frames = static_cast<int64_t>(got);
    return block;
}

// The window's blocks, with partial blocks at its edges replaced by exact ones.
std::vector<Block> window_blocks(const std::vector<Block>& blocks, int64_t block_frames, int64_t start, int64_t end,
                                 MonoReader& reader) {
    size_t first = static_cast<size_t>(start / block_frames);
    size_t last = std::min(blocks.size(), static_cast<size_t>((end + block_frames - 1) / block_frames));
    std::vector<Block> selected(blocks.begin() + static_cast<std::ptrdiff_t>(first),
                                blocks.begin() + static_cast<std::ptrdiff_t>(std::max(first, last)));
    if (selected.empty()) return selected;
    int64_t first_start = static_cast<int64_t>(first) * block_frames;
    if (first_start < start) selected.front() = exact_block(reader, start, std::min(end, first_start + block_frames));
    int64_t last_start = static_cast<int64_t>(last - 1) * block_frames;
    if (last - 1 > first && last_start + blocks[last - 1].frames > end) selected.back() = exact_block(reader, last_start, end);
    return selected;
}

Chunk measure(const std::vector<Block>& blocks, int64_t block_frames, int64_t start, int64_t frames,
              uint32_t sample_rate, const ChunkProfile& profile, MonoReader& reader) {
    Chunk chunk;
    chunk.start_frame = start;
    chunk.frames = frames;
    chunk.start = static_cast<double>(start) / sample_rate;
    chunk.duration = static_cast<double>(frames) / sample_rate;
    if (frames == 0) {
        chunk.rms_db = chunk.peak_db = to_db(0);
        chunk.flags = chunk_empty | chunk_silent;
        return chunk;
    }
    std::vector<Block> own = window_blocks(blocks, block_frames, start, start + frames, reader);
    double sum = 0, sum_squares = 0, count = 0, level_sum = 0, level_squares = 0;
    float peak = 0;
    for (const Block& block : own) {
        if (block.frames == 0) continue;
        sum += block.sum;
        sum_squares += block.sum_squares;
        count += static_cast<double>(block.frames);
        peak = std::max(peak, block.peak);
        double level = to_db(std::sqrt(block.sum_squares / static_cast<double>(block.frames)));
        level_sum += level;
        level_squares += level * level;
    }
    double n = std::max(1.0, count);
    double mean = sum / n;
    double rms = std::sqrt(sum_squares / n);
    double ac_rms = std::sqrt(std::max(0.0, sum_squares / n - mean * mean));
    double blocks_used = std::max<double>(1, static_cast<double>(own.size()));
    double level_mean = level_sum / blocks_used;
    double level_spread = std::sqrt(std::max(0.0, level_squares / blocks_used - level_mean * level_mean));
    chunk.rms_db = to_db(rms);
    chunk.peak_db = to_db(peak);
    if (chunk.rms_db < profile.silence_db) chunk.flags |= chunk_silent;
    else if (to_db(ac_rms) < profile.silence_db) chunk.flags |= chunk_dc;
    else if (chunk.peak_db < profile.floor_db && level_spread < 3.0) chunk.flags |= chunk_noise_floor;
    return chunk;
}

}  // namespace

std::vector<Chunk> chunk_file(const std::string& path, const ChunkProfile& profile,
                              std::shared_ptr<const MonoRecording>* recording, size_t record_frames) {
    MonoReader reader(path);
    if (recording) reader.record(record_frames);
    uint32_t rate = reader.sample_rate();
    int64_t block_frames = block_size(profile, rate);
    int64_t max_frames = profile.first_seconds > 0 ? static_cast<int64_t>(std::ceil(profile.first_seconds * rate))
                                                   : std::numeric_limits<int64_t>::max();
    // The true length is known only at the end of the stream (MP3 headers estimate it).
    std::vector<Block> blocks = block_statistics(reader, block_frames, max_frames);
    int64_t total = 0;
    for (const Block& block : blocks) total += block.frames;
    if (recording) *recording = reader.recording();  // before measure() seeks
    std::vector<Chunk> chunks;
    for (const auto& [start, frames] : plan_windows(profile, total, rate))
        chunks.push_back(measure(blocks, block_frames, start, frames, rate, profile, reader));
    return chunks;
}

}  // namespace audiosim
