#include "audio/decode.hpp"

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
}

MonoReader::~MonoReader() = default;

void MonoReader::seek(int64_t frame) {
    if (sf_seek(handle_->file, frame, SEEK_SET) < 0)
        throw Error(ErrorKind::input, fmt::format("{}: cannot seek to frame {}: {}", path_, frame, sf_strerror(handle_->file)));
}

size_t MonoReader::read(size_t frames, std::vector<float>& mono) {
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

}  // namespace audiosim
