// Opening a file with libsndfile from several threads at once, with the right reason on failure.
#pragma once

#include <memory>
#include <string>

#include <sndfile.h>

namespace audiosim {

using SndfilePtr = std::unique_ptr<SNDFILE, decltype(&sf_close)>;

struct SndfileOpened {
    SndfilePtr file{nullptr, sf_close};
    int error_code = SF_ERR_NO_ERROR;  // an SF_ERR_* code when `file` is null
    std::string error_message;         // libsndfile's words, without the final full stop
};

// libsndfile's message for an error on an open file, without the final full stop.
std::string sndfile_message(SNDFILE* file);

// libsndfile reports why an open failed in one process-wide variable that every open, failed or
// not, overwrites; ingest and embed open files on several threads. Opens go through here one at
// a time, so the reason read back is this open's own. An open reads a header, so this costs little.
SndfileOpened open_sndfile(const std::string& path, SF_INFO& info);

// The same for a descriptor, which libsndfile owns from here on, closed with the file (or, on
// libsndfile 1.2.0, on a failed open too: pass a duplicate).
SndfileOpened open_sndfile(int fd, SF_INFO& info);

}  // namespace audiosim
