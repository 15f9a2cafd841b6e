// What an audio file is, read through libsndfile without decoding it whole.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace audiosim {

// Per-file outcome of ingest, stored in the catalog (docs/FORMAT.md lists the numeric values).
enum class FileStatus : uint8_t {
    ok = 0,
    empty = 1,       // zero bytes
    not_audio = 2,   // no format libsndfile recognizes, or an encoding it cannot decode
    corrupt = 3,     // recognized, but the header or the stream is malformed
    truncated = 4,   // the stream ends before its header says it should
    unreadable = 5,  // open or read failed (permissions, I/O error)
    vanished = 6,    // listed or scanned, then gone before it could be read
};
const char* file_status_name(FileStatus status);
std::vector<std::string> file_status_names();  // indexed by value

struct AudioInfo {
    std::string container;  // WAV, AIFF, FLAC, OGG, MPEG, ... (libsndfile major format)
    std::string codec;      // PCM_16, FLOAT, VORBIS, OPUS, MPEG_LAYER_III, ... (subtype)
    uint32_t sample_rate = 0;
    uint32_t channels = 0;
    int64_t frames = 0;     // what a full decode gives: from the header, MPEG frame headers, or counted when verified
    double duration = 0;    // seconds
    bool frames_estimated = false;  // an MP3 whose length neither a Xing header nor a walk over its frames gave
};

// Rates and channel counts a real recording has; a header outside them is corrupt, not hours of
// audio at 1 Hz.
inline constexpr uint32_t min_sample_rate = 1000;
inline constexpr uint32_t max_sample_rate = 768000;
inline constexpr uint32_t max_channels = 64;
// Why a header's rate and channel count cannot be audio ("" when they can).
std::string implausible_format(int64_t sample_rate, int64_t channels);

struct ProbeResult {
    FileStatus status = FileStatus::ok;
    std::string error;    // one line, empty when ok
    std::string warning;  // one line, when ok but not whole: "truncated: ..." (a cut WAV/AIFF, decoded as far as it goes)
    AudioInfo info;
};

struct ProbeOptions {
    bool verify = false;  // decode every frame and count them
    bool strict = false;  // a cut WAV/AIFF data chunk is status truncated, not ok with a warning
};

// Probes an open file from offset 0. Without `verify` it reads the header, the first block and
// the last block (which catches most truncations), and for MPEG walks the frame headers; with it,
// it decodes every frame and counts them. The caller has read the file through (to hash it), so a
// read error of libsndfile's is taken as a parse failure (corrupt), not as I/O.
ProbeResult probe_audio(int fd, const ProbeOptions& options);

// File name extensions libsndfile can read, lowercase without the dot (wav, flac, mp3, opus, ...).
const std::vector<std::string>& audio_extensions();
std::string libsndfile_version();

}  // namespace audiosim
