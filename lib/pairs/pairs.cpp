#include "pairs/pairs.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <numeric>
#include <regex>
#include <set>
#include <thread>
#include <tuple>
#include <unordered_map>

#include <fmt/format.h>

#include "util/error.hpp"

namespace audiosim {

namespace {

std::string trimmed(const std::string& text) {
    auto first = text.find_first_not_of(" \t");
    if (first == std::string::npos) return "";
    return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

// Union-find over dense indexes.
class Components {
public:
    explicit Components(size_t n) : parent_(n) { std::iota(parent_.begin(), parent_.end(), size_t{0}); }
    size_t find(size_t x) {
        while (parent_[x] != x) x = parent_[x] = parent_[parent_[x]];
        return x;
    }
    void join(size_t a, size_t b) {
        a = find(a), b = find(b);
        if (a != b) parent_[std::max(a, b)] = std::min(a, b);
    }

private:
    std::vector<size_t> parent_;
};

// k + 1 neighbours of every row of `vectors` (the row itself is among them), the same for any
// number of threads.
std::vector<Neighbours> neighbours_of_all(const std::vector<uint64_t>& ids, const std::vector<float>& vectors, size_t dim,
                                          size_t k, const PairOptions& options, std::string& method) {
    const size_t n = ids.size();
    if (options.exact) {
        auto searcher = options.exact_factory ? options.exact_factory(ids, vectors, dim)
                                              : make_cpu_exact_search(ids, vectors, dim, options.threads);
        method = "exact (" + searcher->device() + ")";
        return searcher->search(vectors.data(), n, k + 1);
    }
    if (n <= options.exact_up_to_files) {
        method = fmt::format("exact (cpu: {} files, at most {} take no index)", n, options.exact_up_to_files);
        return make_cpu_exact_search(ids, vectors, dim, options.threads)->search(vectors.data(), n, k + 1);
    }
    IndexHeader header;
    header.model_id = "file vectors";
    header.profile = "pairs";
    header.dim = dim;
    header.params = options.index_params;
    // Built on one thread: a graph built on several depends on their scheduling, and so would
    // the neighbours found and the pairs kept. The searches below still run on `threads`.
    HnswIndex index = HnswIndex::build(header, ids, vectors, 1);
    index.set_ef(std::max(options.index_params.ef_search, k + 1));
    method = fmt::format("hnsw (M {}, ef_construction {}, ef {})", options.index_params.M,
                         options.index_params.ef_construction, std::max(options.index_params.ef_search, k + 1));
    std::vector<Neighbours> result(n);
    std::atomic<size_t> next{0};
    std::vector<std::thread> workers;
    for (unsigned t = 0; t < std::max(options.threads, 1u); ++t)
        workers.emplace_back([&] {
            for (size_t i = next++; i < n; i = next++) result[i] = index.search(vectors.data() + i * dim, k + 1);
        });
    for (auto& worker : workers) worker.join();
    return result;
}

int depth_of(const std::string& codec) {
    if (codec == "PCM_S8" || codec == "PCM_U8" || codec == "ULAW" || codec == "ALAW") return 8;
    if (codec == "PCM_16") return 16;
    if (codec == "PCM_24") return 24;
    if (codec == "PCM_32" || codec == "FLOAT") return 32;
    if (codec == "DOUBLE") return 64;
    return 0;  // lossy codecs have no sample depth
}

bool lossy(const std::string& codec) {
    return codec == "VORBIS" || codec == "OPUS" || codec.rfind("MPEG_LAYER", 0) == 0 || codec == "GSM610" ||
           codec.find("ADPCM") != std::string::npos;
}

}  // namespace

std::vector<std::string> file_groups(const FileRecord& file, const std::string& field) {
    if (field == "folder") {
        auto slash = file.path.rfind('/');
        return {slash == std::string::npos ? "." : file.path.substr(0, slash)};
    }
    const std::string* value = file.metadata_value(field);
    if (!value || trimmed(*value).empty()) return {};
    if (field != "tags") return {*value};
    return split_tags(*value);
}

void check_group_field(const Catalog& catalog, const std::string& field) {
    if (!field.empty()) check_catalog_field(catalog, "--group-by", field, {"folder", "tags"});
}

FileVectorTable file_vector_table(const Catalog& catalog, const EmbeddingTable& embeddings) {
    FileVectorTable table;
    table.dim = embeddings.dim();
    std::vector<float> vector(table.dim);
    for (const FileRecord* file : catalog.records_sorted_by_path()) {
        if (file->status != FileStatus::ok) continue;
        auto embedded = embeddings.by_file().find(file->file_id);
        if (embedded == embeddings.by_file().end() || !mean_file_vector(embedded->second, table.dim, vector.data())) continue;
        table.ids.push_back(file->file_id);
        table.vectors.insert(table.vectors.end(), vector.begin(), vector.end());
    }
    return table;
}

float pair_score(const float* a, const float* b, size_t dim) {
    // Eight partial sums in a fixed order: the compiler can keep them in vector registers, and the
    // result does not depend on how the caller splits its work.
    double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t d = 0;
    for (; d + 8 <= dim; d += 8)
        for (size_t k = 0; k < 8; ++k) lanes[k] += static_cast<double>(a[d + k]) * static_cast<double>(b[d + k]);
    double sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
    for (; d < dim; ++d) sum += static_cast<double>(a[d]) * static_cast<double>(b[d]);
    return static_cast<float>(sum);
}

std::map<std::string, std::vector<size_t>> group_rows(const Catalog& catalog, const FileVectorTable& table,
                                                      const std::string& field) {
    std::map<std::string, std::vector<size_t>> groups;
    std::unordered_map<uint64_t, const FileRecord*> records;
    catalog.for_each([&](const FileRecord& file) { records[file.file_id] = &file; });
    for (size_t row = 0; row < table.ids.size(); ++row) {
        if (field.empty()) {
            groups[""].push_back(row);
            continue;
        }
        for (const std::string& group : file_groups(*records.at(table.ids[row]), field)) groups[group].push_back(row);
    }
    return groups;
}

PairsResult find_pairs(const Catalog& catalog, const EmbeddingTable& embeddings, const PairOptions& options) {
    auto start = std::chrono::steady_clock::now();
    if (options.k == 0) throw Error(ErrorKind::usage, "pairs: k must be positive");
    check_group_field(catalog, options.group_by);
    PairsResult result;
    FileVectorTable table = file_vector_table(catalog, embeddings);
    const size_t dim = table.dim;
    result.files = table.ids.size();
    catalog.for_each([&](const FileRecord& file) { result.files_without_vector += file.status == FileStatus::ok; });
    result.files_without_vector -= result.files;

    std::map<std::string, std::vector<size_t>> groups = group_rows(catalog, table, options.group_by);

    std::unordered_map<uint64_t, size_t> row_of;
    for (size_t row = 0; row < table.ids.size(); ++row) row_of[table.ids[row]] = row;
    for (const auto& [name, rows] : groups) {
        GroupSummary& summary = result.groups[name];
        summary.files = rows.size();
        if (rows.size() < 2) continue;
        // The searches label each file by its position in the group (path order), not its file id:
        // equal scores (files with the same content) are cut at k by path, so the pairs are the
        // same in every store of the same library, whatever order its files were ingested in.
        std::vector<uint64_t> positions(rows.size());
        std::iota(positions.begin(), positions.end(), uint64_t{0});
        std::vector<float> vectors;
        for (size_t row : rows)
            vectors.insert(vectors.end(), table.vectors.begin() + static_cast<std::ptrdiff_t>(row * dim),
                           table.vectors.begin() + static_cast<std::ptrdiff_t>((row + 1) * dim));
        std::vector<Neighbours> neighbours = neighbours_of_all(positions, vectors, dim, options.k, options, result.method);
        std::set<std::pair<size_t, size_t>> seen;  // table rows, lower first: each pair once
        double total = 0;
        for (size_t i = 0; i < rows.size(); ++i) {
            size_t taken = 0;
            for (const auto& [position, similarity] : neighbours[i]) {
                if (position == i) continue;
                if (taken++ == options.k) break;
                size_t a = rows[i], b = rows[static_cast<size_t>(position)];
                if (a > b) std::swap(a, b);
                // Scored again from the vectors: ANN and exact search then give a pair the same score.
                float score = pair_score(&table.vectors[a * dim], &table.vectors[b * dim], dim);
                if (score < options.min_score || !seen.emplace(a, b).second) continue;
                result.pairs.push_back({table.ids[a], table.ids[b], score, name});
                total += score;
            }
        }
        summary.pairs = seen.size();
        summary.mean_score = summary.pairs ? total / static_cast<double>(summary.pairs) : 0;
    }
    std::sort(result.pairs.begin(), result.pairs.end(), [&](const FilePair& x, const FilePair& y) {
        return std::make_tuple(-x.score, row_of.at(x.a), row_of.at(x.b), x.group) <
               std::make_tuple(-y.score, row_of.at(y.a), row_of.at(y.b), y.group);
    });
    if (result.method.empty()) result.method = options.exact ? "exact" : "hnsw";
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

namespace {

// How many marks of a copy a path carries, as file managers and browsers name copies: a "Copy of "
// prefix, or a suffix " copy", " copy 2" (Finder), " - Copy", " - Copy (2)" (Windows), "_copy",
// "-copy", " (1)" (downloads), "-2" to "-9"; not "-02" or "-1", which sample libraries number
// sounds with. Each folder and the file name (its extension aside) count, case ignored.
size_t copy_marks(const std::string& path) {
    static const std::regex prefix("^copy of ", std::regex::icase);
    static const std::regex suffix("(( - | |_|-)copy( [0-9]+)?( \\([0-9]+\\))?| \\([0-9]+\\)|-[2-9])$", std::regex::icase);
    size_t marks = 0;
    for (size_t start = 0; start <= path.size();) {
        size_t end = std::min(path.find('/', start), path.size());
        std::string name = path.substr(start, end - start);
        if (end == path.size()) name = name.substr(0, name.rfind('.'));
        marks += static_cast<size_t>(std::regex_search(name, prefix)) + static_cast<size_t>(std::regex_search(name, suffix));
        start = end + 1;
    }
    return marks;
}

}  // namespace

bool better_keeper(const FileRecord& a, const FileRecord& b) {
    auto rank = [](const FileRecord& f) {
        return std::make_tuple(!lossy(f.audio.codec), f.audio.sample_rate, depth_of(f.audio.codec), f.audio.channels,
                               f.audio.duration);
    };
    if (rank(a) != rank(b)) return rank(a) > rank(b);
    // The same sound at the same quality: the original is likelier the older file, the one not
    // named as a copy, the shorter path (a copy's name tends to grow); the path order decides the rest.
    auto origin = [](const FileRecord& f) {
        return std::make_tuple(f.mtime_ns, copy_marks(f.path), f.path.size(), std::cref(f.path));
    };
    return origin(a) < origin(b);
}

namespace {

// Dense indexes for the ok files of the catalog, in path order.
struct FileIndex {
    std::vector<const FileRecord*> files;
    std::unordered_map<uint64_t, size_t> of_id;
    explicit FileIndex(const Catalog& catalog) {
        for (const FileRecord* file : catalog.records_sorted_by_path())
            if (file->status == FileStatus::ok) {
                of_id[file->file_id] = files.size();
                files.push_back(file);
            }
    }
};

}  // namespace

std::vector<DuplicateCluster> duplicate_clusters(
    const Catalog& catalog, const std::vector<FilePair>& pairs, double near_threshold,
    const std::function<bool(const FileRecord&, const FileRecord&)>& same_sound) {
    FileIndex index(catalog);
    Components components(index.files.size());
    std::unordered_map<uint64_t, size_t> first_with_hash;
    for (size_t i = 0; i < index.files.size(); ++i) {
        auto [it, fresh] = first_with_hash.emplace(index.files[i]->hash, i);
        if (!fresh) components.join(it->second, i);
    }
    std::vector<const FilePair*> joining;
    for (const FilePair& pair : pairs) {
        auto a = index.of_id.find(pair.a), b = index.of_id.find(pair.b);
        if (pair.score < near_threshold || a == index.of_id.end() || b == index.of_id.end()) continue;
        if (components.find(a->second) == components.find(b->second)) continue;  // joined already: no need to check
        if (same_sound && !same_sound(*index.files[a->second], *index.files[b->second])) continue;
        components.join(a->second, b->second);
        joining.push_back(&pair);
    }
    std::map<size_t, DuplicateCluster> by_root;
    for (size_t i = 0; i < index.files.size(); ++i) by_root[components.find(i)].files.push_back(index.files[i]->file_id);
    for (const FilePair* pair : joining) {
        DuplicateCluster& cluster = by_root[components.find(index.of_id.at(pair->a))];
        cluster.min_score = std::min(cluster.min_score, pair->score);
    }
    std::vector<DuplicateCluster> clusters;
    for (auto& [root, cluster] : by_root) {
        if (cluster.files.size() < 2) continue;
        const FileRecord* keeper = nullptr;
        cluster.exact_only = true;
        for (uint64_t id : cluster.files) {
            const FileRecord* file = index.files[index.of_id.at(id)];
            if (!keeper || better_keeper(*file, *keeper)) keeper = file;
            cluster.exact_only = cluster.exact_only && file->hash == index.files[index.of_id.at(cluster.files[0])]->hash;
        }
        // A copy: C++17 lambdas cannot capture a structured binding (clang refuses, GCC lets it pass).
        const uint64_t keeper_id = keeper->file_id;
        cluster.keeper = keeper_id;
        std::stable_partition(cluster.files.begin(), cluster.files.end(), [keeper_id](uint64_t id) { return id == keeper_id; });
        clusters.push_back(std::move(cluster));
    }
    std::sort(clusters.begin(), clusters.end(), [&](const DuplicateCluster& x, const DuplicateCluster& y) {
        return index.of_id.at(x.keeper) < index.of_id.at(y.keeper);
    });
    return clusters;
}

std::vector<std::vector<uint64_t>> pair_components(const Catalog& catalog, const std::vector<FilePair>& pairs,
                                                   double min_score) {
    FileIndex index(catalog);
    Components components(index.files.size());
    std::vector<bool> paired(index.files.size(), false);
    for (const FilePair& pair : pairs) {
        auto a = index.of_id.find(pair.a), b = index.of_id.find(pair.b);
        if (pair.score < min_score || a == index.of_id.end() || b == index.of_id.end()) continue;
        components.join(a->second, b->second);
        paired[a->second] = paired[b->second] = true;
    }
    std::map<size_t, std::vector<uint64_t>> by_root;
    for (size_t i = 0; i < index.files.size(); ++i)
        if (paired[i]) by_root[components.find(i)].push_back(index.files[i]->file_id);
    std::vector<std::vector<uint64_t>> result;
    for (auto& [root, members] : by_root) result.push_back(std::move(members));
    std::stable_sort(result.begin(), result.end(), [](const auto& x, const auto& y) { return x.size() > y.size(); });
    return result;
}

}  // namespace audiosim
