// Shared by the unit tests: a fresh temporary folder per test, kept when the test fails.
#pragma once

#include <string>
#include <vector>

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

}  // namespace audiosim::test
