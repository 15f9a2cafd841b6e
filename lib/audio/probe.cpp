#include "audio/probe.hpp"

#include <algorithm>
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <memory>
#include <unistd.h>

#include <fmt/format.h>
#include <sndfile.h>

#include "audio/mpeg.hpp"
#include "audio/sndfile_open.hpp"

namespace audiosim {

const char* file_status_name(FileStatus status) {
    switch (status) {
        case FileStatus::ok: return "ok";
        case FileStatus::empty: return "empty";
        case FileStatus::not_audio: return "not_audio";
        case FileStatus::corrupt: return "corrupt";
        case FileStatus::truncated: return "truncated";
        case FileStatus::unreadable: return "unreadable";
        case FileStatus::vanished: return "vanished";
    }
    return "unknown";
}

std::string implausible_format(int64_t sample_rate, int64_t channels) {
    if (sample_rate < min_sample_rate || sample_rate > max_sample_rate)
        return fmt::format("implausible header: {} Hz (audio is {} Hz to {} kHz)", sample_rate, min_sample_rate,
                           max_sample_rate / 1000);
    if (channels < 1 || channels > max_channels)
        return fmt::format("implausible header: {} channels (audio has 1 to {})", channels, max_channels);
    return "";
}

std::vector<std::string> file_status_names() {
    std::vector<std::string> names;
    for (int value = 0; value <= static_cast<int>(FileStatus::vanished); ++value)
        names.emplace_back(file_status_name(static_cast<FileStatus>(value)));
    return names;
}

namespace {

struct NamedFormat {
    int code;
    const char* name;
};

constexpr NamedFormat containers[] = {
    {SF_FORMAT_WAV, "WAV"},     {SF_FORMAT_AIFF, "AIFF"}, {SF_FORMAT_AU, "AU"},
    {SF_FORMAT_RAW, "RAW"},     {SF_FORMAT_PAF, "PAF"},   {SF_FORMAT_SVX, "SVX"},
    {SF_FORMAT_NIST, "NIST"},   {SF_FORMAT_VOC, "VOC"},   {SF_FORMAT_IRCAM, "IRCAM"},
    {SF_FORMAT_W64, "W64"},     {SF_FORMAT_MAT4, "MAT4"}, {SF_FORMAT_MAT5, "MAT5"},
    {SF_FORMAT_PVF, "PVF"},     {SF_FORMAT_XI, "XI"},     {SF_FORMAT_HTK, "HTK"},
    {SF_FORMAT_SDS, "SDS"},     {SF_FORMAT_AVR, "AVR"},   {SF_FORMAT_WAVEX, "WAVEX"},
    {SF_FORMAT_SD2, "SD2"},     {SF_FORMAT_FLAC, "FLAC"}, {SF_FORMAT_CAF, "CAF"},
    {SF_FORMAT_WVE, "WVE"},     {SF_FORMAT_OGG, "OGG"},   {SF_FORMAT_MPC2K, "MPC2K"},
    {SF_FORMAT_RF64, "RF64"},   {SF_FORMAT_MPEG, "MPEG"},
};

constexpr NamedFormat codecs[] = {
    {SF_FORMAT_PCM_S8, "PCM_S8"},       {SF_FORMAT_PCM_16, "PCM_16"},
    {SF_FORMAT_PCM_24, "PCM_24"},       {SF_FORMAT_PCM_32, "PCM_32"},
    {SF_FORMAT_PCM_U8, "PCM_U8"},       {SF_FORMAT_FLOAT, "FLOAT"},
    {SF_FORMAT_DOUBLE, "DOUBLE"},       {SF_FORMAT_ULAW, "ULAW"},
    {SF_FORMAT_ALAW, "ALAW"},           {SF_FORMAT_IMA_ADPCM, "IMA_ADPCM"},
    {SF_FORMAT_MS_ADPCM, "MS_ADPCM"},   {SF_FORMAT_GSM610, "GSM610"},
    {SF_FORMAT_VOX_ADPCM, "VOX_ADPCM"}, {SF_FORMAT_G721_32, "G721_32"},
    {SF_FORMAT_G723_24, "G723_24"},     {SF_FORMAT_G723_40, "G723_40"},
    {SF_FORMAT_DWVW_12, "DWVW_12"},     {SF_FORMAT_DWVW_16, "DWVW_16"},
    {SF_FORMAT_DWVW_24, "DWVW_24"},     {SF_FORMAT_DWVW_N, "DWVW_N"},
    {SF_FORMAT_DPCM_8, "DPCM_8"},       {SF_FORMAT_DPCM_16, "DPCM_16"},
    {SF_FORMAT_VORBIS, "VORBIS"},       {SF_FORMAT_OPUS, "OPUS"},
    {SF_FORMAT_ALAC_16, "ALAC_16"},     {SF_FORMAT_ALAC_20, "ALAC_20"},
    {SF_FORMAT_ALAC_24, "ALAC_24"},     {SF_FORMAT_ALAC_32, "ALAC_32"},
    {SF_FORMAT_MPEG_LAYER_I, "MPEG_LAYER_I"},
    {SF_FORMAT_MPEG_LAYER_II, "MPEG_LAYER_II"},
    {SF_FORMAT_MPEG_LAYER_III, "MPEG_LAYER_III"},
};

template <size_t N>
std::string format_name(const NamedFormat (&table)[N], int code) {
    for (const auto& entry : table)
        if (entry.code == code) return entry.name;
    return fmt::format("0x{:x}", code);
}

ProbeResult failure(FileStatus status, std::string error) {
    ProbeResult result;
    result.status = status;
    result.error = std::move(error);
    return result;
}

// Reads up to `frames` frames; returns how many came back.
sf_count_t read_frames(SNDFILE* file, std::vector<float>& buffer, int channels, sf_count_t frames) {
    buffer.resize(static_cast<size_t>(frames) * static_cast<size_t>(channels));
    return sf_readf_float(file, buffer.data(), frames);
}

// libsndfile reads a WAV or AIFF whose data chunk is cut short and only notes it in its log, as
// "data : 529200 (should be 264578)". Streamed files declare 0 or 0xFFFFFFFF: unknown, not cut.
std::string cut_data_chunk(SNDFILE* file) {
    char log[16384] = {0};
    sf_command(file, SFC_GET_LOG_INFO, log, sizeof log);
    std::string text(log);
    for (const char* chunk : {"\ndata : ", "\n SSND : "}) {
        auto at = text.find(chunk);
        if (at == std::string::npos) continue;
        unsigned long long declared = 0, present = 0;
        if (std::sscanf(text.c_str() + at + std::strlen(chunk), "%llu (should be %llu)", &declared, &present) != 2) continue;
        if (declared > present && declared != 0xFFFFFFFFull && declared != 0xFFFFFFFFull - 7)
            return fmt::format("data chunk declares {} bytes, the file holds {}", declared, present);
    }
    return "";
}

}  // namespace

ProbeResult probe_audio(int fd, const ProbeOptions& options) {
    const bool verify = options.verify;
    if (::lseek(fd, 0, SEEK_SET) != 0) return failure(FileStatus::unreadable, "cannot seek to the start");
    // libsndfile 1.2.0 closes the descriptor when sf_open_fd fails, even when told not to
    // (libsndfile issue 949), and
    // the caller closes `fd` again: with ingest's worker threads that second close may hit a file
    // another thread has just opened under the same number. libsndfile gets a duplicate of its own.
    const int own = ::dup(fd);
    if (own < 0)
        return failure(FileStatus::unreadable, fmt::format("cannot duplicate the descriptor: {}", std::strerror(errno)));
    SF_INFO sf_info{};
    SndfileOpened opened = open_sndfile(own, sf_info);
    SndfilePtr file = std::move(opened.file);
    if (!file) {
        int code = opened.error_code;
        const std::string& message = opened.error_message;
        if (code == SF_ERR_UNRECOGNISED_FORMAT) return failure(FileStatus::not_audio, "not an audio format libsndfile reads");
        if (code == SF_ERR_UNSUPPORTED_ENCODING) return failure(FileStatus::not_audio, "unsupported encoding: " + message);
        // The caller has just read the whole file to hash it, so a "system error" here is
        // libsndfile failing to parse (seen, now and then, on a cut Opus stream), not I/O.
        return failure(FileStatus::corrupt, message);
    }
    ProbeResult result;
    AudioInfo& info = result.info;
    info.container = format_name(containers, sf_info.format & SF_FORMAT_TYPEMASK);
    info.codec = format_name(codecs, sf_info.format & SF_FORMAT_SUBMASK);
    if (std::string why = implausible_format(sf_info.samplerate, sf_info.channels); !why.empty())
        return failure(FileStatus::corrupt, why);
    info.sample_rate = static_cast<uint32_t>(sf_info.samplerate);
    info.channels = static_cast<uint32_t>(sf_info.channels);
    info.frames = sf_info.frames;
    if (info.frames == SF_COUNT_MAX)  // an Ogg stream whose last page is missing
        return failure(FileStatus::truncated, "stream end not found (cut short?)");
    // libsndfile reads what there is of a cut data chunk (its frame count is what is present), as
    // sox and ffmpeg do: an interrupted recording keeps its audio, with a warning.
    if (std::string cut = cut_data_chunk(file.get()); !cut.empty()) {
        if (options.strict) return failure(FileStatus::truncated, cut);
        result.warning = "truncated: " + cut;
    }

    constexpr sf_count_t block = 4096;
    std::vector<float> buffer;
    if (verify) {
        sf_count_t counted = 0;
        for (;;) {
            sf_count_t got = read_frames(file.get(), buffer, sf_info.channels, block);
            counted += got;
            if (got < block) break;
        }
        if (sf_error(file.get()) != SF_ERR_NO_ERROR)
            return failure(FileStatus::corrupt, fmt::format("decoding failed after {} frames: {}", counted, sndfile_message(file.get())));
        // Compressed streams (MP3) only estimate their length in the header; uncompressed ones must match.
        bool estimated = info.container == "MPEG";
        if (!estimated && counted < info.frames)
            return failure(FileStatus::truncated, fmt::format("stream ends after {} of {} frames", counted, info.frames));
        info.frames = counted;
    } else if (info.frames > 0) {
        sf_count_t first = std::min(block, info.frames);
        if (read_frames(file.get(), buffer, sf_info.channels, first) == 0)
            return failure(FileStatus::corrupt, "no audio could be decoded: " + sndfile_message(file.get()));
        // The tail check is for formats whose header states the length. MP3 headers only estimate
        // it (and seeking into the bit reservoir makes mpg123 print to stderr); an Ogg stream's
        // length is read from its last page, so a cut stream is merely shorter, and libsndfile
        // 1.2.0's Opus seek never returns on a cut stream. Those are checked in full by --verify.
        bool length_from_header = info.container != "MPEG" && info.container != "OGG";
        if (info.frames > first && sf_info.seekable && length_from_header) {
            sf_count_t tail_start = info.frames - std::min(block, info.frames - first);
            if (sf_seek(file.get(), tail_start, SEEK_SET) < 0)
                return failure(FileStatus::truncated, fmt::format("cannot reach frame {} of {}", tail_start, info.frames));
            sf_count_t expected = info.frames - tail_start;
            sf_count_t got = read_frames(file.get(), buffer, sf_info.channels, expected);
            if (got < expected)
                return failure(FileStatus::truncated, fmt::format("stream ends after {} of {} frames", tail_start + got, info.frames));
        }
    }
    if (info.container == "MPEG" && !verify) {
        // libsndfile's count is an estimate from the file size, and it never reads past it.
        MpegLength length = mpeg_length(fd);
        if (length.source.empty())
            info.frames_estimated = true;
        else if (length.frames > info.frames)
            result.warning = fmt::format("short decode: libsndfile decodes {} of the stream's {} frames (it reads a VBR "
                                         "MP3 without a Xing header only as far as its length estimate)",
                                         info.frames, length.frames);
        else
            info.frames = length.frames;
    }
    info.duration = static_cast<double>(info.frames) / info.sample_rate;
    return result;
}

const std::vector<std::string>& audio_extensions() {
    static const std::vector<std::string> extensions = [] {
        std::vector<std::string> list{"wav", "wave", "aif", "aiff", "aifc", "flac", "ogg", "oga", "opus", "mp3", "mp2", "mp1", "caf", "w64", "rf64"};
        int count = 0;
        sf_command(nullptr, SFC_GET_FORMAT_MAJOR_COUNT, &count, sizeof count);
        for (int i = 0; i < count; ++i) {
            SF_FORMAT_INFO format{};
            format.format = i;
            sf_command(nullptr, SFC_GET_FORMAT_MAJOR, &format, sizeof format);
            if (format.extension) list.emplace_back(format.extension);
        }
        list.erase(std::remove(list.begin(), list.end(), "raw"), list.end());  // needs its format given
        std::sort(list.begin(), list.end());
        list.erase(std::unique(list.begin(), list.end()), list.end());
        return list;
    }();
    return extensions;
}

std::string libsndfile_version() {
    char text[128];
    sf_command(nullptr, SFC_GET_LIB_VERSION, text, sizeof text);
    return text;
}

}  // namespace audiosim
