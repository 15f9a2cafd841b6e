// Streaming decode through libsndfile, mixed to mono: a 3-hour file is read block by block, never
// whole.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "audio/probe.hpp"

namespace audiosim {

class MonoReader {
public:
    explicit MonoReader(const std::string& path);  // Error(input) naming the file and libsndfile's cause
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

private:
    struct Handle;
    std::unique_ptr<Handle> handle_;
    std::string path_;
    uint32_t sample_rate_ = 0;
    uint32_t channels_ = 0;
    std::vector<float> interleaved_;
};

}  // namespace audiosim
