#include "audio/sndfile_open.hpp"

#include <mutex>

namespace audiosim {
namespace {

std::mutex& open_mutex() {
    static std::mutex mutex;
    return mutex;
}

template <typename Open>
SndfileOpened open_serialized(Open open) {
    SndfileOpened opened;
    std::lock_guard lock(open_mutex());
    opened.file.reset(open());
    if (!opened.file) {
        opened.error_code = sf_error(nullptr);
        opened.error_message = sndfile_message(nullptr);
    }
    return opened;
}

}  // namespace

std::string sndfile_message(SNDFILE* file) {
    std::string message = sf_strerror(file);
    while (!message.empty() && (message.back() == '.' || message.back() == '\n')) message.pop_back();
    return message;
}

SndfileOpened open_sndfile(const std::string& path, SF_INFO& info) {
    return open_serialized([&] { return sf_open(path.c_str(), SFM_READ, &info); });
}

SndfileOpened open_sndfile(int fd, SF_INFO& info) {
    return open_serialized([&] { return sf_open_fd(fd, SFM_READ, &info, SF_TRUE); });
}

}  // namespace audiosim
