// Writes a store holding N synthetic chunk vectors (a raw float32 file, e.g. from
// make_index_vectors.py) as the `sample` embeddings of the default model, through the library's
// own StoreWriter: what `audiosim index` and `audiosim query` read is then exactly what a real
// store holds, without embedding hundreds of hours of audio first. Files are named
// synthetic/NNNNNNN.wav (they do not exist: queries only need the catalog) with CHUNKS_PER_FILE
// 2 s chunks at a 1 s hop each.
//
//   make_bench_store VECTORS.f32 DIM STORE [CHUNKS_PER_FILE]
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "chunk/profile.hpp"
#include "model/spec.hpp"
#include "store/store.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using namespace audiosim;

int main(int argc, char** argv) {
    if (argc < 4) {
        fmt::print(stderr, "usage: make_bench_store VECTORS.f32 DIM STORE [CHUNKS_PER_FILE]\n");
        return 2;
    }
    try {
        const std::string vectors_path = argv[1], store_path = argv[3];
        const size_t dim = std::stoul(argv[2]);
        const size_t per_file = argc > 4 ? std::stoul(argv[4]) : 4;
        std::ifstream in(vectors_path, std::ios::binary | std::ios::ate);
        if (!in) throw Error(ErrorKind::input, vectors_path + ": cannot read");
        const size_t count = static_cast<size_t>(in.tellg()) / (dim * sizeof(float));
        std::vector<float> vectors(count * dim);
        in.seekg(0);
        in.read(reinterpret_cast<char*>(vectors.data()), static_cast<std::streamsize>(vectors.size() * sizeof(float)));
        const size_t files = (count + per_file - 1) / per_file;

        StoreWriter store(store_path, {"make_bench_store " + vectors_path, parent_path(absolute_path(store_path)), 0,
                                       StoreOpen::create});
        CatalogDelta catalog;
        for (size_t f = 0; f < files; ++f) {
            FileRecord record;
            record.file_id = store.allocate_file_id();
            record.path = fmt::format("synthetic/{:07}.wav", f);
            record.size = 44 + 2 * 44100 * (per_file + 1);
            record.hash = 0x9e3779b97f4a7c15ull * (f + 1);
            record.audio = {"WAV", "PCM_16", 44100, 1, static_cast<int64_t>(44100 * (per_file + 1)), double(per_file + 1)};
            catalog.records.push_back(std::move(record));
        }
        std::vector<uint64_t> file_ids;
        for (const FileRecord& record : catalog.records) file_ids.push_back(record.file_id);
        store.commit(std::move(catalog));

        ChunkProfile profile = preset_profile("sample");
        ChunkDelta chunks;
        for (size_t i = 0; i < count; ++i) {
            Chunk chunk;
            chunk.file_id = file_ids[i / per_file];
            size_t position = i % per_file;
            chunk.start_frame = static_cast<int64_t>(44100 * position);
            chunk.frames = 2 * 44100;
            chunk.start = static_cast<double>(position);
            chunk.duration = 2;
            chunk.rms_db = -20;
            chunk.peak_db = -6;
            chunks.chunks.push_back(chunk);
        }
        store.commit_chunks(profile, std::move(chunks));

        ModelSpec model = find_model("");
        EmbeddingSet set;
        set.model_id = model.id();
        set.profile = profile.name;
        set.dim = static_cast<int64_t>(dim);
        set.model = {{"name", model.name}, {"version", model.version}, {"note", "synthetic vectors (bench/make_bench_store)"}};
        EmbeddingDelta delta;
        delta.dim = dim;
        ChunkTable stored = store.load_chunks(profile.name);
        for (const auto& [file_id, file_chunks] : stored.by_file())
            for (const Chunk& chunk : file_chunks) {
                delta.chunk_ids.push_back(chunk.chunk_id);
                delta.file_ids.push_back(file_id);
            }
        delta.vectors = std::move(vectors);  // chunk ids were given in file order, as the vectors are
        store.commit_embeddings(set, std::move(delta));
        fmt::print(stderr, "{}: {} files, {} chunk vectors of dim {} as {}\n", store_path, files, count, dim, set.key());
        return 0;
    } catch (const Error& error) {
        fmt::print(stderr, "make_bench_store: {}\n", error.what());
        return 1;
    }
}
