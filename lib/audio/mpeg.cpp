#include "audio/mpeg.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

namespace audiosim {

namespace {

// Reads forward through a file in blocks: the walk asks for a few bytes at a time. Blocks start
// small (a Xing header is in the first frame) and grow to 1 MiB for a walk.
class Window {
public:
    explicit Window(int fd) : fd_(fd), buffer_(1 << 14) {}

    // The `count` bytes at `offset` (count <= 256), or nullptr past the end or on a read error.
    const uint8_t* at(int64_t offset, size_t count) {
        if (offset < start_ || offset + static_cast<int64_t>(count) > start_ + static_cast<int64_t>(size_)) {
            if (size_ > 0 && buffer_.size() < (1 << 20)) buffer_.resize(buffer_.size() * 4);
            ssize_t got = ::pread(fd_, buffer_.data(), buffer_.size(), offset);
            if (got < 0) return nullptr;
            start_ = offset;
            size_ = static_cast<size_t>(got);
            if (count > size_) return nullptr;
        }
        return buffer_.data() + (offset - start_);
    }

private:
    int fd_;
    std::vector<uint8_t> buffer_;
    int64_t start_ = 0;
    size_t size_ = 0;
};

struct FrameHeader {
    int version = 0;  // 1: MPEG-1, 2: MPEG-2, 3: MPEG-2.5
    int layer = 0;
    int sample_rate = 0;
    bool mono = false;
    int64_t bytes = 0;  // the whole frame, header included
    int samples = 0;    // per channel
    // Another frame of the same stream: version, layer and rate never change within one.
    bool same_stream(const FrameHeader& other) const {
        return version == other.version && layer == other.layer && sample_rate == other.sample_rate;
    }
};

bool parse_header(const uint8_t* p, FrameHeader& header) {
    if (p[0] != 0xFF || (p[1] & 0xE0) != 0xE0) return false;
    int version_bits = (p[1] >> 3) & 3, layer_bits = (p[1] >> 1) & 3;
    int bitrate_index = p[2] >> 4, rate_index = (p[2] >> 2) & 3, padding = (p[2] >> 1) & 1;
    // Free-format streams (bitrate index 0) state no frame length: not walked.
    if (version_bits == 1 || layer_bits == 0 || bitrate_index == 0 || bitrate_index == 15 || rate_index == 3) return false;
    static const int kbps[2][3][15] = {
        {{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448},
         {0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384},
         {0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320}},
        {{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256},
         {0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160},
         {0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160}}};
    static const int rates[3] = {44100, 48000, 32000};
    header.version = version_bits == 3 ? 1 : version_bits == 2 ? 2 : 3;
    header.layer = 4 - layer_bits;
    header.sample_rate = rates[rate_index] >> (header.version - 1);
    header.mono = (p[3] >> 6) == 3;
    int64_t bitrate = 1000 * kbps[header.version == 1 ? 0 : 1][header.layer - 1][bitrate_index];
    if (header.layer == 1) {
        header.samples = 384;
        header.bytes = (12 * bitrate / header.sample_rate + padding) * 4;
    } else {
        header.samples = header.layer == 3 && header.version != 1 ? 576 : 1152;
        header.bytes = header.samples / 8 * bitrate / header.sample_rate + padding;
    }
    return true;
}

// A frame here whose successor (if the file goes on) is a frame of the same stream: one header
// alone is too easily found in other bytes.
bool frame_at(Window& file, int64_t offset, int64_t file_size, FrameHeader& header) {
    const uint8_t* p = file.at(offset, 4);
    if (!p || !parse_header(p, header)) return false;
    int64_t next = offset + header.bytes;
    if (next + 4 > file_size) return true;
    FrameHeader following;
    const uint8_t* q = file.at(next, 4);
    return q && parse_header(q, following) && following.same_stream(header);
}

uint32_t big_endian(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 | p[3];
}

// The Xing/Info frame of a Layer III stream: its frame count, and the LAME tag's encoder delay
// and padding, which mpg123 trims (its gapless mode, on in libsndfile's build).
struct InfoFrame {
    bool present = false;
    int64_t frames = -1;     // -1: not stated
    int64_t bytes = -1;      // the stream's bytes, this frame included; -1: not stated
    int64_t delay = 0;       // encoder delay, and padding at the end (LAME tag)
    int64_t padding = 0;
};

InfoFrame read_info_frame(Window& file, int64_t offset, const FrameHeader& header) {
    InfoFrame info;
    if (header.layer != 3) return info;
    int64_t side_info = header.version == 1 ? (header.mono ? 17 : 32) : (header.mono ? 9 : 17);
    int64_t tag = 4 + side_info;
    if (tag + 120 > header.bytes) return info;
    const uint8_t* p = file.at(offset + tag, 120);
    if (!p || (std::memcmp(p, "Xing", 4) != 0 && std::memcmp(p, "Info", 4) != 0)) return info;
    info.present = true;
    uint32_t flags = big_endian(p + 4);
    size_t at = 8;
    if (flags & 1) info.frames = big_endian(p + at), at += 4;
    if (flags & 2) info.bytes = big_endian(p + at), at += 4;
    if (flags & 4) at += 100;  // seek table
    if (flags & 8) at += 4;    // quality
    // The LAME extension: a 9-byte encoder string, then at +21 the delay and the padding (12 bits
    // each). mpg123 reads them wherever the frame has room for the extension.
    if (tag + static_cast<int64_t>(at) + 24 <= header.bytes) {
        const uint8_t* lame = file.at(offset + tag + static_cast<int64_t>(at), 24);
        if (lame) {
            info.delay = lame[21] << 4 | lame[22] >> 4;
            info.padding = (lame[22] & 0x0F) << 8 | lame[23];
        }
    }
    return info;
}

// The first byte past ID3v2 tags at the start (there may be several).
int64_t skip_id3v2(Window& file) {
    int64_t offset = 0;
    for (;;) {
        const uint8_t* p = file.at(offset, 10);
        if (!p || std::memcmp(p, "ID3", 3) != 0) return offset;
        int64_t size = (p[6] & 0x7F) << 21 | (p[7] & 0x7F) << 14 | (p[8] & 0x7F) << 7 | (p[9] & 0x7F);
        offset += 10 + size + ((p[5] & 0x10) ? 10 : 0);  // a footer, when flagged
    }
}

}  // namespace

MpegLength mpeg_length(int fd) {
    MpegLength result;
    struct stat st;  // not lseek: the caller's libsndfile handle reads from the fd's offset
    if (::fstat(fd, &st) != 0 || st.st_size <= 0) return result;
    const int64_t file_size = st.st_size;
    Window file(fd);
    FrameHeader first;
    // Like mpg123, look for a frame past junk (at the start, or after a damaged frame), but only
    // this far: no frame within it ends the stream.
    constexpr int64_t search_limit = 1 << 16;
    auto find_frame = [&](int64_t from, FrameHeader& header) {
        int64_t end = std::min(file_size, from + search_limit);
        for (int64_t at = from; at < end; ++at)
            if (frame_at(file, at, file_size, header) && (first.version == 0 || header.same_stream(first))) return at;
        return end == file_size ? file_size : int64_t{-1};  // -1: unsearched bytes remain
    };
    int64_t offset = find_frame(skip_id3v2(file), first);
    if (offset < 0 || offset >= file_size) return result;

    InfoFrame info = read_info_frame(file, offset, first);
    if (info.present) {
        // A stated count holds unless the file is shorter than the stream it describes (cut).
        bool whole = info.bytes < 0 || offset + info.bytes <= file_size;
        if (info.frames > 0 && whole) {
            result.frames = std::max<int64_t>(0, info.frames * first.samples - info.delay - info.padding);
            result.source = "xing";
            return result;
        }
        offset += first.bytes;  // mpg123 skips the Info frame: it is not audio
    }
    int64_t frames = 0;
    FrameHeader header;
    while (offset + 4 <= file_size) {
        const uint8_t* p = file.at(offset, 4);
        if (!p || !parse_header(p, header) || !header.same_stream(first)) {
            offset = find_frame(offset, header);  // tags, zero filling or damage
            if (offset < 0) return result;  // too far to search: unreliable
            continue;
        }
        if (offset + header.bytes > file_size) break;  // a cut last frame is not decoded
        ++frames;
        offset += header.bytes;
    }
    // mpg123 trims the delay at the start, and the decoder's own 529 samples of delay are lost at
    // the end when the stream ends before the padding that the LAME tag announced (measured).
    int64_t trimmed = info.present ? info.delay + (info.delay || info.padding ? 529 : 0) : 0;
    result.frames = std::max<int64_t>(0, frames * first.samples - trimmed);
    result.source = "frames";
    return result;
}

}  // namespace audiosim
