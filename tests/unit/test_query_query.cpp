// lib/query/query: QueryEngine over synthetic stores (support.hpp's SyntheticStore): items and
// self-exclusion, filters inside the search, stale indexes and exact search.
#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "index/store_index.hpp"
#include "query/query.hpp"
#include "support.hpp"
#include "util/fs.hpp"

using namespace audiosim;
using audiosim::test::contains;
using audiosim::test::error_of;
using audiosim::test::SyntheticStore;
using audiosim::test::write_bytes;

namespace {

std::string path_of(size_t i, size_t clusters) { return fmt::format("c{:02}/f{}.wav", i % clusters, i); }

size_t cluster_of(const std::string& path) { return std::stoul(path.substr(1, 2)); }

// `n` files of `chunks` chunks, file i in cluster i % clusters and in folder cNN (its cluster),
// with content_type drum (clusters below half) or tonal, kind even or odd (the cluster's parity),
// tags "tNN;all", and "rare" on one file in 200 (i % 200 == 7).
std::vector<SyntheticStore::File> clustered_files(size_t n, size_t chunks, size_t clusters, size_t first = 0) {
    std::vector<SyntheticStore::File> out;
    for (size_t i = first; i < first + n; i++) {
        size_t cluster = i % clusters;
        std::string tags = fmt::format("t{:02}; all", cluster);
        if (i % 200 == 7) tags += ",rare";
        out.push_back({path_of(i, clusters), cluster, chunks,
                       {{"content_type", cluster < clusters / 2 ? "drum" : "tonal"},
                        {"kind", cluster % 2 ? "odd" : "even"},
                        {"tags", tags}}});
    }
    return out;
}

// 200 files of 4 chunks in 20 clusters (10 files each), 64-d, indexed.
std::unique_ptr<SyntheticStore> small_store(bool indexed = true) {
    auto s = std::make_unique<SyntheticStore>(64, 20);
    s->add(clustered_files(200, 4, 20));
    if (indexed) REQUIRE(update_index(s->writer(), s->key(), {}).action == "built");
    return s;
}

// 4,400 files of 10 chunks (44,000 vectors, 16-d) in 20 paired clusters, indexed once for the
// suite. Half the chunks pass kind=odd: more than the 20,000 chunks and 5 % of the index below
// which a filtered search is exact, so that filter is searched through the index.
SyntheticStore& large_store() {
    static std::unique_ptr<SyntheticStore> store = [] {
        auto s = std::make_unique<SyntheticStore>(16, 20, true, 11);
        s->add(clustered_files(4400, 10, 20));
        IndexBuildOptions options;
        options.M = 12;
        options.ef_construction = 100;
        options.threads = 2;
        REQUIRE(update_index(s->writer(), s->key(), options).action == "built");
        return s;
    }();
    return *store;
}

QueryEngine engine_for(StoreReader& reader, const SyntheticStore& s, bool exact = false) {
    QueryEngine::Options options;
    options.exact = exact;
    return QueryEngine(reader, s.key(), options);
}

QueryOptions with_limit(size_t limit, std::vector<MetadataFilter> filters = {}) {
    QueryOptions options;
    options.limit = limit;
    options.filters = std::move(filters);
    return options;
}

std::vector<std::string> paths(const QueryEngine& engine, const QueryResult& result) {
    std::vector<std::string> out;
    for (const FileMatch& match : result.files) out.emplace_back(engine.file(match.file_id)->path);
    return out;
}

QueryInput own_vectors(const SyntheticStore& s, uint64_t file_id) {
    QueryInput query;
    query.name = "copy";
    query.vectors = s.vectors(file_id);
    for (size_t i = 0; i < s.chunk_ids(file_id).size(); i++) {
        query.starts.push_back(static_cast<double>(i));
        query.durations.push_back(2.0);
    }
    return query;
}

// Index and exact engines give the same files in the same order, with the same scores.
void check_same_results(const QueryEngine& index, const QueryEngine& exact, const QueryInput& query,
                        const QueryOptions& options) {
    QueryResult a = index.run(query, options), b = exact.run(query, options);
    CHECK(paths(index, a) == paths(exact, b));
    for (size_t i = 0; i < std::min(a.files.size(), b.files.size()); i++)
        CHECK(a.files[i].score == doctest::Approx(b.files[i].score).epsilon(1e-5));
}

}  // namespace

TEST_SUITE_BEGIN("query/query");

TEST_CASE("an item query excludes the item by default and returns its near neighbours") {
    auto s = small_store();
    StoreReader reader(s->store());
    QueryEngine engine = engine_for(reader, *s);
    CHECK(engine.source() == "index");
    const uint64_t id = s->file_id("c03/f3.wav");

    QueryInput query = engine.item("c03/f3.wav");
    CHECK(query.name == "c03/f3.wav");
    REQUIRE(query.self_file_id.has_value());
    CHECK(*query.self_file_id == id);
    CHECK(query.chunks() == 4);
    CHECK(query.vectors == s->vectors(id));  // served from the index's stored vectors

    QueryOptions options = with_limit(5);
    options.exclude_self = true;
    QueryResult result = engine.run(query, options);
    REQUIRE(result.files.size() == 5);
    for (const std::string& path : paths(engine, result)) {
        CHECK(path != "c03/f3.wav");
        CHECK_MESSAGE(cluster_of(path) == 3, path);  // its 9 cluster mates come first
    }
    CHECK(result.candidate_files >= 9);

    options.exclude_self = false;
    QueryResult with_self = engine.run(query, options);
    REQUIRE(!with_self.files.empty());
    CHECK(with_self.files[0].file_id == id);
    CHECK(with_self.files[0].score == doctest::Approx(1.0).epsilon(1e-5));
    CHECK(with_self.files[0].votes == 4);
    // The rest are the excluded query's first four.
    std::vector<std::string> with = paths(engine, with_self), without = paths(engine, result);
    CHECK(std::vector<std::string>(with.begin() + 1, with.end()) == std::vector<std::string>(without.begin(), without.begin() + 4));
}

TEST_CASE("items by catalog path, absolute path or file id; unknown ones are input errors naming them") {
    auto s = small_store();
    StoreReader reader(s->store());
    QueryEngine engine = engine_for(reader, *s);
    const uint64_t id = s->file_id("c07/f27.wav");
    CHECK(*engine.item(std::to_string(id)).self_file_id == id);
    CHECK(*engine.item(s->root() + "/c07/f27.wav").self_file_id == id);
    CHECK(*engine.item("c07/f27.wav").self_file_id == id);
    // A number too large for a file id is no id either (it once escaped as std::out_of_range).
    for (const std::string& bad : {std::string("c07/nope.wav"), std::string("999999"), s->root() + "/c07/nope.wav",
                                   std::string("99999999999999999999999")}) {
        auto [kind, message] = error_of([&] { engine.item(bad); });
        CHECK(kind == ErrorKind::input);
        CHECK_MESSAGE(contains(message, bad), message);
    }
}

TEST_CASE("a file's own vectors find it first with score 1; exclude_self by content hash leaves it out") {
    auto s = small_store();
    StoreReader reader(s->store());
    QueryEngine engine = engine_for(reader, *s);
    for (size_t i : {0, 41, 199}) {
        const uint64_t id = s->file_id(path_of(i, 20));
        QueryResult result = engine.run(own_vectors(*s, id), with_limit(3));
        REQUIRE(!result.files.empty());
        CHECK(result.files[0].file_id == id);
        CHECK(result.files[0].score == doctest::Approx(1.0).epsilon(1e-5));
        CHECK(result.files[0].votes == 4);
        CHECK(result.files[0].best_similarity == doctest::Approx(1.0).epsilon(1e-5));
        CHECK(result.files[1].score < 0.99);
    }
    const uint64_t id = s->file_id("c05/f5.wav");
    QueryInput query = own_vectors(*s, id);
    query.content_hash = engine.file(id)->hash;
    QueryOptions options = with_limit(3);
    options.exclude_self = true;
    QueryResult result = engine.run(query, options);
    REQUIRE(result.files.size() == 3);
    for (const FileMatch& match : result.files) CHECK(match.file_id != id);
    options.exclude_self = false;
    CHECK(engine.run(query, options).files[0].file_id == id);
}

TEST_CASE("limit, min_score and explain") {
    auto s = small_store();
    StoreReader reader(s->store());
    QueryEngine engine = engine_for(reader, *s);
    QueryInput query = engine.item("c09/f9.wav");
    QueryResult all = engine.run(query, with_limit(1000));
    REQUIRE(all.files.size() == all.candidate_files);
    REQUIRE(all.files.size() > 10);
    for (size_t i = 1; i < all.files.size(); i++) CHECK(all.files[i - 1].score >= all.files[i].score);

    QueryResult three = engine.run(query, with_limit(3));
    CHECK(three.files.size() == 3);
    CHECK(three.candidate_files == all.candidate_files);

    QueryOptions options = with_limit(1000);
    const double threshold = all.files[5].score;
    options.min_score = threshold;
    QueryResult above = engine.run(query, options);
    CHECK(above.files.size() >= 6);
    CHECK(above.files.size() < all.files.size());
    for (const FileMatch& match : above.files) CHECK(match.score >= threshold);

    CHECK(all.chunks.empty());
    options = with_limit(3);
    options.explain = true;
    options.neighbours = 7;
    QueryResult explained = engine.run(query, options);
    REQUIRE(explained.chunks.size() == 4);
    for (const QueryChunkHits& chunk : explained.chunks) {
        CHECK(chunk.hits.size() == 7);
        for (size_t i = 1; i < chunk.hits.size(); i++) CHECK(chunk.hits[i - 1].similarity >= chunk.hits[i].similarity);
    }
}

TEST_CASE("filters: folder, tags, metadata columns; OR within a field, AND across fields") {
    auto s = small_store();
    StoreReader reader(s->store());
    QueryEngine engine = engine_for(reader, *s);
    QueryInput query = engine.item("c05/f5.wav");
    auto clusters_of = [&](std::vector<MetadataFilter> filters, size_t limit = 50) {
        std::set<size_t> clusters;
        QueryOptions options = with_limit(limit, std::move(filters));
        options.neighbours = 800;  // every stored chunk: every passing file is a candidate
        QueryResult result = engine.run(query, options);
        for (const std::string& path : paths(engine, result)) clusters.insert(cluster_of(path));
        return std::make_pair(clusters, result.files.size());
    };

    CHECK(clusters_of({{"folder", "c12"}}) == std::make_pair(std::set<size_t>{12}, size_t{10}));
    CHECK(clusters_of({{"folder", "c12/"}}) == std::make_pair(std::set<size_t>{12}, size_t{10}));
    CHECK(clusters_of({{"folder", "c1"}}).second == 0);  // a folder, not a prefix
    CHECK(clusters_of({{"tags", "t04"}, {"tags", "t17"}}) == std::make_pair(std::set<size_t>{4, 17}, size_t{20}));
    CHECK(clusters_of({{"content_type", "tonal"}}, 200).first ==
          std::set<size_t>{10, 11, 12, 13, 14, 15, 16, 17, 18, 19});
    CHECK(clusters_of({{"content_type", "tonal"}, {"folder", "c12"}, {"folder", "c03"}}) ==
          std::make_pair(std::set<size_t>{12}, size_t{10}));
    CHECK(clusters_of({{"content_type", "drum"}, {"content_type", "tonal"}}, 200).second == 200);
    CHECK(clusters_of({{"content_type", "drum"}, {"tags", "t15"}}).second == 0);
    CHECK(clusters_of({{"path", "c08/f48.wav"}}) == std::make_pair(std::set<size_t>{8}, size_t{1}));
    CHECK(clusters_of({{"no_such_column", "x"}}).second == 0);
    CHECK(clusters_of({{"tags", "all"}}, 200).second == 200);  // a tag after "; " counts
    CHECK(clusters_of({{"tags", "t0"}}).second == 0);          // whole tags only

    FileRecord record;
    record.path = "drums/kick/a.wav";
    record.set_metadata("content_type", "drum");
    record.set_metadata("tags", "kick, acoustic;dry");
    CHECK(passes_filters(record, {}));
    CHECK(passes_filters(record, {{"folder", "drums"}}));
    CHECK(passes_filters(record, {{"folder", "drums/kick"}}));
    CHECK_FALSE(passes_filters(record, {{"folder", "drum"}}));
    CHECK_FALSE(passes_filters(record, {{"folder", "."}}));
    CHECK(passes_filters(record, {{"tags", "acoustic"}, {"tags", "wet"}}));
    CHECK(passes_filters(record, {{"tags", "dry"}, {"content_type", "drum"}}));
    CHECK_FALSE(passes_filters(record, {{"tags", "wet"}, {"content_type", "drum"}}));
    CHECK_FALSE(passes_filters(record, {{"tags", "dry"}, {"content_type", "tonal"}}));
    CHECK_FALSE(passes_filters(record, {{"title", ""}}));  // a missing column never matches
}

TEST_CASE("filters are inside the search: rare passing files still fill the limit, as exact search does") {
    SyntheticStore& s = large_store();
    StoreReader reader(s.store());
    QueryEngine index = engine_for(reader, s);
    QueryEngine exact = engine_for(reader, s, true);
    CHECK(index.source() == "index");
    CHECK(contains(exact.source(), "exact search (--exact"));
    QueryInput query = index.item(path_of(20, 20));  // cluster 0: kind even, no rare file
    QueryOptions self_excluded = with_limit(10);
    self_excluded.exclude_self = true;

    SUBCASE("1 file in 200 passes (searched exactly)") {
        QueryOptions options = self_excluded;
        options.filters = {{"tags", "rare"}};
        QueryResult result = index.run(query, options);
        REQUIRE(result.files.size() == 10);  // of the 22 rare files, all in cluster 7, far from the query
        for (const std::string& path : paths(index, result)) CHECK(cluster_of(path) == 7);
        check_same_results(index, exact, query, options);
    }
    SUBCASE("half the chunks pass, none near the query (searched through the index)") {
        // The query's cluster 0 is all kind=even: the nearest passing chunks lie beyond its 2,200
        // chunks, so the candidate list (at first 2 x 100 + the query's own 10) must grow past them.
        QueryOptions options = self_excluded;
        options.filters = {{"kind", "odd"}};
        QueryResult result = index.run(query, options);
        REQUIRE(result.files.size() == 10);
        for (const std::string& path : paths(index, result)) CHECK(cluster_of(path) % 2 == 1);
        check_same_results(index, exact, query, options);
        // Without the filter, cluster 0 fills the list.
        for (const std::string& path : paths(index, index.run(query, self_excluded))) CHECK(cluster_of(path) == 0);
    }
}

TEST_CASE("exact search gives the index's results on clustered vectors") {
    auto s = small_store();
    StoreReader reader(s->store());
    QueryEngine index = engine_for(reader, *s);
    QueryEngine exact = engine_for(reader, *s, true);
    for (size_t i : {0, 33, 66, 99, 150, 187}) {
        QueryInput query = index.item(path_of(i, 20));
        QueryOptions options = with_limit(5);
        options.exclude_self = true;
        check_same_results(index, exact, query, options);
        CHECK(exact.item(path_of(i, 20)).vectors == query.vectors);
    }
}

TEST_CASE("a stale index: chunks added since are searched exactly, removed ones skipped") {
    auto s = small_store();
    // After the index: 10 more files in cluster 3 and 5 of its 10 indexed files removed.
    std::vector<SyntheticStore::File> added;
    for (size_t i = 200; i < 210; i++) added.push_back({fmt::format("c03/new{}.wav", i), 3, 4});
    s->add(added);
    std::vector<std::string> removed = {"c03/f3.wav", "c03/f23.wav", "c03/f43.wav", "c03/f63.wav", "c03/f83.wav"};
    s->remove(removed);

    StoreReader reader(s->store());
    QueryEngine index = engine_for(reader, *s);
    QueryEngine exact = engine_for(reader, *s, true);
    CHECK(index.source() == "index + exact search of 40 chunks added since it was built");
    QueryInput query = index.item("c03/f103.wav");
    CHECK(query.vectors == s->vectors(s->file_id("c03/f103.wav")));
    QueryOptions options = with_limit(14);
    options.exclude_self = true;
    QueryResult result = index.run(query, options);
    std::vector<std::string> found = paths(index, result);
    REQUIRE(found.size() == 14);  // the other 4 indexed files left in cluster 3 and the 10 new ones
    size_t added_found = 0;
    for (const std::string& path : found) {
        CHECK(cluster_of(path) == 3);
        CHECK(std::find(removed.begin(), removed.end(), path) == removed.end());
        added_found += contains(path, "/new");
    }
    CHECK(added_found == 10);
    check_same_results(index, exact, query, options);
    for (const std::string& path : removed) CHECK(error_of([&] { index.item(path); }).first == ErrorKind::input);
    // A new file is an item too, its vectors read from the store.
    CHECK(index.item("c03/new205.wav").vectors == s->vectors(s->file_id("c03/new205.wav")));
}

TEST_CASE("labels mapped from the index and labels built from the tables give the same answers") {
    auto s = small_store();
    StoreReader mapped_reader(s->store());
    QueryEngine mapped = engine_for(mapped_reader, *s);
    CHECK(mapped.source() == "index");
    // The mapped labels spare the tables: a damaged embeddings segment goes unread.
    const std::string segment =
        join_path(s->store(), s->writer().manifest().embedding_sets.at(s->key()).segments.front().file);
    const std::string segment_bytes = read_text_file(segment);
    write_bytes(segment, "damaged");
    StoreReader damaged_reader(s->store());
    CHECK(engine_for(damaged_reader, *s).source() == "index");
    write_bytes(segment, segment_bytes);

    // A file with no chunks yet changes the catalog alone: the labels no longer describe the store.
    s->add_unchunked("c00/fresh.wav");
    StoreReader built_reader(s->store());
    QueryEngine built = engine_for(built_reader, *s);
    CHECK(built.source() == "index (store tables read: its labels predate the store's last change)");

    const std::vector<std::vector<MetadataFilter>> filters = {{}, {{"kind", "odd"}}, {{"folder", "c03"}}, {{"tags", "t07"}}};
    for (size_t i : {0, 57, 123, 199}) {
        for (const auto& filter : filters) {
            QueryOptions options = with_limit(8, filter);
            options.exclude_self = true;
            options.explain = true;
            QueryResult a = mapped.run(mapped.item(path_of(i, 20)), options);
            QueryResult b = built.run(built.item(std::to_string(s->file_id(path_of(i, 20)))), options);
            CHECK(paths(mapped, a) == paths(built, b));
            REQUIRE(a.chunks.size() == b.chunks.size());
            for (size_t c = 0; c < a.chunks.size(); ++c) {
                REQUIRE(a.chunks[c].hits.size() == b.chunks[c].hits.size());
                for (size_t h = 0; h < a.chunks[c].hits.size(); ++h) {
                    CHECK(a.chunks[c].hits[h].chunk_id == b.chunks[c].hits[h].chunk_id);
                    CHECK(a.chunks[c].hits[h].start == b.chunks[c].hits[h].start);
                    CHECK(a.chunks[c].hits[h].similarity == b.chunks[c].hits[h].similarity);
                }
            }
        }
        // A copy of a stored file's bytes is itself, by content hash, in both.
        QueryInput copy = own_vectors(*s, s->file_id(path_of(i, 20)));
        copy.content_hash = mapped.file(s->file_id(path_of(i, 20)))->hash;
        QueryOptions options = with_limit(3);
        options.exclude_self = true;
        for (const QueryEngine* engine : {&mapped, &built})
            for (const std::string& path : paths(*engine, engine->run(copy, options))) CHECK(path != path_of(i, 20));
    }
    CHECK(contains(error_of([&] { built.item("c00/fresh.wav"); }).second, "no vectors"));
    CHECK(contains(error_of([&] { mapped.item("c00/nothing.wav"); }).second, "not a stored file"));
}

TEST_CASE("no index: exact search with the same answers") {
    auto s = small_store(false);
    StoreReader reader(s->store());
    QueryEngine engine = engine_for(reader, *s);
    CHECK(engine.source() == "exact search (no index: run audiosim index)");
    QueryOptions options = with_limit(5);
    options.exclude_self = true;
    QueryResult result = engine.run(engine.item("c11/f11.wav"), options);
    REQUIRE(result.files.size() == 5);
    for (const std::string& path : paths(engine, result)) CHECK(cluster_of(path) == 11);
}

TEST_CASE("an unknown set is an input error") {
    auto s = small_store(false);
    StoreReader reader(s->store());
    auto [kind, message] = error_of([&] { QueryEngine(reader, "sample/other@1", {}); });
    CHECK(kind == ErrorKind::input);
    CHECK_MESSAGE(contains(message, "sample/other@1"), message);
}

TEST_CASE("parse_metadata_filter: FIELD=VALUE, split at the first '='") {
    MetadataFilter filter = parse_metadata_filter("content_type=drum");
    CHECK(filter.field == "content_type");
    CHECK(filter.value == "drum");
    filter = parse_metadata_filter("title=a=b");
    CHECK(filter.field == "title");
    CHECK(filter.value == "a=b");
    filter = parse_metadata_filter("tags=");
    CHECK(filter.field == "tags");
    CHECK(filter.value.empty());
    for (const char* bad : {"content_type", "=drum", ""}) {
        auto [kind, message] = error_of([&] { parse_metadata_filter(bad); });
        CHECK(kind == ErrorKind::usage);
        CHECK_MESSAGE(contains(message, "'" + std::string(bad) + "'"), message);
        CHECK_MESSAGE(contains(message, "FIELD=VALUE"), message);
    }
}

TEST_CASE("check_filter_fields: folder, tags, path and metadata columns pass; another field is a usage error") {
    auto s = small_store(false);
    StoreReader reader(s->store());
    QueryEngine engine = engine_for(reader, *s);
    check_filter_fields(engine.catalog(), {{"folder", "c01"}, {"tags", "all"}, {"path", "x"}, {"content_type", "drum"}});
    auto [kind, message] = error_of([&] { check_filter_fields(engine.catalog(), {{"kind", "odd"}, {"genre", "x"}}); });
    CHECK(kind == ErrorKind::usage);
    CHECK_MESSAGE(contains(message, "--filter genre: no such field"), message);
    CHECK_MESSAGE(contains(message, "folder, tags, path, content_type, kind"), message);
}

TEST_SUITE_END();
