// The decode path: libsndfile on the fuzzed bytes as ingest probes a file (quick, then verified)
// and as chunk and embed decode it (MonoReader, block by block, with a seek). The bytes live in a
// memfd, an fd like the one ingest probes and a path (/proc/self/fd/N) like the one MonoReader
// opens, so the code under test is the code that runs, without a virtual I/O entry of its own.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

#include "audio/decode.hpp"
#include "audio/probe.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace audiosim;
    static const int fd = memfd_create("audiosim-fuzz-audio", 0);
    if (fd < 0 || ::ftruncate(fd, 0) != 0 || ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) std::abort();
    probe_audio(fd, {});
    probe_audio(fd, {/*verify=*/true, /*strict=*/false});
    probe_audio(fd, {/*verify=*/false, /*strict=*/true});
    fuzz::expect_errors([&] {
        MonoReader reader("/proc/self/fd/" + std::to_string(fd));
        std::vector<float> mono;
        // A header may claim hours: a few blocks reach every decoder state a short input has.
        for (int block = 0; block < 64 && reader.read(4096, mono) > 0; ++block) {
        }
        reader.seek(0);
        reader.read(1024, mono);
    });
    return 0;
}
