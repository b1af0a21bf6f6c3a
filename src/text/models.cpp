// The models of tokenizer.json: BPE, WordPiece, Unigram, WordLevel.
#include "components.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <mutex>
#include <queue>
#include <unordered_map>

namespace ctt::text::detail {

namespace {

struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};
using vocab_map = std::unordered_map<std::string, std::uint32_t, string_hash, std::equal_to<>>;

void check_model_keys(const json& j, const std::string& path,
                      std::initializer_list<const char*> known) {
    for (const auto& [key, value] : j.items()) {
        if (key == "type")
            continue;
        bool ok = false;
        for (const char* k : known)
            ok = ok || key == k;
        if (!ok)
            fail(path + "." + key,
                 "unknown option \"" + key + "\" of model " + j.value("type", "?"));
    }
}

std::optional<std::string> optional_string(const json& j, const char* key,
                                           const std::string& path) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null())
        return std::nullopt;
    if (!it->is_string())
        fail(path + "." + key, "expected a string or null");
    return it->get<std::string>();
}

bool optional_bool(const json& j, const char* key, const std::string& path, bool fallback) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null())
        return fallback;
    if (!it->is_boolean())
        fail(path + "." + key, "expected true or false");
    return it->get<bool>();
}

/** A `{"token": id}` vocabulary, with the reverse table. */
struct vocabulary {
    vocab_map to_id;
    std::vector<std::string> by_id;
    std::vector<std::uint8_t> present;

    void load(const json& j, const std::string& path) {
        if (!j.is_object())
            fail(path, "expected an object of token: id");
        to_id.reserve(j.size());
        for (const auto& [token, id] : j.items()) {
            if (!id.is_number_unsigned())
                fail(path + "." + token, "expected a non-negative id");
            add(token, id.get<std::uint32_t>(), path);
        }
    }
    void add(const std::string& token, std::uint32_t id, const std::string& path) {
        if (id > (1u << 26))
            fail(path, "id " + std::to_string(id) + " is implausibly large");
        to_id[token] = id;
        if (by_id.size() <= id) {
            by_id.resize(id + 1);
            present.resize(id + 1);
        }
        by_id[id] = token;
        present[id] = 1;
    }
    std::optional<std::uint32_t> find(std::string_view s) const {
        auto it = to_id.find(s);
        if (it == to_id.end())
            return std::nullopt;
        return it->second;
    }
    const std::string* token(std::uint32_t id) const {
        return id < by_id.size() && present[id] ? &by_id[id] : nullptr;
    }
};

// ---------------------------------------------------------------------------------------------
// BPE: merges applied lowest rank first with a priority queue over adjacent symbol pairs
// (tokenizers/src/models/bpe/word.rs), words cached.

/** Pair of ids -> (rank, merged id): open addressing with linear probing, one cache line per
    probe run, instead of std::unordered_map's bucket + node indirection (the merge lookups are
    most of the BPE time). */
class merge_table {
public:
    using value = std::pair<std::uint32_t, std::uint32_t>;
    void reserve(std::size_t n) {
        if (size_ != 0)
            return; // only before the first insertion
        std::size_t cap = 16;
        while (cap < 2 * n)
            cap *= 2;
        slots_.assign(cap, slot{empty_key, {0, 0}});
        mask_ = cap - 1;
    }
    void insert_or_assign(std::uint64_t key, value v) {
        if (slots_.empty() || 2 * (size_ + 1) > slots_.size())
            grow();
        for (std::size_t i = index(key);; i = (i + 1) & mask_) {
            if (slots_[i].key == key) {
                slots_[i].v = v;
                return;
            }
            if (slots_[i].key == empty_key) {
                slots_[i] = slot{key, v};
                ++size_;
                return;
            }
        }
    }
    [[nodiscard]] const value* find(std::uint64_t key) const {
        if (slots_.empty())
            return nullptr;
        for (std::size_t i = index(key);; i = (i + 1) & mask_) {
            if (slots_[i].key == key)
                return &slots_[i].v;
            if (slots_[i].key == empty_key)
                return nullptr;
        }
    }

private:
    static constexpr std::uint64_t empty_key = ~std::uint64_t{0};
    struct slot {
        std::uint64_t key;
        value v;
    };
    static_assert(sizeof(slot) == 16);
    [[nodiscard]] std::size_t index(std::uint64_t key) const {
        return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> 20) & mask_;
    }
    void grow() {
        std::vector<slot> old = std::move(slots_);
        size_ = 0;
        reserve(std::max<std::size_t>(16, old.size()));
        for (const auto& s : old)
            if (s.key != empty_key)
                insert_or_assign(s.key, s.v);
    }
    std::vector<slot> slots_;
    std::size_t mask_ = 0, size_ = 0;
};

struct bpe_model final : model {
    vocabulary vocab;
    merge_table merges; // (left, right) -> rank, id
    std::optional<std::string> unk_token;
    std::optional<std::uint32_t> unk_id;
    std::string prefix, suffix;
    bool has_prefix = false, has_suffix = false;
    bool fuse_unk = false, byte_fallback = false, ignore_merges = false;
    bool split_at_metaspace = false; ///< see tokenize
    std::array<std::optional<std::uint32_t>, 256> byte_ids{};

    struct cached {
        std::vector<std::pair<std::uint32_t, std::uint32_t>> pieces; // id, byte length
    };
    mutable std::mutex cache_mutex;
    mutable std::unordered_map<std::string, cached, string_hash, std::equal_to<>> cache;
    static constexpr std::size_t cache_capacity = 10000;
    static constexpr std::size_t cache_max_word = 256;

    static std::uint64_t key(std::uint32_t a, std::uint32_t b) {
        return (static_cast<std::uint64_t>(a) << 32) | b;
    }

    struct symbol {
        std::uint32_t id;
        std::int32_t prev, next;
        std::uint32_t len;
    };

    void merge_word(std::string_view w, cached& out) const {
        std::vector<symbol> symbols;
        symbols.reserve(w.size());
        auto add = [&](std::uint32_t id, std::size_t len) {
            const auto n = static_cast<std::int32_t>(symbols.size());
            symbols.push_back({id, n - 1, n + 1, static_cast<std::uint32_t>(len)});
        };
        bool has_unk = false;
        std::uint32_t pending_unk = 0;
        std::size_t pending_unk_len = 0;
        std::string scratch;
        for (std::size_t i = 0; i < w.size();) {
            const std::size_t b = i;
            i += utf8_length(static_cast<unsigned char>(w[i]));
            const bool is_first = b == 0, is_last = i >= w.size();
            const std::size_t byte_len = i - b;
            std::string_view s = w.substr(b, byte_len);
            if ((!is_first && has_prefix) || (is_last && has_suffix)) {
                scratch.clear();
                if (!is_first && has_prefix)
                    scratch += prefix;
                scratch += s;
                if (is_last && has_suffix)
                    scratch += suffix;
                s = scratch;
            }
            if (auto id = vocab.find(s)) {
                if (has_unk) {
                    add(pending_unk, pending_unk_len);
                    has_unk = false;
                }
                add(*id, byte_len);
                continue;
            }
            if (byte_fallback) {
                bool all = true;
                for (const char ch : s)
                    all = all && byte_ids[static_cast<unsigned char>(ch)].has_value();
                if (all) {
                    for (const char ch : s)
                        add(*byte_ids[static_cast<unsigned char>(ch)], 1);
                    continue;
                }
            }
            if (unk_token) {
                if (!unk_id)
                    throw tokenizer_error("BPE: unk_token \"" + *unk_token +
                                          "\" is not in the vocabulary");
                if (has_unk && fuse_unk) {
                    pending_unk_len += byte_len;
                } else {
                    if (has_unk)
                        add(pending_unk, pending_unk_len);
                    has_unk = true;
                    pending_unk = *unk_id;
                    pending_unk_len = byte_len;
                }
            }
        }
        if (has_unk)
            add(pending_unk, pending_unk_len);
        if (!symbols.empty())
            symbols.back().next = -1;

        struct merge {
            std::uint32_t rank;
            std::uint32_t pos;
            std::uint32_t new_id;
            bool operator<(const merge& o) const {
                return rank != o.rank ? rank > o.rank : pos > o.pos; // min-heap
            }
        };
        std::priority_queue<merge> queue;
        auto lookup = [&](std::uint32_t a, std::uint32_t b) { return merges.find(key(a, b)); };
        for (std::size_t k = 0; k + 1 < symbols.size(); ++k)
            if (auto m = lookup(symbols[k].id, symbols[k + 1].id))
                queue.push({m->first, static_cast<std::uint32_t>(k), m->second});
        while (!queue.empty()) {
            const merge top = queue.top();
            queue.pop();
            symbol& cur = symbols[top.pos];
            if (cur.len == 0 || cur.next < 0)
                continue;
            const auto next_pos = static_cast<std::size_t>(cur.next);
            const symbol right = symbols[next_pos];
            const auto* m = lookup(cur.id, right.id);
            if (!m || m->second != top.new_id)
                continue;
            cur.id = top.new_id;
            cur.len += right.len;
            cur.next = right.next;
            symbols[next_pos].len = 0;
            if (right.next >= 0 && static_cast<std::size_t>(right.next) < symbols.size())
                symbols[static_cast<std::size_t>(right.next)].prev =
                    static_cast<std::int32_t>(top.pos);
            if (cur.prev >= 0) {
                const symbol& p = symbols[static_cast<std::size_t>(cur.prev)];
                if (auto pm = lookup(p.id, cur.id))
                    queue.push({pm->first, static_cast<std::uint32_t>(cur.prev), pm->second});
            }
            if (cur.next >= 0 && static_cast<std::size_t>(cur.next) < symbols.size()) {
                const symbol& n = symbols[static_cast<std::size_t>(cur.next)];
                if (auto nm = lookup(cur.id, n.id))
                    queue.push({nm->first, top.pos, nm->second});
            }
        }
        out.pieces.clear();
        for (const auto& s : symbols)
            if (s.len != 0)
                out.pieces.emplace_back(s.id, s.len);
    }

    void emit(const cached& c, std::vector<model_token>& out, std::size_t base) const {
        std::size_t offset = base;
        for (const auto& [id, len] : c.pieces) {
            const std::string* t = vocab.token(id);
            out.push_back({id, t ? *t : std::string(), offset, offset + len});
            offset += len;
        }
    }

    void tokenize(std::string_view word, std::vector<model_token>& out) const override {
        if (word.empty())
            return;
        if (ignore_merges) {
            if (auto id = vocab.find(word)) {
                out.push_back({*id, std::string(word), 0, word.size()});
                return;
            }
        }
        if (!split_at_metaspace) {
            tokenize_chunk(word, 0, out);
            return;
        }
        // No merge can join a character to a "▁" after it (checked at load), so the word is
        // merged chunk by chunk, each chunk a run of "▁" and what follows up to the next one:
        // the same tokens, and short chunks the cache can hold.
        constexpr std::string_view meta = "\xE2\x96\x81";
        std::size_t start = 0;
        for (std::size_t p = word.find(meta, 1); p != std::string_view::npos;
             p = word.find(meta, p + meta.size())) {
            if (p >= meta.size() && word.substr(p - meta.size(), meta.size()) == meta)
                continue;
            tokenize_chunk(word.substr(start, p - start), start, out);
            start = p;
        }
        tokenize_chunk(word.substr(start), start, out);
    }

    void tokenize_chunk(std::string_view word, std::size_t base,
                        std::vector<model_token>& out) const {
        if (word.empty())
            return;
        {
            std::lock_guard lock(cache_mutex);
            auto it = cache.find(word);
            if (it != cache.end()) {
                emit(it->second, out, base);
                return;
            }
        }
        cached c;
        merge_word(word, c);
        emit(c, out, base);
        if (word.size() < cache_max_word) {
            std::lock_guard lock(cache_mutex);
            if (cache.size() < cache_capacity)
                cache.emplace(std::string(word), std::move(c));
        }
    }
    std::optional<std::uint32_t> token_to_id(std::string_view t) const override {
        return vocab.find(t);
    }
    const std::string* id_to_token(std::uint32_t id) const override { return vocab.token(id); }
    std::size_t vocab_size() const override { return vocab.by_id.size(); }
    std::size_t entry_count() const override { return vocab.to_id.size(); }
};

std::unique_ptr<model> make_bpe(const json& j, const std::string& path) {
    check_model_keys(j, path,
                     {"dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix",
                      "fuse_unk", "byte_fallback", "ignore_merges", "vocab", "merges"});
    auto m = std::make_unique<bpe_model>();
    if (j.contains("dropout") && !j["dropout"].is_null()) {
        if (!j["dropout"].is_number())
            fail(path + ".dropout", "expected a number or null");
        const double d = j["dropout"].get<double>();
        if (d != 0.0)
            fail(path + ".dropout",
                 "BPE dropout " + std::to_string(d) + " is not supported (only null)");
    }
    m->unk_token = optional_string(j, "unk_token", path);
    if (auto p = optional_string(j, "continuing_subword_prefix", path)) {
        m->prefix = *p;
        m->has_prefix = true;
    }
    if (auto s = optional_string(j, "end_of_word_suffix", path)) {
        m->suffix = *s;
        m->has_suffix = true;
    }
    m->fuse_unk = optional_bool(j, "fuse_unk", path, false);
    m->byte_fallback = optional_bool(j, "byte_fallback", path, false);
    m->ignore_merges = optional_bool(j, "ignore_merges", path, false);
    if (!j.contains("vocab"))
        fail(path + ".vocab", "missing");
    m->vocab.load(j["vocab"], path + ".vocab");
    if (m->unk_token)
        m->unk_id = m->vocab.find(*m->unk_token);
    for (int b = 0; b < 256; ++b) {
        static const char* hex = "0123456789ABCDEF";
        std::string code = "<0x";
        code += hex[b >> 4];
        code += hex[b & 15];
        code += '>';
        m->byte_ids[static_cast<std::size_t>(b)] = m->vocab.find(code);
    }
    // SentencePiece-style vocabularies never hold a "▁" after another character, so words can
    // be merged in "▁" chunks (an exact shortcut; off when any token breaks the rule).
    if (!m->has_prefix && !m->has_suffix && m->vocab.find("\xE2\x96\x81")) {
        constexpr std::string_view meta = "\xE2\x96\x81";
        bool ok = true;
        for (const auto& [token, id] : m->vocab.to_id) {
            for (std::size_t p = token.find(meta, 1); ok && p != std::string::npos;
                 p = token.find(meta, p + meta.size()))
                ok = p >= meta.size() &&
                     std::string_view(token).substr(p - meta.size(), meta.size()) == meta;
            if (!ok)
                break;
        }
        m->split_at_metaspace = ok;
    }
    const std::size_t prefix_len = m->has_prefix ? m->prefix.size() : 0;
    if (j.contains("merges")) {
        const auto& merges = j["merges"];
        if (!merges.is_array())
            fail(path + ".merges", "expected an array");
        m->merges.reserve(merges.size());
        for (std::size_t i = 0; i < merges.size(); ++i) {
            const std::string p = path + ".merges[" + std::to_string(i) + "]";
            const auto& e = merges[i];
            std::string a, b;
            if (e.is_string()) {
                const auto s = e.get<std::string>();
                const auto space = s.find(' ');
                if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
                    fail(p,
                         "a merge string must be two tokens separated by one space: \"" + s + "\"");
                a = s.substr(0, space);
                b = s.substr(space + 1);
            } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
                a = e[0].get<std::string>();
                b = e[1].get<std::string>();
            } else {
                fail(p, "expected \"a b\" or [\"a\", \"b\"]");
            }
            const auto ia = m->vocab.find(a), ib = m->vocab.find(b);
            if (!ia)
                fail(p, "merge token \"" + a + "\" is not in the vocabulary");
            if (!ib)
                fail(p, "merge token \"" + b + "\" is not in the vocabulary");
            if (b.size() < prefix_len)
                fail(p, "merge token \"" + b + "\" is shorter than the subword prefix");
            const std::string merged = a + b.substr(prefix_len);
            const auto im = m->vocab.find(merged);
            if (!im)
                fail(p, "merged token \"" + merged + "\" is not in the vocabulary");
            m->merges.insert_or_assign(bpe_model::key(*ia, *ib),
                                       {static_cast<std::uint32_t>(i), *im});
        }
    }
    return m;
}

// ---------------------------------------------------------------------------------------------
// WordPiece: greedy longest match first (tokenizers/src/models/wordpiece/mod.rs).

struct wordpiece_model final : model {
    vocabulary vocab;
    std::string unk_token = "[UNK]";
    std::string prefix = "##";
    std::size_t max_chars = 100;

    std::uint32_t unk() const {
        auto id = vocab.find(unk_token);
        if (!id)
            throw tokenizer_error("WordPiece: unk_token \"" + unk_token +
                                  "\" is not in the vocabulary");
        return *id;
    }
    void tokenize(std::string_view word, std::vector<model_token>& out) const override {
        std::size_t chars = 0;
        for (std::size_t i = 0; i < word.size();
             i += utf8_length(static_cast<unsigned char>(word[i])))
            ++chars;
        if (chars > max_chars) {
            out.push_back({unk(), unk_token, 0, word.size()});
            return;
        }
        const std::size_t first = out.size();
        std::string candidate;
        std::size_t start = 0;
        while (start < word.size()) {
            std::size_t end = word.size();
            bool found = false;
            while (start < end) {
                candidate.clear();
                if (start > 0)
                    candidate += prefix;
                candidate += word.substr(start, end - start);
                if (auto id = vocab.find(candidate)) {
                    out.push_back({*id, candidate, start, end});
                    found = true;
                    break;
                }
                // Step back one character.
                do {
                    --end;
                } while (end > start && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80);
            }
            if (!found) {
                out.resize(first);
                out.push_back({unk(), unk_token, 0, word.size()});
                return;
            }
            start = end;
        }
    }
    std::optional<std::uint32_t> token_to_id(std::string_view t) const override {
        return vocab.find(t);
    }
    const std::string* id_to_token(std::uint32_t id) const override { return vocab.token(id); }
    std::size_t vocab_size() const override { return vocab.by_id.size(); }
    std::size_t entry_count() const override { return vocab.to_id.size(); }
};

std::unique_ptr<model> make_wordpiece(const json& j, const std::string& path) {
    check_model_keys(
        j, path, {"unk_token", "continuing_subword_prefix", "max_input_chars_per_word", "vocab"});
    auto m = std::make_unique<wordpiece_model>();
    if (auto u = optional_string(j, "unk_token", path))
        m->unk_token = *u;
    if (auto p = optional_string(j, "continuing_subword_prefix", path))
        m->prefix = *p;
    if (j.contains("max_input_chars_per_word")) {
        if (!j["max_input_chars_per_word"].is_number_unsigned())
            fail(path + ".max_input_chars_per_word", "expected a non-negative integer");
        m->max_chars = j["max_input_chars_per_word"].get<std::size_t>();
    }
    if (!j.contains("vocab"))
        fail(path + ".vocab", "missing");
    m->vocab.load(j["vocab"], path + ".vocab");
    return m;
}

// ---------------------------------------------------------------------------------------------
// WordLevel: one id per pre-token.

struct wordlevel_model final : model {
    vocabulary vocab;
    std::string unk_token = "<unk>";
    void tokenize(std::string_view word, std::vector<model_token>& out) const override {
        if (auto id = vocab.find(word)) {
            out.push_back({*id, std::string(word), 0, word.size()});
            return;
        }
        auto unk = vocab.find(unk_token);
        if (!unk)
            throw tokenizer_error("WordLevel: unk_token \"" + unk_token +
                                  "\" is not in the vocabulary");
        out.push_back({*unk, unk_token, 0, word.size()});
    }
    std::optional<std::uint32_t> token_to_id(std::string_view t) const override {
        return vocab.find(t);
    }
    const std::string* id_to_token(std::uint32_t id) const override { return vocab.token(id); }
    std::size_t vocab_size() const override { return vocab.by_id.size(); }
    std::size_t entry_count() const override { return vocab.to_id.size(); }
};

std::unique_ptr<model> make_wordlevel(const json& j, const std::string& path) {
    check_model_keys(j, path, {"unk_token", "vocab"});
    auto m = std::make_unique<wordlevel_model>();
    if (auto u = optional_string(j, "unk_token", path))
        m->unk_token = *u;
    if (!j.contains("vocab"))
        fail(path + ".vocab", "missing");
    m->vocab.load(j["vocab"], path + ".vocab");
    return m;
}

// ---------------------------------------------------------------------------------------------
// Unigram: Viterbi over the piece scores, a byte trie for the common-prefix search
// (tokenizers/src/models/unigram/model.rs `encode_optimized`, SentencePiece's unigram model).

struct unigram_model final : model {
    std::vector<std::string> pieces;
    std::vector<double> scores;
    vocab_map to_id;
    std::optional<std::uint32_t> unk_id;
    bool byte_fallback = false;
    double min_score = std::numeric_limits<double>::infinity();
    static constexpr double unk_penalty = 10.0;

    // Trie: node 0 is the root; children by (node << 8 | byte).
    std::unordered_map<std::uint64_t, std::uint32_t> children;
    std::vector<std::int32_t> node_piece; // piece id ending at the node, or -1
    std::array<bool, 256> first_byte{};

    mutable std::mutex cache_mutex;
    mutable std::unordered_map<std::string, std::vector<std::pair<std::uint32_t, std::uint32_t>>,
                               string_hash, std::equal_to<>>
        cache; // word -> (piece id or unk marker, byte length)
    static constexpr std::size_t cache_capacity = 10000;

    void build_trie() {
        node_piece.assign(1, -1);
        for (std::size_t id = 0; id < pieces.size(); ++id) {
            std::uint32_t node = 0;
            const auto& p = pieces[id];
            if (p.empty())
                continue;
            first_byte[static_cast<unsigned char>(p[0])] = true;
            for (const char ch : p) {
                const std::uint64_t k =
                    (static_cast<std::uint64_t>(node) << 8) | static_cast<unsigned char>(ch);
                auto it = children.find(k);
                if (it == children.end()) {
                    const auto n = static_cast<std::uint32_t>(node_piece.size());
                    node_piece.push_back(-1);
                    children.emplace(k, n);
                    node = n;
                } else {
                    node = it->second;
                }
            }
            if (node_piece[node] < 0)
                node_piece[node] = static_cast<std::int32_t>(id);
        }
    }

    /** Viterbi best path: (id, length) per piece; unknown runs fused into one unk piece. */
    void viterbi(std::string_view s,
                 std::vector<std::pair<std::uint32_t, std::uint32_t>>& result) const {
        struct node {
            std::uint32_t id = 0;
            double score = 0;
            std::int64_t starts_at = -1;
        };
        const std::size_t size = s.size();
        const double unk_score = min_score - unk_penalty;
        std::vector<node> best(size + 1);
        for (std::size_t start = 0; start < size;) {
            const double here = best[start].score;
            const std::size_t mblen = utf8_length(static_cast<unsigned char>(s[start]));
            bool has_single = false;
            if (first_byte[static_cast<unsigned char>(s[start])]) {
                std::uint32_t n = 0;
                for (std::size_t k = start; k < size; ++k) {
                    auto it = children.find((static_cast<std::uint64_t>(n) << 8) |
                                            static_cast<unsigned char>(s[k]));
                    if (it == children.end())
                        break;
                    n = it->second;
                    const std::int32_t id = node_piece[n];
                    if (id < 0)
                        continue;
                    const std::size_t end = k + 1;
                    const double cand = scores[static_cast<std::size_t>(id)] + here;
                    node& target = best[end];
                    if (target.starts_at < 0 || cand > target.score) {
                        target.score = cand;
                        target.starts_at = static_cast<std::int64_t>(start);
                        target.id = static_cast<std::uint32_t>(id);
                    }
                    if (end - start == mblen)
                        has_single = true;
                }
            }
            if (!has_single) {
                if (!unk_id)
                    throw tokenizer_error(
                        "Unigram: a character has no piece and the model has no unk_id");
                node& target = best[start + mblen];
                const double cand = unk_score + here;
                if (target.starts_at < 0 || cand > target.score) {
                    target.score = cand;
                    target.starts_at = static_cast<std::int64_t>(start);
                    target.id = *unk_id;
                }
            }
            start += mblen;
        }
        result.clear();
        std::size_t end = size;
        std::size_t unk_len = 0;
        while (end > 0) {
            const node& n = best[end];
            const auto start = static_cast<std::size_t>(n.starts_at);
            if (unk_id && n.id == *unk_id) {
                unk_len += end - start;
            } else {
                if (unk_len) {
                    result.emplace_back(*unk_id, static_cast<std::uint32_t>(unk_len));
                    unk_len = 0;
                }
                result.emplace_back(n.id, static_cast<std::uint32_t>(end - start));
            }
            end = start;
        }
        if (unk_len)
            result.emplace_back(*unk_id, static_cast<std::uint32_t>(unk_len));
        std::reverse(result.begin(), result.end());
    }

    void tokenize(std::string_view word, std::vector<model_token>& out) const override {
        if (word.empty())
            return;
        std::vector<std::pair<std::uint32_t, std::uint32_t>> path;
        bool hit = false;
        {
            std::lock_guard lock(cache_mutex);
            auto it = cache.find(word);
            if (it != cache.end()) {
                path = it->second;
                hit = true;
            }
        }
        if (!hit) {
            viterbi(word, path);
            if (word.size() < 256) {
                std::lock_guard lock(cache_mutex);
                if (cache.size() < cache_capacity)
                    cache.emplace(std::string(word), path);
            }
        }
        std::size_t offset = 0;
        for (const auto& [id, len] : path) {
            const std::string_view piece = word.substr(offset, len);
            auto known = to_id.find(piece);
            if (known != to_id.end()) {
                out.push_back({known->second, std::string(piece), offset, offset + len});
            } else {
                bool done = false;
                if (byte_fallback) {
                    std::vector<model_token> bytes;
                    for (const char ch : piece) {
                        static const char* hex = "0123456789ABCDEF";
                        const auto b = static_cast<unsigned char>(ch);
                        std::string code = "<0x";
                        code += hex[b >> 4];
                        code += hex[b & 15];
                        code += '>';
                        auto bid = to_id.find(code);
                        if (bid == to_id.end())
                            break;
                        bytes.push_back({bid->second, code, offset, offset + len});
                    }
                    if (bytes.size() == piece.size()) {
                        out.insert(out.end(), bytes.begin(), bytes.end());
                        done = true;
                    }
                }
                if (!done) {
                    if (!unk_id)
                        throw tokenizer_error("Unigram: unknown piece and no unk_id");
                    out.push_back({*unk_id, std::string(piece), offset, offset + len});
                }
            }
            offset += len;
        }
    }
    std::optional<std::uint32_t> token_to_id(std::string_view t) const override {
        auto it = to_id.find(t);
        if (it == to_id.end())
            return std::nullopt;
        return it->second;
    }
    const std::string* id_to_token(std::uint32_t id) const override {
        return id < pieces.size() ? &pieces[id] : nullptr;
    }
    std::size_t vocab_size() const override { return pieces.size(); }
};

std::unique_ptr<model> make_unigram(const json& j, const std::string& path) {
    check_model_keys(j, path, {"unk_id", "byte_fallback", "vocab"});
    auto m = std::make_unique<unigram_model>();
    const auto it = j.find("vocab");
    if (it == j.end() || !it->is_array())
        fail(path + ".vocab", "expected an array of [piece, score]");
    for (std::size_t i = 0; i < it->size(); ++i) {
        const auto& e = (*it)[i];
        const std::string p = path + ".vocab[" + std::to_string(i) + "]";
        if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number())
            fail(p, "expected [piece, score]");
        m->pieces.push_back(e[0].get<std::string>());
        const double score = e[1].get<double>();
        if (!std::isfinite(score))
            fail(p, "score is not finite");
        m->scores.push_back(score);
        m->to_id.emplace(m->pieces.back(), static_cast<std::uint32_t>(i));
        m->min_score = std::min(m->min_score, score);
    }
    if (j.contains("unk_id") && !j["unk_id"].is_null()) {
        if (!j["unk_id"].is_number_unsigned())
            fail(path + ".unk_id", "expected a non-negative integer");
        const auto u = j["unk_id"].get<std::uint64_t>();
        if (m->pieces.empty())
            fail(path + ".vocab", "empty vocabulary with an unk_id");
        if (u >= m->pieces.size())
            fail(path + ".unk_id", "unk_id " + std::to_string(u) + " is not in the vocabulary");
        m->unk_id = static_cast<std::uint32_t>(u);
    }
    m->byte_fallback = optional_bool(j, "byte_fallback", path, false);
    m->build_trie();
    return m;
}

} // namespace

std::unique_ptr<model> make_model(const json& j, const std::string& path) {
    if (!j.is_object())
        fail(path, "expected an object");
    std::string type;
    if (j.contains("type")) {
        if (!j["type"].is_string())
            fail(path + ".type", "expected a string");
        type = j["type"].get<std::string>();
    } else if (j.contains("merges")) {
        type = "BPE"; // the reference infers untyped models from their fields
    } else if (j.contains("vocab") && j["vocab"].is_array()) {
        type = "Unigram";
    } else if (j.contains("continuing_subword_prefix") || j.contains("max_input_chars_per_word")) {
        type = "WordPiece";
    } else {
        type = "WordLevel";
    }
    if (type == "BPE")
        return make_bpe(j, path);
    if (type == "WordPiece")
        return make_wordpiece(j, path);
    if (type == "WordLevel")
        return make_wordlevel(j, path);
    if (type == "Unigram")
        return make_unigram(j, path);
    fail(path + ".type", "unknown model type \"" + type + "\"");
}

} // namespace ctt::text::detail
