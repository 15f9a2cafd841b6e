// The store's writer lock: flock(2) on a file, released by the kernel when the holder dies (kill -9
// included), so a crashed writer never leaves a stale lock behind.
#pragma once

#include <string>

namespace audiosim {

class WriterLock {
public:
    // Waits up to wait_seconds (0: not at all) for the lock, then throws Error(busy) naming the
    // holder's pid and command line. `holder_note` is written into the lock file for that message.
    WriterLock(const std::string& lock_path, const std::string& holder_note, double wait_seconds);
    ~WriterLock();
    WriterLock(const WriterLock&) = delete;
    WriterLock& operator=(const WriterLock&) = delete;

private:
    int fd_ = -1;
};

}  // namespace audiosim
