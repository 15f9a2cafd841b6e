// Streaming decode through libsndfile, mixed to mono: a 3-hour file is read block by block, never
// whole.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "audio/probe.hpp"

namespace audiosim {

// A whole file's mono samples as MonoReader decoded them from its start: kept by one pass over a
// file (chunking) so that the next (embedding) need not decode it again.
struct MonoRecording {
    uint32_t sample_rate = 0;
    uint32_t channels = 0;
    std::vector<float> samples;
};

class MonoReader {
public:
    explicit MonoReader(const std::string& path);  // Error(input) naming the file and libsndfile's cause
    // Reads `recording` instead of decoding `path` again (named in errors).
    MonoReader(const std::string& path, std::shared_ptr<const MonoRecording> recording);
    ~MonoReader();
    MonoReader(const MonoReader&) = delete;
    MonoReader& operator=(const MonoReader&) = delete;

    uint32_t sample_rate() const { return sample_rate_; }
    uint32_t channels() const { return channels_; }
    // Replaces `mono` with up to `frames` frames, the channels averaged; returns how many (0 at the
    // end). A decoding error mid-stream throws Error(input).
    size_t read(size_t frames, std::vector<float>& mono);
    // Moves to `frame` (at the file's rate); Error(input) if the file cannot seek there.
    void seek(int64_t frame);

    // Keeps what is read from here on, if the file turns out to be at most `max_frames` long and is
    // read to its end without a seek; recording() then returns it (else nullptr).
    void record(size_t max_frames);
    std::shared_ptr<const MonoRecording> recording() const;

private:
    size_t read_mono(size_t frames, std::vector<float>& mono);

    struct Handle;
    std::unique_ptr<Handle> handle_;
    std::string path_;
    uint32_t sample_rate_ = 0;
    uint32_t channels_ = 0;
    int64_t header_frames_ = 0;  // the length the header gives
    std::vector<float> interleaved_;
    std::shared_ptr<const MonoRecording> source_;  // reading a recording, not the file
    size_t source_position_ = 0;
    std::shared_ptr<MonoRecording> recording_;     // being recorded
    size_t recording_limit_ = 0;
    bool recording_complete_ = false;
};

// Recordings kept between two passes over the same files, up to a budget of bytes (a recording
// that does not fit is not kept: that file is decoded again). Thread-safe.
class RecordingCache {
public:
    explicit RecordingCache(size_t budget_bytes) : budget_bytes_(budget_bytes) {}
    size_t budget_bytes() const { return budget_bytes_; }
    bool put(uint64_t key, std::shared_ptr<const MonoRecording> recording);
    std::shared_ptr<const MonoRecording> take(uint64_t key);  // nullptr if not kept; removed from the cache

private:
    std::mutex mutex_;
    std::unordered_map<uint64_t, std::shared_ptr<const MonoRecording>> recordings_;
    size_t budget_bytes_;
    size_t used_bytes_ = 0;
};

}  // namespace audiosim
