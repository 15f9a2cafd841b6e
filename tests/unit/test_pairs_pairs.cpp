// lib/pairs/pairs: file pairs by index and exact search (the same pairs above a threshold), groups,
// duplicate clusters and their keeper, components.
#include <algorithm>
#include <map>
#include <tuple>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "pairs/pairs.hpp"
#include "support.hpp"

using namespace audiosim;
using audiosim::test::SyntheticStore;

namespace {

// n files, file i in cluster i % clusters, folder cNN, content_type by cluster parity.
std::vector<SyntheticStore::File> files_in_clusters(size_t n, size_t clusters) {
    std::vector<SyntheticStore::File> files;
    for (size_t i = 0; i < n; i++)
        files.push_back({fmt::format("c{:02}/f{:04}.wav", i % clusters, i), i % clusters, 2,
                         {{"content_type", i % clusters % 2 ? "odd" : "even"}, {"tags", fmt::format("t{}; all", i % 3)}}});
    return files;
}

// A synthetic store of files_in_clusters, with its catalog and embeddings loaded.
struct Library {
    SyntheticStore store;
    Catalog catalog;
    EmbeddingTable embeddings;
    Library(size_t files, size_t clusters) : store(32, clusters) {
        store.add(files_in_clusters(files, clusters));
        catalog = store.writer().catalog();
        embeddings = store.writer().load_embeddings(store.key());
    }
};

std::set<std::tuple<uint64_t, uint64_t, std::string>> keys(const PairsResult& result) {
    std::set<std::tuple<uint64_t, uint64_t, std::string>> out;
    for (const FilePair& pair : result.pairs) out.insert({pair.a, pair.b, pair.group});
    return out;
}

double dot(const std::vector<float>& table, size_t dim, size_t a, size_t b) {
    double sum = 0;
    for (size_t d = 0; d < dim; d++) sum += double{table[a * dim + d]} * table[b * dim + d];
    return sum;
}

}  // namespace

TEST_SUITE_BEGIN("pairs/pairs");

TEST_CASE("index pairs match exact pairs above the threshold; every pair once, in order, scored exactly") {
    Library library(3000, 40);
    const Catalog& catalog = library.catalog;
    const EmbeddingTable& embeddings = library.embeddings;
    PairOptions options;
    options.k = 10;
    options.min_score = 0.8;
    options.threads = 2;
    PairsResult few_files = find_pairs(catalog, embeddings, options);  // 3,000 files: exact, no index
    options.exact_up_to_files = 0;
    PairsResult ann = find_pairs(catalog, embeddings, options);
    options.exact = true;
    PairsResult exact = find_pairs(catalog, embeddings, options);
    REQUIRE(exact.pairs.size() > 3000);
    CHECK(ann.files == 3000);
    CHECK(exact.method.find("exact") == 0);
    CHECK(ann.method.find("hnsw") == 0);
    CHECK(few_files.method == "exact (cpu: 3000 files, at most 8192 take no index)");
    CHECK(keys(few_files) == keys(exact));

    auto want = keys(exact), got = keys(ann);
    size_t found = 0;
    for (const auto& key : want) found += got.count(key);
    double recall = static_cast<double>(found) / static_cast<double>(want.size());
    MESSAGE("pairs above 0.8: exact ", want.size(), ", index ", got.size(), ", recall ", recall);
    CHECK(recall >= 0.99);

    // Each pair once, a before b by path, scores the cosine of the file vectors, highest first.
    FileVectorTable table = file_vector_table(catalog, embeddings);
    std::map<uint64_t, size_t> row;
    for (size_t i = 0; i < table.ids.size(); i++) row[table.ids[i]] = i;
    CHECK(want.size() == exact.pairs.size());
    for (size_t i = 0; i < exact.pairs.size(); i++) {
        const FilePair& pair = exact.pairs[i];
        CHECK(row.at(pair.a) < row.at(pair.b));
        CHECK(pair.score >= 0.8f);
        CHECK(pair.score == doctest::Approx(dot(table.vectors, table.dim, row.at(pair.a), row.at(pair.b))).epsilon(1e-6));
        if (i > 0) CHECK(exact.pairs[i - 1].score >= pair.score);
    }
}

TEST_CASE("groups: pairs only within a group, a file in every group of its tags, summaries") {
    Library library(120, 6);
    const Catalog& catalog = library.catalog;
    const EmbeddingTable& embeddings = library.embeddings;
    PairOptions options;
    options.min_score = -1;
    options.group_by = "content_type";
    options.exact = true;
    PairsResult result = find_pairs(catalog, embeddings, options);
    REQUIRE(result.groups.size() == 2);
    CHECK(result.groups.at("even").files == 60);
    for (const FilePair& pair : result.pairs) {
        std::string a, b;
        catalog.for_each([&](const FileRecord& f) {
            if (f.file_id == pair.a) a = *f.metadata_value("content_type");
            if (f.file_id == pair.b) b = *f.metadata_value("content_type");
        });
        CHECK(a == pair.group);
        CHECK(b == pair.group);
    }
    size_t counted = 0;
    for (const auto& [name, summary] : result.groups) counted += summary.pairs;
    CHECK(counted == result.pairs.size());

    options.group_by = "tags";
    PairsResult tagged = find_pairs(catalog, embeddings, options);
    CHECK(tagged.groups.count("all"));
    CHECK(tagged.groups.at("all").files == 120);
    CHECK(tagged.groups.at("t0").files == 40);
}

TEST_CASE("file_groups: folder, tags split and trimmed, metadata values, missing values") {
    FileRecord file;
    file.path = "drums/kicks/k1.wav";
    file.set_metadata("tags", " kick ;drum, kick,");
    file.set_metadata("content_type", "drum");
    file.set_metadata("empty", " ");
    CHECK(file_groups(file, "folder") == std::vector<std::string>{"drums/kicks"});
    CHECK(file_groups(file, "tags") == std::vector<std::string>{"drum", "kick"});
    CHECK(file_groups(file, "content_type") == std::vector<std::string>{"drum"});
    CHECK(file_groups(file, "empty").empty());
    CHECK(file_groups(file, "missing").empty());
    file.path = "top.wav";
    CHECK(file_groups(file, "folder") == std::vector<std::string>{"."});
}

TEST_CASE("duplicate clusters: same bytes or near scores join; the keeper is lossless, then rate, depth, channels, length") {
    Catalog catalog;
    CatalogDelta delta;
    auto record = [](uint64_t id, std::string path, uint64_t hash, std::string codec, uint32_t rate, double duration) {
        FileRecord r;
        r.file_id = id;
        r.path = std::move(path);
        r.hash = hash;
        r.audio.codec = std::move(codec);
        r.audio.sample_rate = rate;
        r.audio.channels = 1;
        r.audio.duration = duration;
        return r;
    };
    delta.records = {record(1, "a/snare.mp3", 11, "MPEG_LAYER_III", 48000, 1.0),
                     record(2, "b/snare.wav", 12, "PCM_16", 44100, 1.0),
                     record(3, "c/snare-24.wav", 13, "PCM_24", 44100, 1.0),
                     record(4, "d/kick.wav", 14, "PCM_16", 44100, 1.0),
                     record(5, "e/kick-copy.wav", 14, "PCM_16", 44100, 1.0),
                     record(6, "f/hat.wav", 15, "PCM_16", 44100, 1.0),
                     record(7, "g/hat-trim.wav", 16, "PCM_16", 44100, 0.9)};
    catalog.apply(delta);
    std::vector<FilePair> pairs = {{1, 2, 0.995f, ""}, {2, 3, 0.992f, ""}, {6, 7, 0.991f, ""}, {2, 6, 0.95f, ""}};
    auto clusters = duplicate_clusters(catalog, pairs, 0.99);
    REQUIRE(clusters.size() == 3);
    // Ordered by the keeper's path.
    CHECK(clusters[0].keeper == 3);  // PCM_24 beats PCM_16 beats MP3
    CHECK(clusters[0].files == std::vector<uint64_t>{3, 1, 2});
    CHECK(clusters[0].min_score == doctest::Approx(0.992));
    CHECK_FALSE(clusters[0].exact_only);
    CHECK(clusters[1].keeper == 4);  // same bytes and time: the path without "-copy"
    CHECK(clusters[1].exact_only);
    CHECK(clusters[1].min_score == 1.0f);
    CHECK(clusters[2].keeper == 6);  // the longer one
    // The 0.95 pair joins nothing at 0.99 but joins everything at 0.9.
    CHECK(duplicate_clusters(catalog, pairs, 0.9).size() == 2);
    auto components = pair_components(catalog, pairs, 0.99);
    REQUIRE(components.size() == 2);
    CHECK(components[0].size() == 3);
    CHECK(components[1] == std::vector<uint64_t>{6, 7});
    CHECK(pair_components(catalog, pairs, 0.999).empty());
}

TEST_CASE("keeper ties among equal files: the older file, then fewer marks of a copy, the shorter path, the path order") {
    auto file = [](std::string path, int64_t mtime = 1000, std::string codec = "PCM_16") {
        FileRecord r;
        r.path = std::move(path);
        r.mtime_ns = mtime;
        r.audio.codec = std::move(codec);
        r.audio.sample_rate = 44100;
        r.audio.channels = 1;
        r.audio.duration = 1.0;
        return r;
    };
    // better_keeper is a strict order: exactly one of the two is better.
    auto keeps = [](const FileRecord& original, const FileRecord& copy) {
        return better_keeper(original, copy) && !better_keeper(copy, original);
    };
    // The copy in dupes/ sorts first and is as short, but is newer.
    CHECK(keeps(file("kick/kick-03.wav", 1000), file("dupes/kick-03.wav", 2000)));
    // Quality comes before age.
    CHECK(keeps(file("z/kick.wav", 2000, "PCM_24"), file("a/kick.wav", 1000, "PCM_16")));
    // Same time: each mark of a copy loses against a longer path that sorts later.
    for (const char* name : {"kick copy", "kick copy 2", "KICK COPY", "kick - Copy", "kick - Copy (2)", "Copy of kick",
                             "kick_copy", "kick-copy", "kick (1)", "kick (12)", "kick-2", "kick-9"}) {
        CHECK_MESSAGE(keeps(file("z/kick-original-long-name.wav"), file(std::string("a/") + name + ".wav")), name);
    }
    CHECK(keeps(file("z/kick-original-long-name.wav"), file("Copy of a/kick.wav")));  // folders count too
    // Names that are not marks: the shorter path wins, whatever it is called.
    for (const char* name : {"kick-02", "kick-1", "kick-10", "photocopy", "copycat", "kick copyright", "copy"}) {
        CHECK_MESSAGE(keeps(file(std::string("a/") + name + ".wav"), file("z/kick-original-long-name.wav")), name);
    }
    CHECK(keeps(file("a/kick.copy.wav"), file("z/kick-original-long-name.wav")));  // ".copy" is the extension's business
    // Fewer marks beat more.
    CHECK(keeps(file("z/kick (1).wav"), file("a/Copy of kick copy.wav")));
    // Then the shorter path, then the path order.
    CHECK(keeps(file("zz/kick.wav"), file("a/kick-long.wav")));
    CHECK(keeps(file("a/kick.wav"), file("b/kick.wav")));
    CHECK_FALSE(better_keeper(file("a/kick.wav"), file("a/kick.wav")));

    // Through the clusters: identical bytes, the original kept.
    Catalog catalog;
    CatalogDelta delta;
    uint64_t id = 1;
    for (FileRecord r : {file("dupes/kick.wav", 2000), file("kick/kick.wav", 1000), file("b/snare copy.wav"), file("c/snare.wav")}) {
        r.file_id = id;
        r.hash = id <= 2 ? 7 : 8;
        id++;
        delta.records.push_back(r);
    }
    catalog.apply(delta);
    auto clusters = duplicate_clusters(catalog, {}, 0.99);
    REQUIRE(clusters.size() == 2);
    CHECK(clusters[0].keeper == 4);  // c/snare.wav; clusters are in the keeper's path order
    CHECK(clusters[0].files == std::vector<uint64_t>{4, 3});
    CHECK(clusters[1].keeper == 2);  // kick/kick.wav
    CHECK(clusters[1].files == std::vector<uint64_t>{2, 1});
}

TEST_CASE("an unknown --group-by field is a usage error listing the fields there are") {
    Library library(20, 4);
    PairOptions options;
    options.group_by = "genre";
    auto [kind, message] = audiosim::test::error_of([&] { find_pairs(library.catalog, library.embeddings, options); });
    CHECK(kind == ErrorKind::usage);
    CHECK_MESSAGE(message == "--group-by genre: no such field in the catalog (known: folder, tags, content_type)", message);
    check_group_field(library.catalog, "");
    check_group_field(library.catalog, "folder");
    check_group_field(library.catalog, "content_type");
}

TEST_CASE("index pairs do not depend on the number of threads") {
    // A sparse graph over scattered vectors misses neighbours, and which ones it misses depends on
    // the graph: built on several threads, on their scheduling.
    Library library(3000, 1500);
    PairOptions options;
    options.k = 10;
    options.min_score = -1;
    options.index_params = {4, 8, 8};
    options.threads = 1;
    PairsResult one = find_pairs(library.catalog, library.embeddings, options);
    for (unsigned threads : {2u, 4u}) {
        options.threads = threads;
        PairsResult many = find_pairs(library.catalog, library.embeddings, options);
        REQUIRE(many.pairs.size() == one.pairs.size());
        for (size_t i = 0; i < one.pairs.size(); i++) {
            CHECK(many.pairs[i].a == one.pairs[i].a);
            CHECK(many.pairs[i].b == one.pairs[i].b);
            CHECK(many.pairs[i].score == one.pairs[i].score);
        }
    }
}

TEST_SUITE_END();
