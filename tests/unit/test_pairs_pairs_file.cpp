// lib/pairs/pairs_file: the stored pairs and the typed parameters that produced them.
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "pairs/pairs_file.hpp"
#include "store/h5.hpp"
#include "support.hpp"

using namespace audiosim;
using audiosim::test::error_of;
using audiosim::test::TempFolder;

namespace {

const WriterStamp stamp{"audiosim pairs", 1, ""};

std::vector<FilePair> some_pairs() { return {{1, 2, 0.95f, "kick"}, {3, 4, 0.5f, ""}}; }

// A pairs file as version 1 wrote it: the parameters as one JSON string.
void write_version_1(const std::string& path, const std::string& parameters) {
    h5::File file = h5::File::create(path);
    write_stamp(file, pairs_format_name, 1, stamp);
    h5::write_string_attribute(file, file.id(), "embeddings", "sample/m-1");
    h5::write_string_attribute(file, file.id(), "parameters", parameters);
    h5::Handle group = file.create_group("pairs");
    h5::write_int_attribute(file, group.get(), "rows", 1);
    h5::write_column(file, group.get(), "file_a", std::vector<uint64_t>{5});
    h5::write_column(file, group.get(), "file_b", std::vector<uint64_t>{6});
    h5::write_column(file, group.get(), "score", std::vector<float>{0.8f});
    h5::write_string_column(file, group.get(), "group", std::vector<std::string>{"folder a"}, h5::Charset::bytes);
    file.close();
}

}  // namespace

TEST_CASE("pairs files keep the pairs and typed parameters") {
    TempFolder folder;
    const std::string path = folder.file("pairs.h5");
    const StoredPairs written{"sample/m-1", {25, 0.625, "folder", "exact (cpu)"}, some_pairs()};
    write_pairs_file(path, written, stamp);

    StoredPairs read = read_pairs_file(path);
    CHECK(read.embeddings == "sample/m-1");
    CHECK(read.parameters.k == 25);
    CHECK(read.parameters.min_score == 0.625);
    CHECK(read.parameters.group_by == "folder");
    CHECK(read.parameters.method == "exact (cpu)");
    REQUIRE(read.pairs.size() == 2);
    CHECK(read.pairs[0].a == 1);
    CHECK(read.pairs[0].b == 2);
    CHECK(read.pairs[0].score == 0.95f);
    CHECK(read.pairs[0].group == "kick");
    CHECK(read.pairs[1].group.empty());
    CHECK(read.parameters.to_json()["file_similarity"] == "cosine of L2-normalized mean chunk vectors");
}

TEST_CASE("a fusion's pairs file says how its scores are defined") {
    TempFolder folder;
    const std::string path = folder.file("pairs.h5");
    const std::string key = "oneshot/fusion+audiosim-dsp-3-37bf=2+aisfx-1-0a1b=1";
    CHECK(audiosim::file_similarity_of("sample/m-1") == "cosine of L2-normalized mean chunk vectors");
    CHECK(audiosim::file_similarity_of(key) ==
          "weighted mean over the models (MODEL_ID=WEIGHT in embeddings) of each one's cosine of L2-normalized mean chunk vectors");
    write_pairs_file(path, {key, {10, 0.7, "", "exact (cpu)", audiosim::file_similarity_of(key)}, some_pairs()}, stamp);
    StoredPairs read = read_pairs_file(path);
    CHECK(read.embeddings == key);
    CHECK(read.parameters.file_similarity == audiosim::file_similarity_of(key));
    CHECK(read.parameters.to_json().at("file_similarity") == audiosim::file_similarity_of(key));
}

TEST_CASE("version 1 pairs files are still read, their JSON parameters checked") {
    TempFolder folder;
    const std::string path = folder.file("v1.h5");
    write_version_1(path, R"json({"k": 10, "min_score": 0.7, "group_by": "tags", "method": "hnsw (M 16)"})json");
    StoredPairs read = read_pairs_file(path);
    CHECK(read.parameters.k == 10);
    CHECK(read.parameters.min_score == 0.7);
    CHECK(read.parameters.group_by == "tags");
    CHECK(read.parameters.method == "hnsw (M 16)");
    REQUIRE(read.pairs.size() == 1);
    CHECK(read.pairs[0].group == "folder a");

    write_version_1(path, R"({"k": "ten"})");
    auto [kind, message] = error_of([&] { read_pairs_file(path); });
    CHECK(kind == ErrorKind::format);
    CHECK(audiosim::test::contains(message, path));
    CHECK(audiosim::test::contains(message, "parameters"));
}

TEST_CASE("a pairs file of a newer version or of another format is refused, naming the file") {
    TempFolder folder;
    const std::string path = folder.file("pairs.h5");
    write_pairs_file(path, {"sample/m-1", {10, 0.7, "", "hnsw"}, some_pairs()}, stamp);
    audiosim::test::set_root_int_attribute(path, "format_version", pairs_format_version + 1);
    auto [kind, message] = error_of([&] { read_pairs_file(path); });
    CHECK(kind == ErrorKind::format);
    CHECK(audiosim::test::contains(message, "this audiosim reads versions 1 to 2"));

    h5::File other = h5::File::create(path);
    write_stamp(other, "audiosim-catalog", 1, stamp);
    other.close();
    CHECK(error_of([&] { read_pairs_file(path); }).first == ErrorKind::format);
}
