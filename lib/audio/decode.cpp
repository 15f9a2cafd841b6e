#include "audio/decode.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <sndfile.h>

#include "audio/sndfile_open.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace audiosim {

struct MonoReader::Handle {
    SNDFILE* file = nullptr;
    ~Handle() {
        if (file) sf_close(file);
    }
};

MonoReader::MonoReader(const std::string& path) : handle_(std::make_unique<Handle>()), path_(path) {
    require_regular_file(path);
    SF_INFO info{};
    SndfileOpened opened = open_sndfile(path, info);
    if (!opened.file) throw Error(ErrorKind::input, fmt::format("{}: {}", path, opened.error_message));
    handle_->file = opened.file.release();
    if (std::string why = implausible_format(info.samplerate, info.channels); !why.empty())
        throw Error(ErrorKind::input, fmt::format("{}: {}", path, why));
    sample_rate_ = static_cast<uint32_t>(info.samplerate);
    channels_ = static_cast<uint32_t>(info.channels);
    header_frames_ = std::max<int64_t>(0, info.frames);
}

MonoReader::MonoReader(const std::string& path, std::shared_ptr<const MonoRecording> recording)
    : path_(path), sample_rate_(recording->sample_rate), channels_(recording->channels), source_(std::move(recording)) {}

MonoReader::~MonoReader() = default;

void MonoReader::seek(int64_t frame) {
    recording_.reset();  // a recording is of one pass from the start
    if (source_) {
        if (frame < 0 || static_cast<size_t>(frame) > source_->samples.size())
            throw Error(ErrorKind::input, fmt::format("{}: cannot seek to frame {}: past its end", path_, frame));
        source_position_ = static_cast<size_t>(frame);
        return;
    }
    if (sf_seek(handle_->file, frame, SEEK_SET) < 0)
        throw Error(ErrorKind::input, fmt::format("{}: cannot seek to frame {}: {}", path_, frame, sf_strerror(handle_->file)));
}

void MonoReader::record(size_t max_frames) {
    recording_ = std::make_shared<MonoRecording>();
    recording_->sample_rate = sample_rate_;
    recording_->channels = channels_;
    recording_->samples.reserve(std::min(max_frames, static_cast<size_t>(header_frames_)));
    recording_limit_ = max_frames;
    recording_complete_ = false;
}

std::shared_ptr<const MonoRecording> MonoReader::recording() const {
    return recording_complete_ ? recording_ : nullptr;
}

size_t MonoReader::read(size_t frames, std::vector<float>& mono) {
    size_t count = read_mono(frames, mono);
    if (recording_) {
        if (count == 0) {
            recording_complete_ = true;
            // a header's length is an estimate for some formats (MP3): never keep much unused room
            if (recording_->samples.capacity() > recording_->samples.size() + recording_->samples.size() / 8)
                recording_->samples.shrink_to_fit();
        }
        else if (recording_->samples.size() + count > recording_limit_) recording_.reset();
        else recording_->samples.insert(recording_->samples.end(), mono.begin(), mono.begin() + static_cast<std::ptrdiff_t>(count));
    }
    return count;
}

size_t MonoReader::read_mono(size_t frames, std::vector<float>& mono) {
    if (source_) {
        size_t count = std::min(frames, source_->samples.size() - source_position_);
        auto from = source_->samples.begin() + static_cast<std::ptrdiff_t>(source_position_);
        mono.assign(from, from + static_cast<std::ptrdiff_t>(count));
        source_position_ += count;
        return count;
    }
    interleaved_.resize(frames * channels_);
    sf_count_t got = sf_readf_float(handle_->file, interleaved_.data(), static_cast<sf_count_t>(frames));
    if (got < 0 || sf_error(handle_->file) != SF_ERR_NO_ERROR)
        throw Error(ErrorKind::input, fmt::format("{}: decoding failed: {}", path_, sf_strerror(handle_->file)));
    size_t count = static_cast<size_t>(got);
    mono.resize(count);
    if (channels_ == 1) {
        std::copy(interleaved_.begin(), interleaved_.begin() + static_cast<std::ptrdiff_t>(count), mono.begin());
        return count;
    }
    const float scale = 1.0f / static_cast<float>(channels_);
    if (channels_ == 2) {
        // Stereo, the common case, with a fixed channel count the compiler vectorizes (the loop
        // below it does not). The same additions from 0 in the same order: the same bits.
        const float* in = interleaved_.data();
        for (size_t i = 0; i < count; ++i) {
            float sum = 0;
            sum += in[2 * i];
            sum += in[2 * i + 1];
            mono[i] = sum * scale;
        }
        return count;
    }
    for (size_t i = 0; i < count; ++i) {
        float sum = 0;
        for (uint32_t c = 0; c < channels_; ++c) sum += interleaved_[i * channels_ + c];
        mono[i] = sum * scale;
    }
    return count;
}

bool RecordingCache::put(uint64_t key, std::shared_ptr<const MonoRecording> recording) {
    size_t bytes = recording->samples.capacity() * sizeof(float);
    std::lock_guard<std::mutex> lock(mutex_);
    if (used_bytes_ + bytes > budget_bytes_ || recordings_.count(key)) return false;
    used_bytes_ += bytes;
    recordings_.emplace(key, std::move(recording));
    return true;
}

std::shared_ptr<const MonoRecording> RecordingCache::take(uint64_t key) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = recordings_.find(key);
    if (found == recordings_.end()) return nullptr;
    std::shared_ptr<const MonoRecording> recording = std::move(found->second);
    recordings_.erase(found);
    used_bytes_ -= recording->samples.capacity() * sizeof(float);
    return recording;
}

}  // namespace audiosim
