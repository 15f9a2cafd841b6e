// The length of an MPEG audio stream (MP1/2/3) from its headers, without decoding: libsndfile's
// frame count for MP3 is an estimate from the file size, wrong by up to a few hundred ms a file.
#pragma once

#include <cstdint>
#include <string>

namespace audiosim {

struct MpegLength {
    // Frames per channel that a full decode through libsndfile (mpg123, which trims the LAME
    // encoder delay and padding when the stream carries them) gives; 0 when not found.
    int64_t frames = 0;
    // How it was found: "xing" (the Xing/Info frame count, the LAME tag's delay and padding taken
    // off), "frames" (a walk over every frame header, skipping the bytes between), or "" (not
    // found: no frames, or damage past which no frame follows within 64 KiB while bytes remain).
    // A VBRI header is not read: mpg123 ignores it too, so the walk counts its frame as audio.
    std::string source;
};

// Reads the open file `fd` with pread: the fd's offset is left alone.
MpegLength mpeg_length(int fd);

}  // namespace audiosim
