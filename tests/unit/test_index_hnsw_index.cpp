// lib/index/hnsw_index: build, search quality against brute force, save/load and damaged files.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "index/hnsw_index.hpp"
#include "support.hpp"
#include "util/hash.hpp"
#include "util/fs.hpp"

using audiosim::ErrorKind;
using audiosim::HnswIndex;
using audiosim::IndexHeader;
using audiosim::test::contains;
using audiosim::test::error_of;
using audiosim::test::has_number;
using audiosim::test::TempFolder;
using audiosim::test::write_bytes;

namespace {

constexpr size_t dim = 64;

void normalize(float* row) {
    double norm = 0;
    for (size_t d = 0; d < dim; d++) norm += double{row[d]} * row[d];
    auto scale = static_cast<float>(1.0 / std::sqrt(norm));
    for (size_t d = 0; d < dim; d++) row[d] *= scale;
}

// Embeddings have a low intrinsic dimension, unlike i.i.d. Gaussian vectors (hnswlib's worst
// case): 50 random unit centers with small noise around them.
struct Dataset {
    std::vector<uint64_t> ids;
    std::vector<float> vectors;
};

Dataset clustered(size_t n, uint64_t seed) {
    std::mt19937_64 random(seed);
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    constexpr size_t centers = 50;
    std::vector<float> center(centers * dim);
    for (auto& x : center) x = gauss(random);
    for (size_t c = 0; c < centers; c++) normalize(&center[c * dim]);
    Dataset data;
    data.vectors.resize(n * dim);
    std::uniform_int_distribution<size_t> pick(0, centers - 1);
    for (size_t i = 0; i < n; i++) {
        data.ids.push_back(1'000'000'007ull * (i + 1));  // sparse ids, above 32 bits
        size_t c = pick(random);
        for (size_t d = 0; d < dim; d++) data.vectors[i * dim + d] = center[c * dim + d] + 0.05f * gauss(random);
        normalize(&data.vectors[i * dim]);
    }
    return data;
}

IndexHeader test_header() {
    IndexHeader header;
    header.model_id = "test-model@1";
    header.profile = "oneshot";
    header.dim = dim;
    header.embeddings_checksum = 0x0123456789abcdefull;
    return header;
}

// One 5,000-vector index for the whole suite (building it is the slow part).
const Dataset& data5k() {
    static const Dataset data = clustered(5000, 42);
    return data;
}

const HnswIndex& index5k() {
    static const HnswIndex index = [] {
        auto start = std::chrono::steady_clock::now();
        HnswIndex built = HnswIndex::build(test_header(), data5k().ids, data5k().vectors, 4);
        std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
        MESSAGE("built 5,000 x 64-d (M 16, ef_construction 200, 4 threads) in ", took.count(), " s");
        return built;
    }();
    return index;
}

const float* row(const Dataset& data, size_t i) { return data.vectors.data() + i * dim; }

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void edit_header(const std::string& payload, const std::function<void(nlohmann::json&)>& edit) {
    std::string path = audiosim::index_header_path(payload);
    auto json = nlohmann::json::parse(read_all(path));
    edit(json);
    write_bytes(path, json.dump(2));
}

}  // namespace

TEST_SUITE_BEGIN("index/hnsw_index");

TEST_CASE("recall@10 against brute force on clustered vectors") {
    const HnswIndex& index = index5k();
    CHECK(index.size() == 5000);
    CHECK(index.header().count == 5000);
    CHECK(index.header().params.ef_search == 100);
    double recall = audiosim::recall_at_k(index, data5k().ids, data5k().vectors, dim, 10, 300, 7);
    MESSAGE("recall@10 (ef 100, 300 queries): ", recall);
    CHECK(recall >= 0.99);

    // The same sample every time: the measure is reproducible.
    CHECK(audiosim::recall_at_k(index, data5k().ids, data5k().vectors, dim, 10, 300, 7) == recall);
}

TEST_CASE("a stored vector finds itself first, most similar first") {
    const HnswIndex& index = index5k();
    for (size_t i : {size_t{0}, size_t{1234}, size_t{4999}}) {
        auto hits = index.search(row(data5k(), i), 10);
        REQUIRE(hits.size() == 10);
        CHECK(hits[0].first == data5k().ids[i]);
        CHECK(hits[0].second == doctest::Approx(1.0).epsilon(1e-4));
        for (size_t j = 1; j < hits.size(); j++) CHECK(hits[j - 1].second >= hits[j].second);
    }
    CHECK(index.search(row(data5k(), 0), 0).empty());
}

TEST_CASE("save and load give the same results and restore ef") {
    TempFolder folder;
    const std::string path = folder.file("index.hnsw");
    index5k().save(path);
    CHECK(audiosim::path_exists(path));
    CHECK(audiosim::path_exists(path + ".json"));

    auto json = nlohmann::json::parse(read_all(path + ".json"));
    CHECK(json["format"] == "audiosim-index");
    CHECK(json["format_version"] == 1);
    CHECK(json["dim"] == dim);
    CHECK(json["count"] == 5000);
    CHECK(json["metric"] == "cosine");
    CHECK(json["params"]["ef_search"] == 100);

    HnswIndex loaded = HnswIndex::load(path);
    const IndexHeader& h = loaded.header();
    CHECK(h.model_id == "test-model@1");
    CHECK(h.profile == "oneshot");
    CHECK(h.dim == dim);
    CHECK(h.count == 5000);
    CHECK(h.params.M == 16);
    CHECK(h.params.ef_construction == 200);
    CHECK(h.params.ef_search == 100);
    CHECK(h.embeddings_checksum == 0x0123456789abcdefull);
    CHECK(h.payload_hash == index5k().header().payload_hash);
    CHECK(h.payload_hash != 0);

    for (size_t i = 0; i < 5000; i += 97) {
        auto a = index5k().search(row(data5k(), i), 10);
        auto b = loaded.search(row(data5k(), i), 10);
        CHECK(a == b);
    }
    // With hnswlib's fallback ef of 10 recall would drop; ours comes from the header.
    double before = audiosim::recall_at_k(index5k(), data5k().ids, data5k().vectors, dim, 10, 300, 11);
    double after = audiosim::recall_at_k(loaded, data5k().ids, data5k().vectors, dim, 10, 300, 11);
    MESSAGE("recall@10 after save and load: ", after);
    CHECK(after == before);
    CHECK(after >= 0.99);

    loaded.set_ef(10);
    double low = audiosim::recall_at_k(loaded, data5k().ids, data5k().vectors, dim, 10, 300, 11);
    MESSAGE("recall@10 at ef 10: ", low);
    CHECK(low <= after);
}

TEST_CASE("damaged or mismatched files are format errors, never crashes") {
    TempFolder folder;
    const std::string path = folder.file("index.hnsw");
    index5k().save(path);
    const std::string payload = read_all(path);
    const std::string header = read_all(path + ".json");
    auto restore = [&] {
        write_bytes(path, payload);
        write_bytes(path + ".json", header);
    };

    SUBCASE("bytes flipped in the middle of the payload") {
        std::string bytes = payload;
        for (size_t i = bytes.size() / 2; i < bytes.size() / 2 + 16; i++) bytes[i] = static_cast<char>(~bytes[i]);
        write_bytes(path, bytes);
        auto [kind, message] = error_of([&] { HnswIndex::load(path); });
        CHECK(kind == ErrorKind::format);
        CHECK(contains(message, path));
        CHECK(contains(message, "corrupted"));
    }
    SUBCASE("truncated payload") {
        write_bytes(path, payload.substr(0, payload.size() / 2));
        auto [kind, message] = error_of([&] { HnswIndex::load(path); });
        CHECK(kind == ErrorKind::format);
        CHECK(contains(message, path));
    }
    SUBCASE("empty payload") {
        write_bytes(path, "");
        auto [kind, message] = error_of([&] { HnswIndex::load(path); });
        CHECK(kind == ErrorKind::format);
        CHECK(contains(message, "empty"));
    }
    SUBCASE("a newer format version") {
        edit_header(path, [](nlohmann::json& j) { j["format_version"] = 2; });
        auto [kind, message] = error_of([&] { HnswIndex::load(path); });
        CHECK(kind == ErrorKind::format);
        CHECK(contains(message, path + ".json"));
        CHECK(has_number(message, "2"));
        CHECK(has_number(message, "1"));
    }
    SUBCASE("another format") {
        edit_header(path, [](nlohmann::json& j) { j["format"] = "audiosim-embeddings"; });
        auto [kind, message] = error_of([&] { HnswIndex::load(path); });
        CHECK(kind == ErrorKind::format);
        CHECK(contains(message, "audiosim-embeddings"));
    }
    SUBCASE("header dim does not match the payload") {
        edit_header(path, [](nlohmann::json& j) { j["dim"] = 32; });
        auto [kind, message] = error_of([&] { HnswIndex::load(path); });
        CHECK(kind == ErrorKind::format);
        CHECK(contains(message, "dim"));
        CHECK(contains(message, path));
    }
    SUBCASE("header count does not match the payload") {
        edit_header(path, [](nlohmann::json& j) { j["count"] = 4000; });
        auto [kind, message] = error_of([&] { HnswIndex::load(path); });
        CHECK(kind == ErrorKind::format);
        CHECK(has_number(message, "4000"));
    }
    SUBCASE("header M does not match the payload") {
        edit_header(path, [](nlohmann::json& j) { j["params"]["M"] = 8; });
        auto [kind, message] = error_of([&] { HnswIndex::load(path); });
        CHECK(kind == ErrorKind::format);
    }
    SUBCASE("missing and invalid fields") {
        edit_header(path, [](nlohmann::json& j) { j.erase("payload_hash"); });
        auto [kind, message] = error_of([&] { HnswIndex::load(path); });
        CHECK(kind == ErrorKind::format);
        CHECK(contains(message, path + ".json"));
        CHECK(contains(message, "payload_hash"));

        restore();
        edit_header(path, [](nlohmann::json& j) { j["dim"] = "64"; });
        auto [kind2, message2] = error_of([&] { HnswIndex::load(path); });
        CHECK(kind2 == ErrorKind::format);
        CHECK(contains(message2, "dim"));

        write_bytes(path + ".json", "{ not json");
        auto [kind3, message3] = error_of([&] { HnswIndex::load(path); });
        CHECK(kind3 == ErrorKind::format);
        CHECK(contains(message3, path + ".json"));
    }
    SUBCASE("missing header") {
        std::remove((path + ".json").c_str());
        auto [kind, message] = error_of([&] { HnswIndex::load(path); });
        CHECK(kind == ErrorKind::input);
    }
    SUBCASE("a payload hnswlib refuses, under a header whose hash matches it (found by fuzzing)") {
        // One byte more: hnswlib's own check (its link lists no longer end at the end of the
        // file) throws half-way through loading, and the half-loaded graph must be destroyable.
        write_bytes(path, payload + "x");
        const std::string hash = audiosim::hash_to_hex(audiosim::hash_file(path).hash);
        edit_header(path, [&](nlohmann::json& j) { j["payload_hash"] = hash; });
        auto [kind, message] = error_of([&] { HnswIndex::load(path); });
        CHECK(kind == ErrorKind::format);
        CHECK(contains(message, "unreadable index payload"));
    }
    SUBCASE("the undamaged files still load") {
        restore();
        CHECK(HnswIndex::load(path).size() == 5000);
    }
}

TEST_CASE("an empty index builds, saves, loads and finds nothing") {
    TempFolder folder;
    const std::string path = folder.file("empty.hnsw");
    HnswIndex index = HnswIndex::build(test_header(), {}, {}, 4);
    CHECK(index.size() == 0);
    index.save(path);
    HnswIndex loaded = HnswIndex::load(path);
    CHECK(loaded.size() == 0);
    std::vector<float> query(dim, 0.0f);
    query[0] = 1.0f;
    CHECK(loaded.search(query.data(), 10).empty());
    CHECK(audiosim::recall_at_k(loaded, {}, {}, dim, 10, 100, 1) == 1.0);
}

TEST_CASE("a small index returns at most its size, single-threaded") {
    Dataset data = clustered(5, 3);
    HnswIndex index = HnswIndex::build(test_header(), data.ids, data.vectors, 1);
    auto hits = index.search(row(data, 2), 10);
    REQUIRE(hits.size() == 5);
    CHECK(hits[0].first == data.ids[2]);
    CHECK(audiosim::recall_at_k(index, data.ids, data.vectors, dim, 10, 5, 1) == 1.0);
}

TEST_CASE("build refuses inputs that break its contract") {
    Dataset data = clustered(4, 5);
    auto kind_of = [](const std::function<void()>& f) { return error_of(f).first; };
    CHECK(kind_of([&] {
              std::vector<float> short_vectors(data.vectors.begin(), data.vectors.end() - 1);
              HnswIndex::build(test_header(), data.ids, short_vectors, 1);
          }) == ErrorKind::internal);
    CHECK(kind_of([&] {
              auto ids = data.ids;
              ids[1] = ids[0];
              HnswIndex::build(test_header(), ids, data.vectors, 1);
          }) == ErrorKind::internal);
    CHECK(kind_of([&] {
              auto vectors = data.vectors;
              vectors[3] = std::nanf("");
              HnswIndex::build(test_header(), data.ids, vectors, 1);
          }) == ErrorKind::input);
    CHECK(kind_of([&] {
              IndexHeader header = test_header();
              header.params.M = 1;
              HnswIndex::build(header, data.ids, data.vectors, 1);
          }) == ErrorKind::internal);
}

TEST_CASE("incremental add and remove keep recall, survive save and load") {
    // 4,000 built, 1,000 added later, 500 of the first removed: the index must answer as an index
    // of the 4,500 live vectors would.
    TempFolder folder;
    const Dataset& all = data5k();
    auto slice = [&](size_t from, size_t to) {
        Dataset part;
        part.ids.assign(all.ids.begin() + static_cast<std::ptrdiff_t>(from), all.ids.begin() + static_cast<std::ptrdiff_t>(to));
        part.vectors.assign(all.vectors.begin() + static_cast<std::ptrdiff_t>(from * dim),
                            all.vectors.begin() + static_cast<std::ptrdiff_t>(to * dim));
        return part;
    };
    Dataset first = slice(0, 4000), later = slice(4000, 5000), removed = slice(0, 500), live = slice(500, 5000);

    HnswIndex index = HnswIndex::build(test_header(), first.ids, first.vectors, 2);
    index.add(later.ids, later.vectors, 2);
    index.remove(removed.ids);
    CHECK(index.size() == 4500);
    CHECK(index.header().deleted == 500);
    auto sorted_live = live.ids;
    std::sort(sorted_live.begin(), sorted_live.end());
    CHECK(index.ids() == sorted_live);

    for (size_t i = 0; i < removed.ids.size(); i += 50)  // a removed vector is never returned, even for itself
        for (const auto& hit : index.search(row(removed, i), 10)) CHECK(hit.first != removed.ids[i]);
    auto added = index.search(row(later, 7), 1);
    REQUIRE(added.size() == 1);
    CHECK(added[0].first == later.ids[7]);

    double recall = audiosim::recall_at_k(index, live.ids, live.vectors, dim, 10, 300, 5);
    MESSAGE("recall@10 after +1,000 -500: ", recall);
    CHECK(recall >= 0.99);

    const std::string path = folder.file("updated.hnsw");
    index.save(path);
    auto json = nlohmann::json::parse(read_all(path + ".json"));
    CHECK(json["count"] == 4500);
    CHECK(json["deleted"] == 500);
    HnswIndex loaded = HnswIndex::load(path);
    CHECK(loaded.size() == 4500);
    CHECK(loaded.header().deleted == 500);
    CHECK(loaded.ids() == sorted_live);
    CHECK(audiosim::recall_at_k(loaded, live.ids, live.vectors, dim, 10, 300, 5) == recall);

    // A loaded index grows past the size it was loaded with.
    Dataset more = clustered(20, 99);
    for (auto& id : more.ids) id += 1;  // not the ids of data5k
    loaded.add(more.ids, more.vectors, 1);
    CHECK(loaded.size() == 4520);
    auto found = loaded.search(row(more, 3), 1);
    REQUIRE(found.size() == 1);
    CHECK(found[0].first == more.ids[3]);
}

TEST_CASE("add and remove refuse ids that break their contract") {
    Dataset data = clustered(6, 8);
    Dataset head{{data.ids.begin(), data.ids.begin() + 4}, {data.vectors.begin(), data.vectors.begin() + 4 * dim}};
    HnswIndex index = HnswIndex::build(test_header(), head.ids, head.vectors, 1);
    auto kind_of = [](const std::function<void()>& f) { return error_of(f).first; };
    CHECK(kind_of([&] { index.add({data.ids[0]}, {data.vectors.begin(), data.vectors.begin() + dim}, 1); }) ==
          ErrorKind::internal);
    CHECK(kind_of([&] { index.remove({data.ids[5]}); }) == ErrorKind::internal);
    index.remove({data.ids[1]});
    CHECK(kind_of([&] { index.remove({data.ids[1]}); }) == ErrorKind::internal);
    // A deleted id stays taken: the store never reuses a chunk id, so a second add is a bug.
    CHECK(kind_of([&] { index.add({data.ids[1]}, {data.vectors.begin(), data.vectors.begin() + dim}, 1); }) ==
          ErrorKind::internal);
    CHECK(index.size() == 3);
}

// saveIndex's layout (hnswlib 0.6.2), as the damage below needs it: a 96-byte prefix, then per
// element its level-0 block (link count, links, vector, id), then per element its upper levels.
constexpr size_t prefix_bytes = 96;
constexpr size_t element_bytes = (2 * 16 + 1) * 4 + dim * 4 + 8;  // M 16

TEST_CASE("open maps the payload and answers exactly as load, deleted vectors too") {
    TempFolder folder;
    const Dataset& all = data5k();
    HnswIndex built = HnswIndex::build(test_header(), all.ids, all.vectors, 2);
    std::vector<uint64_t> removed(all.ids.begin(), all.ids.begin() + 300);
    built.remove(removed);
    const std::string path = folder.file("index.hnsw");
    built.save(path);
    HnswIndex loaded = HnswIndex::load(path);
    HnswIndex opened = HnswIndex::open(path);
    CHECK(opened.size() == 4700);
    CHECK(opened.header().deleted == 300);
    CHECK(opened.header().embeddings_checksum == loaded.header().embeddings_checksum);

    std::mt19937_64 random(3);
    std::normal_distribution<float> gauss(0.0f, 0.1f);
    size_t compared = 0;
    for (size_t ef : {size_t{100}, size_t{10}}) {
        loaded.set_ef(ef);
        opened.set_ef(ef);
        for (size_t i = 0; i < 5000; i += 37) {
            std::vector<float> query(row(all, i), row(all, i) + dim);  // near a stored vector, not on it
            for (float& x : query) x += gauss(random);
            normalize(query.data());
            for (size_t k : {size_t{1}, size_t{10}, size_t{150}}) {
                auto a = loaded.search(query.data(), k);
                CHECK(a == opened.search(query.data(), k));  // the same ids and the same floats, in order
                compared += a.size();
            }
        }
    }
    CHECK(compared > 40000);
    CHECK(opened.ids() == loaded.ids());
    CHECK(!opened.contains(removed[0]));
    CHECK(opened.contains(all.ids[4000]));
    std::vector<float> a, b;
    loaded.append_vector(all.ids[4321], a);
    opened.append_vector(all.ids[4321], b);
    CHECK(a == b);

    // An element found in the built index is the same element in both readers of the saved one.
    for (size_t i : {size_t{300}, size_t{2500}, size_t{4999}}) {
        std::optional<uint32_t> element = built.element_of(all.ids[i]);
        REQUIRE(element.has_value());
        CHECK(loaded.element_of(all.ids[i]) == element);
        std::vector<float> by_id, at_loaded, at_opened;
        built.append_vector(all.ids[i], by_id);
        loaded.append_vector_at(*element, all.ids[i], at_loaded);
        opened.append_vector_at(*element, all.ids[i], at_opened);
        CHECK(at_loaded == by_id);
        CHECK(at_opened == by_id);
        // Another chunk's element, a removed one's, one past the payload: labels that do not belong.
        CHECK(error_of([&] { opened.append_vector_at(*element, all.ids[i] + 1, at_opened); }).first == ErrorKind::format);
        CHECK(error_of([&] { loaded.append_vector_at(5000, all.ids[i], at_loaded); }).first == ErrorKind::format);
    }
    CHECK_FALSE(built.element_of(removed[0]).has_value());  // deleted: not live

    // Search only: changing or saving an opened index is a bug of the caller.
    auto kind_of = [](const std::function<void()>& f) { return error_of(f).first; };
    CHECK(kind_of([&] { opened.remove({all.ids[4000]}); }) == ErrorKind::internal);
    CHECK(kind_of([&] { opened.save(folder.file("copy.hnsw")); }) == ErrorKind::internal);
}

TEST_CASE("open: damaged or truncated payloads are format errors, at open or when a search meets them") {
    TempFolder folder;
    const std::string path = folder.file("index.hnsw");
    index5k().save(path);
    const std::string payload = read_all(path);
    const size_t count = 5000;
    REQUIRE(payload.size() > prefix_bytes + count * element_bytes);
    auto search_all = [&] {
        HnswIndex index = HnswIndex::open(path);
        for (size_t i = 0; i < count; i += 250) index.search(row(data5k(), i), 10);
    };

    SUBCASE("truncated, empty, one byte more") {
        for (const std::string& bytes : {payload.substr(0, payload.size() / 2), payload.substr(0, 50),
                                         payload.substr(0, payload.size() - 1), std::string(), payload + "x"}) {
            write_bytes(path, bytes);
            auto [kind, message] = error_of([&] { HnswIndex::open(path); });
            CHECK(kind == ErrorKind::format);
            CHECK(contains(message, path));
        }
    }
    SUBCASE("header and payload disagree") {
        edit_header(path, [](nlohmann::json& j) { j["dim"] = 32; });
        CHECK(error_of([&] { HnswIndex::open(path); }).first == ErrorKind::format);
        edit_header(path, [](nlohmann::json& j) { j["dim"] = dim; j["count"] = 4000; });
        CHECK(error_of([&] { HnswIndex::open(path); }).first == ErrorKind::format);
    }
    SUBCASE("an upper-level list with a link outside the graph is refused at open") {
        std::string bytes = payload;
        size_t at = prefix_bytes + count * element_bytes;
        uint32_t size = 0;
        for (;; at += 4 + size) {  // the first element above level 0
            std::memcpy(&size, bytes.data() + at, 4);
            if (size > 0) break;
        }
        uint32_t outside = 0xfffffff0u;
        std::memcpy(&bytes[at + 4 + 4], &outside, 4);  // its level-1 list's first link
        uint16_t links = 1;
        std::memcpy(&bytes[at + 4], &links, 2);
        write_bytes(path, bytes);
        auto [kind, message] = error_of([&] { HnswIndex::open(path); });
        CHECK(kind == ErrorKind::format);
        CHECK(contains(message, "outside the graph"));
    }
    SUBCASE("level-0 links outside the graph stop the search that follows them") {
        std::string bytes = payload;
        uint32_t outside = 0xfffffff0u;
        for (size_t i = 0; i < count; i++) std::memcpy(&bytes[prefix_bytes + i * element_bytes + 4], &outside, 4);
        write_bytes(path, bytes);
        auto [kind, message] = error_of(search_all);
        CHECK(kind == ErrorKind::format);
        CHECK(contains(message, path));
        CHECK(contains(message, "rebuild"));
    }
    SUBCASE("random bytes anywhere: a format error or an answer, never a crash") {
        std::mt19937_64 random(11);
        size_t refused = 0;
        for (int round = 0; round < 200; round++) {
            std::string bytes = payload;
            std::uniform_int_distribution<size_t> at(0, bytes.size() - 1);
            for (int flip = 0; flip < 1 + round % 8; flip++) bytes[at(random)] = static_cast<char>(random());
            write_bytes(path, bytes);
            try {
                search_all();
            } catch (const audiosim::Error& error) {
                CHECK(error.kind() == ErrorKind::format);
                ++refused;
            }
        }
        MESSAGE(refused, " of 200 damaged payloads refused");
    }
    SUBCASE("the undamaged payload opens and searches") {
        write_bytes(path, payload);
        CHECK_NOTHROW(search_all());
    }
}

TEST_SUITE_END();
