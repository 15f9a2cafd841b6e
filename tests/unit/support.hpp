// Shared by the unit tests: a fresh temporary folder per test, kept when the test fails.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "util/error.hpp"

namespace audiosim::test {

class TempFolder {
public:
    TempFolder();
    ~TempFolder();  // removes the folder unless a check in the test failed
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

void write_bytes(const std::string& path, const std::string& bytes);

// Writes a WAV/FLAC/... through libsndfile: `format` is an SF_FORMAT_* combination.
void write_sine(const std::string& path, int format, int sample_rate, int channels, long frames,
                double frequency = 440.0);

// Runs `f` and returns the kind and message of the audiosim::Error it throws; fails the test if none.
std::pair<ErrorKind, std::string> error_of(const std::function<void()>& f);

bool contains(const std::string& text, const std::string& part);

// Changes the current folder for one test and restores it afterwards.
class CurrentFolder {
public:
    explicit CurrentFolder(const std::string& folder);
    ~CurrentFolder();
    CurrentFolder(const CurrentFolder&) = delete;
    CurrentFolder& operator=(const CurrentFolder&) = delete;

private:
    std::filesystem::path saved_;
};

}  // namespace audiosim::test
