// The few typed errors lib/ throws. apps/main.cpp is the one place that maps them to exit codes
// (docs/CLI.md). A failure of one item in a batch is never thrown: it is a status in the result.
#pragma once

#include <stdexcept>
#include <string>

namespace audiosim {

enum class ErrorKind {
    usage,     // wrong options or arguments
    input,     // an input the whole command depends on is missing or unreadable
    format,    // a file audiosim reads (store, index, model sidecar) is malformed or of an unknown version
    model,     // a model breaks the model contract
    busy,      // another writer holds the store
    io,        // writing failed (disk full, permissions): nothing committed was lost
    internal,  // a bug
};

class Error : public std::runtime_error {
public:
    Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
    ErrorKind kind() const noexcept { return kind_; }

private:
    ErrorKind kind_;
};

// The cause in a message "PATH: cause" about `path` (the whole message when it starts otherwise),
// for callers that name the file their own way (a catalog path, not the absolute one).
inline std::string cause_of(const std::string& message, const std::string& path) {
    return message.size() > path.size() + 2 && message.compare(0, path.size(), path) == 0 &&
                   message.compare(path.size(), 2, ": ") == 0
               ? message.substr(path.size() + 2)
               : message;
}

// Throws Error(io) naming `what` and strerror(errno).
[[noreturn]] void throw_errno(const std::string& what);

}  // namespace audiosim
