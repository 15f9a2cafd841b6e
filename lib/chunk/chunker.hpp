// Cutting one file into chunks: windows per the profile, with levels and the flags that keep
// silence, DC and bare noise floors out of indexes and queries.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "audio/decode.hpp"
#include "chunk/profile.hpp"

namespace audiosim {

enum ChunkFlag : uint8_t {
    chunk_silent = 1,       // RMS below the profile's silence_db
    chunk_dc = 2,           // a constant offset with (almost) no signal on it
    chunk_noise_floor = 4,  // quiet and steady: hiss or room tone with nothing in it
    chunk_empty = 8,        // no samples at all (a file of zero frames)
    chunk_no_speech = 16,   // a profile with speech activity: less speech than its min_speech
};
std::string chunk_flag_names(uint8_t flags);  // "silent,dc" or ""

struct Chunk {
    uint64_t chunk_id = 0;
    uint64_t file_id = 0;
    int64_t start_frame = 0;  // at the file's own sample rate
    int64_t frames = 0;
    double start = 0;         // seconds
    double duration = 0;      // seconds
    float rms_db = 0;         // dBFS of the mono mix
    float peak_db = 0;
    uint8_t flags = 0;
};

// Start and length (frames) of each window for a file of `total_frames`. A file shorter than a
// window is one chunk; an empty file is one empty chunk.
std::vector<std::pair<int64_t, int64_t>> plan_windows(const ChunkProfile& profile, int64_t total_frames,
                                                      uint32_t sample_rate);

// Decodes the file (streaming; with first_seconds only as far as needed) and returns its chunks,
// levels and flags (chunk_id and file_id left 0). Error(input) when it cannot be decoded.
// With `recording`, a file of at most `record_frames` frames that was decoded to its end is kept
// there (for a pass after this one), else it is left empty.
std::vector<Chunk> chunk_file(const std::string& path, const ChunkProfile& profile,
                              std::shared_ptr<const MonoRecording>* recording = nullptr, size_t record_frames = 0);

}  // namespace audiosim
