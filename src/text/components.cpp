// Normalizers, pre-tokenizers, post-processors and decoders of tokenizer.json.
#include "components.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <initializer_list>
#include <map>

namespace ctt::text::detail {

void fail(const std::string& path, const std::string& what) {
    throw tokenizer_error("tokenizer.json: " + path + ": " + what);
}

namespace {

// ---------------------------------------------------------------------------------------------
// JSON access with paths in the messages.

void check_object(const json& j, const std::string& path) {
    if (!j.is_object())
        fail(path, "expected an object");
}

/** Throws on a key outside `known` ("type" is always allowed). */
void check_keys(const json& j, const std::string& path, std::initializer_list<const char*> known) {
    for (const auto& [key, value] : j.items()) {
        if (key == "type")
            continue;
        bool ok = false;
        for (const char* k : known)
            ok = ok || key == k;
        if (!ok)
            fail(path + "." + key, "unknown option \"" + key + "\" of " + j.value("type", "?"));
    }
}

std::string get_string(const json& j, const char* key, const std::string& path) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string())
        fail(path + "." + key, "expected a string");
    return it->get<std::string>();
}

bool get_bool(const json& j, const char* key, const std::string& path, bool fallback) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null())
        return fallback;
    if (!it->is_boolean())
        fail(path + "." + key, "expected true or false");
    return it->get<bool>();
}

std::uint64_t get_uint(const json& j, const char* key, const std::string& path,
                       std::uint64_t fallback) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null())
        return fallback;
    if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<std::int64_t>() >= 0))
        fail(path + "." + key, "expected a non-negative integer");
    return it->get<std::uint64_t>();
}

const json& get_array(const json& j, const char* key, const std::string& path) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_array())
        fail(path + "." + key, "expected an array");
    return *it;
}

char32_t get_char(const json& j, const char* key, const std::string& path) {
    const std::string s = get_string(j, key, path);
    if (s.empty() || invalid_utf8_at(s) != std::string::npos)
        fail(path + "." + key, "expected one character");
    std::size_t i = 0;
    const char32_t c = next_code_point(s, i);
    if (i != s.size())
        fail(path + "." + key, "expected one character, got \"" + s + "\"");
    return c;
}

/** `{"String": "..."}` or `{"Regex": "..."}`. */
regex get_pattern(const json& j, const char* key, const std::string& path) {
    auto it = j.find(key);
    const std::string p = path + "." + key;
    if (it == j.end() || !it->is_object() || it->size() != 1)
        fail(p, "expected {\"String\": ...} or {\"Regex\": ...}");
    try {
        if (it->contains("String") && (*it)["String"].is_string())
            return regex((*it)["String"].get<std::string>(), true);
        if (it->contains("Regex") && (*it)["Regex"].is_string())
            return regex((*it)["Regex"].get<std::string>(), false);
    } catch (const std::runtime_error& e) {
        if (dynamic_cast<const tokenizer_error*>(&e))
            throw;
        fail(p, e.what());
    }
    fail(p, "unknown pattern kind " + it->begin().key());
}

split_behavior get_behavior(const json& j, const char* key, const std::string& path,
                            split_behavior fallback) {
    auto it = j.find(key);
    if (it == j.end())
        return fallback;
    const std::string p = path + "." + key;
    if (!it->is_string())
        fail(p, "expected a string");
    const auto s = it->get<std::string>();
    if (s == "Removed")
        return split_behavior::removed;
    if (s == "Isolated")
        return split_behavior::isolated;
    if (s == "MergedWithPrevious")
        return split_behavior::merged_with_previous;
    if (s == "MergedWithNext")
        return split_behavior::merged_with_next;
    if (s == "Contiguous")
        return split_behavior::contiguous;
    fail(p, "unknown split behavior \"" + s + "\"");
}

std::string type_of(const json& j, const std::string& path) {
    check_object(j, path);
    auto it = j.find("type");
    if (it == j.end() || !it->is_string())
        fail(path + ".type", "missing component type");
    return it->get<std::string>();
}

// ---------------------------------------------------------------------------------------------
// Normalizers

/**
 * NFC, NFD, NFKC, NFKD with the reference's alignment changes (the `unicode-normalization-
 * alignments` crate): each character's decomposition gives (first, 0), (rest, +1); combining
 * marks are stably sorted by combining class with their changes; composing `r` from a starter
 * `k` and a mark `c` gives change(k) + change(c) - 1, and marks that do not compose follow the
 * starter. utf8proc supplies the decompositions, classes and primary composites.
 */
struct unicode_normalizer final : normalizer {
    normal_form form;
    explicit unicode_normalizer(normal_form f)
        : form(f) {}
    struct item {
        char32_t c;
        int change;
        int ccc;
    };
    void normalize(normalized_string& s) const override {
        bool ascii = true;
        for (const char ch : s.text)
            ascii = ascii && static_cast<unsigned char>(ch) < 0x80;
        if (ascii)
            return; // ASCII is invariant under every form
        const bool compat = form == normal_form::nfkc || form == normal_form::nfkd;
        const bool compose = form == normal_form::nfc || form == normal_form::nfkc;
        std::vector<item> items;
        items.reserve(s.text.size() + 8);
        bool changed = false;
        for (std::size_t i = 0; i < s.text.size();) {
            const char32_t c = next_code_point(s.text, i);
            const auto d = decompose_one(c, compat);
            if (d.size() != 1 || d[0] != c)
                changed = true;
            for (std::size_t k = 0; k < d.size(); ++k)
                items.push_back({d[k], k ? 1 : 0, combining_class(d[k])});
        }
        // canonical order: stable sort of every run of non-starters
        for (std::size_t i = 0; i < items.size();) {
            if (items[i].ccc == 0) {
                ++i;
                continue;
            }
            std::size_t j = i;
            while (j < items.size() && items[j].ccc != 0)
                ++j;
            const std::vector<item> before(items.begin() + static_cast<std::ptrdiff_t>(i),
                                           items.begin() + static_cast<std::ptrdiff_t>(j));
            std::stable_sort(items.begin() + static_cast<std::ptrdiff_t>(i),
                             items.begin() + static_cast<std::ptrdiff_t>(j),
                             [](const item& x, const item& y) { return x.ccc < y.ccc; });
            for (std::size_t k = i; k < j && !changed; ++k)
                changed = items[k].c != before[k - i].c;
            i = j;
        }
        change_list dest;
        dest.reserve(items.size());
        if (!compose) {
            for (const auto& it : items)
                dest.emplace_back(it.c, it.change);
        } else {
            std::optional<item> composee;
            std::optional<int> last_ccc;
            std::vector<item> blocked;
            auto flush = [&] {
                dest.emplace_back(composee->c, composee->change);
                for (const auto& b : blocked)
                    dest.emplace_back(b.c, b.change);
                blocked.clear();
            };
            for (const auto& it : items) {
                if (!composee) {
                    if (it.ccc != 0) {
                        dest.emplace_back(it.c, it.change);
                        continue;
                    }
                    composee = it;
                    continue;
                }
                if (!last_ccc || *last_ccc < it.ccc) {
                    if (const char32_t r = compose_pair(composee->c, it.c)) {
                        composee = item{r, composee->change + it.change - 1, 0};
                        changed = true;
                        continue;
                    }
                }
                if (it.ccc == 0) {
                    flush();
                    composee = it;
                    last_ccc.reset();
                    continue;
                }
                blocked.push_back(it);
                last_ccc = it.ccc;
            }
            if (composee)
                flush();
        }
        if (changed)
            s.transform(dest, 0);
    }
};

struct lowercase_normalizer final : normalizer {
    void normalize(normalized_string& s) const override { s.lowercase(); }
};

struct strip_accents_normalizer final : normalizer {
    void normalize(normalized_string& s) const override {
        s.filter([](char32_t c) { return c < 0x300 || !is_mark(c); });
    }
};

bool is_chinese_char(char32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

struct bert_normalizer final : normalizer {
    bool clean_text = true, handle_chinese_chars = true, lowercase = true;
    std::optional<bool> strip_accents;
    void normalize(normalized_string& s) const override {
        if (clean_text) {
            s.filter([](char32_t c) {
                if (c == '\t' || c == '\n' || c == '\r')
                    return true;
                if (c >= 0x20 && c < 0x7F)
                    return true;
                // The reference's `is_other` (unicode_categories) has no table for Cn:
                // unassigned code points and noncharacters are kept.
                return !(c == 0 || c == 0xFFFD || (is_other(c) && !is_unassigned(c)));
            });
            bool needs_map = false;
            for (std::size_t i = 0; i < s.text.size() && !needs_map;) {
                const char32_t c = next_code_point(s.text, i);
                needs_map = c != ' ' && is_whitespace(c);
            }
            if (needs_map) {
                change_list dest;
                for (std::size_t i = 0; i < s.text.size();) {
                    const char32_t c = next_code_point(s.text, i);
                    dest.emplace_back(is_whitespace(c) ? U' ' : c, 0);
                }
                s.transform(dest, 0);
            }
        }
        if (handle_chinese_chars) {
            bool any = false;
            for (std::size_t i = 0; i < s.text.size() && !any;)
                any = is_chinese_char(next_code_point(s.text, i));
            if (any) {
                change_list dest;
                for (std::size_t i = 0; i < s.text.size();) {
                    const char32_t c = next_code_point(s.text, i);
                    if (is_chinese_char(c)) {
                        dest.emplace_back(U' ', 0);
                        dest.emplace_back(c, 1);
                        dest.emplace_back(U' ', 1);
                    } else {
                        dest.emplace_back(c, 0);
                    }
                }
                s.transform(dest, 0);
            }
        }
        if (strip_accents.value_or(lowercase)) {
            unicode_normalizer(normal_form::nfd).normalize(s);
            s.filter([](char32_t c) { return c < 0x300 || !is_mark_nonspacing(c); });
        }
        if (lowercase)
            s.lowercase();
    }
};

struct replace_normalizer final : normalizer {
    regex pattern;
    std::string content;
    replace_normalizer(regex p, std::string c)
        : pattern(std::move(p))
        , content(std::move(c)) {}
    void normalize(normalized_string& s) const override {
        s.replace(regex_matches(pattern, s.text), content);
    }
};

struct prepend_normalizer final : normalizer {
    std::string prefix;
    void normalize(normalized_string& s) const override { s.prepend(prefix); }
};

struct strip_normalizer final : normalizer {
    bool left = true, right = true;
    void normalize(normalized_string& s) const override { s.strip(left, right); }
};

struct byte_level_normalizer final : normalizer {
    void normalize(normalized_string& s) const override {
        change_list dest;
        dest.reserve(s.text.size());
        const auto& table = byte_to_char();
        for (std::size_t i = 0; i < s.text.size();) {
            const std::size_t len = utf8_length(static_cast<unsigned char>(s.text[i]));
            for (std::size_t k = 0; k < len; ++k)
                dest.emplace_back(table[static_cast<unsigned char>(s.text[i + k])], k ? 1 : 0);
            i += len;
        }
        s.transform(dest, 0);
    }
};

/**
 * SentencePiece's precompiled normalization rules (T5, ALBERT, XLM-R): a darts-clone double array
 * trie over UTF-8 keys whose values index a pool of NUL-terminated replacements. The blob is
 * `u32 trie_bytes | trie units | pool`. Applied grapheme by grapheme, then character by
 * character, as the reference (`spm_precompiled`) does.
 */
struct precompiled_normalizer final : normalizer {
    std::vector<std::uint32_t> units;
    std::string pool;

    std::optional<std::string_view> lookup(std::string_view key) const {
        if (units.empty())
            return std::nullopt;
        auto offset = [](std::uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); };
        auto label = [](std::uint32_t u) { return u & ((1u << 31) | 0xFFu); };
        auto has_leaf = [](std::uint32_t u) { return ((u >> 8) & 1u) == 1u; };
        auto value = [](std::uint32_t u) { return u & ((1u << 31) - 1); };
        std::size_t node = offset(units[0]);
        for (const char ch : key) {
            const auto c = static_cast<unsigned char>(ch);
            if (c == 0)
                break;
            node ^= c;
            if (node >= units.size())
                return std::nullopt;
            const std::uint32_t u = units[node];
            if (label(u) != c)
                return std::nullopt;
            node ^= offset(u); // a base: only the next index read must be in range
            if (has_leaf(u)) {
                if (node >= units.size())
                    return std::nullopt;
                const std::size_t v = value(units[node]);
                if (v >= pool.size())
                    return std::nullopt;
                const std::size_t stop = pool.find('\0', v);
                return std::string_view(pool).substr(
                    v, stop == std::string::npos ? std::string::npos : stop - v);
            }
        }
        return std::nullopt;
    }

    static void replace_into(change_list& dest, std::string_view old_part,
                             std::string_view new_part) {
        const auto old_count = static_cast<int>(code_points(old_part).size());
        const auto new_cps = code_points(new_part);
        const int diff = static_cast<int>(new_cps.size()) - old_count;
        for (char32_t c : new_cps)
            dest.emplace_back(c, 0);
        if (diff > 0) {
            for (int k = 0; k < diff && k < static_cast<int>(dest.size()); ++k)
                dest[dest.size() - 1 - static_cast<std::size_t>(k)].second = 1;
        } else if (diff < 0 && !dest.empty()) {
            dest.back().second += diff;
        }
    }

    void normalize(normalized_string& s) const override {
        change_list dest;
        bool modified = false;
        const auto bounds = grapheme_boundaries(s.text);
        for (std::size_t g = 0; g + 1 < bounds.size(); ++g) {
            const std::string_view grapheme =
                std::string_view(s.text).substr(bounds[g], bounds[g + 1] - bounds[g]);
            if (grapheme.size() < 6) {
                if (auto norm = lookup(grapheme)) {
                    modified = true;
                    replace_into(dest, grapheme, *norm);
                    continue;
                }
            }
            for (std::size_t i = 0; i < grapheme.size();) {
                const std::size_t b = i;
                const char32_t c = next_code_point(grapheme, i);
                if (auto norm = lookup(grapheme.substr(b, i - b))) {
                    modified = true;
                    replace_into(dest, grapheme.substr(b, i - b), *norm);
                } else {
                    dest.emplace_back(c, 0);
                }
            }
        }
        if (modified)
            s.transform(dest, 0);
    }
};

std::string base64_decode(std::string_view in, const std::string& path) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z')
            return c - 'A';
        if (c >= 'a' && c <= 'z')
            return c - 'a' + 26;
        if (c >= '0' && c <= '9')
            return c - '0' + 52;
        if (c == '+')
            return 62;
        if (c == '/')
            return 63;
        return -1;
    };
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : in) {
        if (c == '=')
            break;
        const int v = value(c);
        if (v < 0)
            fail(path, "invalid base64");
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xFF));
        }
    }
    return out;
}

struct sequence_normalizer final : normalizer {
    std::vector<std::unique_ptr<normalizer>> items;
    void normalize(normalized_string& s) const override {
        for (const auto& n : items)
            n->normalize(s);
    }
};

} // namespace

std::unique_ptr<normalizer> make_normalizer(const json& j, const std::string& path) {
    const std::string type = type_of(j, path);
    if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
        check_keys(j, path, {});
        const normal_form f = type == "NFC"    ? normal_form::nfc
                              : type == "NFD"  ? normal_form::nfd
                              : type == "NFKC" ? normal_form::nfkc
                                               : normal_form::nfkd;
        return std::make_unique<unicode_normalizer>(f);
    }
    if (type == "Lowercase") {
        check_keys(j, path, {});
        return std::make_unique<lowercase_normalizer>();
    }
    if (type == "StripAccents") {
        check_keys(j, path, {});
        return std::make_unique<strip_accents_normalizer>();
    }
    if (type == "BertNormalizer") {
        check_keys(j, path, {"clean_text", "handle_chinese_chars", "strip_accents", "lowercase"});
        auto n = std::make_unique<bert_normalizer>();
        n->clean_text = get_bool(j, "clean_text", path, true);
        n->handle_chinese_chars = get_bool(j, "handle_chinese_chars", path, true);
        n->lowercase = get_bool(j, "lowercase", path, true);
        if (j.contains("strip_accents") && !j["strip_accents"].is_null())
            n->strip_accents = get_bool(j, "strip_accents", path, false);
        return n;
    }
    if (type == "Replace") {
        check_keys(j, path, {"pattern", "content"});
        return std::make_unique<replace_normalizer>(get_pattern(j, "pattern", path),
                                                    get_string(j, "content", path));
    }
    if (type == "Prepend") {
        check_keys(j, path, {"prepend"});
        auto n = std::make_unique<prepend_normalizer>();
        n->prefix = get_string(j, "prepend", path);
        return n;
    }
    if (type == "Strip") {
        check_keys(j, path, {"strip_left", "strip_right"});
        auto n = std::make_unique<strip_normalizer>();
        n->left = get_bool(j, "strip_left", path, true);
        n->right = get_bool(j, "strip_right", path, true);
        return n;
    }
    if (type == "ByteLevel") {
        check_keys(j, path, {});
        return std::make_unique<byte_level_normalizer>();
    }
    if (type == "Precompiled") {
        check_keys(j, path, {"precompiled_charsmap"});
        auto n = std::make_unique<precompiled_normalizer>();
        const auto it = j.find("precompiled_charsmap");
        if (it == j.end() || it->is_null())
            return n; // an empty map: the identity
        const std::string p = path + ".precompiled_charsmap";
        if (!it->is_string())
            fail(p, "expected a base64 string");
        const std::string blob = base64_decode(it->get<std::string>(), p);
        if (blob.empty())
            return n;
        if (blob.size() < 4)
            fail(p, "charsmap shorter than its header");
        std::uint32_t trie_bytes = 0;
        for (int k = 3; k >= 0; --k)
            trie_bytes =
                (trie_bytes << 8) | static_cast<unsigned char>(blob[static_cast<std::size_t>(k)]);
        if (trie_bytes % 4 != 0 || trie_bytes > blob.size() - 4)
            fail(p, "charsmap trie size " + std::to_string(trie_bytes) + " does not fit the blob");
        n->units.resize(trie_bytes / 4);
        for (std::size_t u = 0; u < n->units.size(); ++u) {
            std::uint32_t v = 0;
            for (int k = 3; k >= 0; --k)
                v = (v << 8) |
                    static_cast<unsigned char>(blob[4 + u * 4 + static_cast<std::size_t>(k)]);
            n->units[u] = v;
        }
        n->pool = blob.substr(4 + trie_bytes);
        return n;
    }
    if (type == "Sequence") {
        check_keys(j, path, {"normalizers"});
        auto n = std::make_unique<sequence_normalizer>();
        const auto& items = get_array(j, "normalizers", path);
        for (std::size_t i = 0; i < items.size(); ++i)
            n->items.push_back(
                make_normalizer(items[i], path + ".normalizers[" + std::to_string(i) + "]"));
        return n;
    }
    fail(path + ".type", "unknown normalizer type \"" + type + "\"");
}

// ---------------------------------------------------------------------------------------------
// Byte-level table

const std::vector<char32_t>& byte_to_char() {
    static const std::vector<char32_t> table = [] {
        std::vector<char32_t> t(256);
        char32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
            t[static_cast<std::size_t>(b)] = printable ? static_cast<char32_t>(b) : next++;
        }
        return t;
    }();
    return table;
}

int char_to_byte(char32_t c) {
    static const std::array<int, 324> inverse = [] {
        std::array<int, 324> inv{};
        inv.fill(-1);
        const auto& t = byte_to_char();
        for (int b = 0; b < 256; ++b)
            inv[t[static_cast<std::size_t>(b)]] = b;
        return inv;
    }();
    return c < inverse.size() ? inverse[c] : -1;
}

void trim_byte_level_offsets(encoding& e, bool add_prefix_space) {
    for (std::size_t i = 0; i < e.ids.size(); ++i) {
        const std::string& token = e.tokens[i];
        auto& [begin, end] = e.offsets[i];
        const auto cps = code_points(token);
        auto is_space = [](char32_t c) { return c == 0x120 || is_whitespace(c); };
        std::size_t leading = 0, trailing = 0, leading_bytes = 0, trailing_bytes = 0;
        while (leading < cps.size() && is_space(cps[leading])) {
            leading_bytes += cps[leading] == 0x120 ? 1 : utf8_length(cps[leading]);
            ++leading;
        }
        while (trailing < cps.size() && is_space(cps[cps.size() - 1 - trailing])) {
            const char32_t c = cps[cps.size() - 1 - trailing];
            trailing_bytes += c == 0x120 ? 1 : utf8_length(c);
            ++trailing;
        }
        if (leading == 0 && trailing == 0)
            continue;
        if (leading > 0) {
            const bool is_first = i == 0 || begin == 0;
            if (is_first && add_prefix_space && leading == 1)
                leading_bytes = 0;
            begin = std::min(begin + leading_bytes, end);
        }
        if (trailing > 0 && end >= trailing_bytes)
            end = std::max(end - trailing_bytes, begin);
    }
}

// ---------------------------------------------------------------------------------------------
// Pre-tokenizers

namespace {

const char* const gpt2_pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct byte_level_pre_tokenizer final : pre_tokenizer {
    bool add_prefix_space = true, use_regex = true;
    const regex& pattern() const {
        static const regex re(gpt2_pattern);
        return re;
    }
    /** Bytes [b, e) of `s` as byte-level characters: each byte of a character becomes one
        table character aligned with the whole character (the first replaces it, the others are
        insertions after it), done in the same pass as the split. */
    static normalized_string map_bytes(const normalized_string& s, std::size_t b, std::size_t e) {
        struct encoded {
            char bytes[2];
            std::uint8_t size;
        };
        static const std::array<encoded, 256> table = [] {
            std::array<encoded, 256> t{};
            const auto& chars = byte_to_char();
            for (std::size_t i = 0; i < 256; ++i) {
                std::string u;
                append_utf8(u, chars[i]);
                t[i].size = static_cast<std::uint8_t>(u.size());
                for (std::size_t k = 0; k < u.size(); ++k)
                    t[i].bytes[k] = u[k];
            }
            return t;
        }();
        normalized_string out;
        out.original_begin = s.align[b].first;
        out.original_end = s.align[e - 1].second;
        out.text.resize(2 * (e - b));
        out.align.resize(2 * (e - b));
        std::size_t n = 0;
        for (std::size_t i = b; i < e; ++i) {
            const auto& t = table[static_cast<unsigned char>(s.text[i])];
            // all bytes of one character share its alignment (align[i] is the same for them)
            const span32 a = s.align[i];
            out.text[n] = t.bytes[0];
            out.align[n++] = a;
            if (t.size == 2) {
                out.text[n] = t.bytes[1];
                out.align[n++] = a;
            }
        }
        out.text.resize(n);
        out.align.resize(n);
        return out;
    }
    void pre_tokenize(std::vector<piece>& pieces) const override {
        split_pieces(pieces, [&](normalized_string&& s, std::vector<normalized_string>& out) {
            if (add_prefix_space && (s.text.empty() || s.text[0] != ' '))
                s.prepend(" ");
            if (s.text.empty())
                return;
            if (!use_regex) {
                out.push_back(map_bytes(s, 0, s.text.size()));
                return;
            }
            thread_local std::vector<std::pair<std::size_t, std::size_t>> found;
            found.clear();
            pattern().find_all(s.text, found);
            std::size_t prev = 0;
            for (const auto& [mb, me] : found) {
                if (prev < mb)
                    out.push_back(map_bytes(s, prev, mb));
                out.push_back(map_bytes(s, mb, me));
                prev = me;
            }
            if (prev < s.text.size())
                out.push_back(map_bytes(s, prev, s.text.size()));
        });
    }
};

struct split_pre_tokenizer final : pre_tokenizer {
    regex pattern;
    split_behavior behavior;
    bool invert_matches;
    split_pre_tokenizer(regex p, split_behavior b, bool inv)
        : pattern(std::move(p))
        , behavior(b)
        , invert_matches(inv) {}
    void pre_tokenize(std::vector<piece>& pieces) const override {
        split_pieces(pieces, [&](normalized_string&& s, std::vector<normalized_string>& out) {
            auto m = regex_matches(pattern, s.text);
            if (invert_matches)
                invert(m);
            s.split(m, behavior, out);
        });
    }
};

enum class prepend_scheme { always, first, never };

struct metaspace_pre_tokenizer final : pre_tokenizer {
    char32_t replacement = 0x2581;
    std::string replacement_text;
    prepend_scheme scheme = prepend_scheme::always;
    bool split = true;
    void pre_tokenize(std::vector<piece>& pieces) const override {
        split_pieces(pieces, [&](normalized_string&& s, std::vector<normalized_string>& out) {
            s.replace(char_matches(s.text, [](char32_t c) { return c == U' '; }), replacement_text);
            const bool starts = s.text.compare(0, replacement_text.size(), replacement_text) == 0;
            if (scheme == prepend_scheme::always && !starts)
                s.prepend(replacement_text);
            if (scheme == prepend_scheme::first && !starts && s.original_begin == 0)
                s.prepend(replacement_text);
            if (split) {
                const char32_t r = replacement;
                s.split(char_matches(s.text, [r](char32_t c) { return c == r; }),
                        split_behavior::merged_with_next, out);
            } else {
                out.push_back(std::move(s));
            }
        });
    }
};

template <class Pred>
struct char_split_pre_tokenizer final : pre_tokenizer {
    Pred pred;
    split_behavior behavior;
    char_split_pre_tokenizer(Pred p, split_behavior b)
        : pred(p)
        , behavior(b) {}
    void pre_tokenize(std::vector<piece>& pieces) const override {
        split_pieces(pieces, [&](normalized_string&& s, std::vector<normalized_string>& out) {
            s.split(char_matches(s.text, pred), behavior, out);
        });
    }
};
template <class Pred>
std::unique_ptr<pre_tokenizer> make_char_split(Pred p, split_behavior b) {
    return std::make_unique<char_split_pre_tokenizer<Pred>>(p, b);
}

bool is_bert_punctuation(char32_t c) {
    return is_ascii_punctuation(c) || is_punctuation(c);
}

struct bert_pre_tokenizer final : pre_tokenizer {
    void pre_tokenize(std::vector<piece>& pieces) const override {
        split_pieces(pieces, [](normalized_string&& s, std::vector<normalized_string>& out) {
            s.split(char_matches(s.text, is_whitespace), split_behavior::removed, out);
        });
        split_pieces(pieces, [](normalized_string&& s, std::vector<normalized_string>& out) {
            s.split(char_matches(s.text, is_bert_punctuation), split_behavior::isolated, out);
        });
    }
};

struct whitespace_pre_tokenizer final : pre_tokenizer {
    void pre_tokenize(std::vector<piece>& pieces) const override {
        // Rust regex `\w+|[^\w\s]+`, kept as the Removed complement.
        static const regex re(
            R"([\p{L}\p{Nl}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D}]+|[^\p{L}\p{Nl}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D}\s]+)");
        split_pieces(pieces, [](normalized_string&& s, std::vector<normalized_string>& out) {
            auto m = regex_matches(re, s.text);
            invert(m);
            s.split(m, split_behavior::removed, out);
        });
    }
};

struct unicode_scripts_pre_tokenizer final : pre_tokenizer {
    static int fixed_script(char32_t c) {
        static const int han = script_of(U'\x4E00');
        static const int hiragana = script_of(U'\x3042');
        static const int katakana = script_of(U'\x30A2');
        if (c == 0x30FC)
            return han;
        if (c == ' ')
            return -2; // Any
        const int s = script_of(c);
        return s == hiragana || s == katakana ? han : s;
    }
    void pre_tokenize(std::vector<piece>& pieces) const override {
        split_pieces(pieces, [](normalized_string&& s, std::vector<normalized_string>& out) {
            std::vector<std::size_t> cuts;
            std::optional<int> last;
            for (std::size_t i = 0; i < s.text.size();) {
                const std::size_t b = i;
                const int script = fixed_script(next_code_point(s.text, i));
                // No script yet counts as a change: the first cut is at the first character
                // with a script, and what precedes it (spaces) is dropped, as in the reference.
                if (script != -2 && (!last || *last != script))
                    cuts.push_back(b);
                if (script != -2)
                    last = script;
            }
            cuts.push_back(s.text.size());
            for (std::size_t k = 0; k + 1 < cuts.size(); ++k)
                if (cuts[k + 1] > cuts[k])
                    out.push_back(s.slice(cuts[k], cuts[k + 1]));
        });
    }
};

struct sequence_pre_tokenizer final : pre_tokenizer {
    std::vector<std::unique_ptr<pre_tokenizer>> items;
    void pre_tokenize(std::vector<piece>& pieces) const override {
        for (const auto& p : items)
            p->pre_tokenize(pieces);
    }
};

prepend_scheme get_scheme(const json& j, const std::string& path) {
    if (j.contains("prepend_scheme")) {
        const auto s = get_string(j, "prepend_scheme", path);
        if (s == "always")
            return prepend_scheme::always;
        if (s == "first")
            return prepend_scheme::first;
        if (s == "never")
            return prepend_scheme::never;
        fail(path + ".prepend_scheme", "unknown prepend_scheme \"" + s + "\"");
    }
    return get_bool(j, "add_prefix_space", path, true) ? prepend_scheme::always
                                                       : prepend_scheme::never;
}

} // namespace

std::unique_ptr<pre_tokenizer> make_pre_tokenizer(const json& j, const std::string& path) {
    const std::string type = type_of(j, path);
    if (type == "ByteLevel") {
        check_keys(j, path, {"add_prefix_space", "trim_offsets", "use_regex"});
        auto p = std::make_unique<byte_level_pre_tokenizer>();
        p->add_prefix_space = get_bool(j, "add_prefix_space", path, true);
        p->use_regex = get_bool(j, "use_regex", path, true);
        (void)get_bool(j, "trim_offsets", path, true);
        return p;
    }
    if (type == "Split") {
        check_keys(j, path, {"pattern", "behavior", "invert"});
        return std::make_unique<split_pre_tokenizer>(
            get_pattern(j, "pattern", path),
            get_behavior(j, "behavior", path, split_behavior::removed),
            get_bool(j, "invert", path, false));
    }
    if (type == "Metaspace") {
        check_keys(j, path,
                   {"replacement", "prepend_scheme", "split", "add_prefix_space", "str_rep"});
        auto p = std::make_unique<metaspace_pre_tokenizer>();
        p->replacement = get_char(j, "replacement", path);
        append_utf8(p->replacement_text, p->replacement);
        p->scheme = get_scheme(j, path);
        p->split = get_bool(j, "split", path, true);
        return p;
    }
    if (type == "Whitespace") {
        check_keys(j, path, {});
        return std::make_unique<whitespace_pre_tokenizer>();
    }
    if (type == "WhitespaceSplit") {
        check_keys(j, path, {});
        return make_char_split(is_whitespace, split_behavior::removed);
    }
    if (type == "BertPreTokenizer") {
        check_keys(j, path, {});
        return std::make_unique<bert_pre_tokenizer>();
    }
    if (type == "Punctuation") {
        check_keys(j, path, {"behavior"});
        return make_char_split(is_bert_punctuation,
                               get_behavior(j, "behavior", path, split_behavior::isolated));
    }
    if (type == "Digits") {
        check_keys(j, path, {"individual_digits"});
        return make_char_split(is_numeric, get_bool(j, "individual_digits", path, false)
                                               ? split_behavior::isolated
                                               : split_behavior::contiguous);
    }
    if (type == "CharDelimiterSplit") {
        check_keys(j, path, {"delimiter"});
        const char32_t d = get_char(j, "delimiter", path);
        return make_char_split([d](char32_t c) { return c == d; }, split_behavior::removed);
    }
    if (type == "UnicodeScripts") {
        check_keys(j, path, {});
        return std::make_unique<unicode_scripts_pre_tokenizer>();
    }
    if (type == "Sequence") {
        check_keys(j, path, {"pretokenizers"});
        auto p = std::make_unique<sequence_pre_tokenizer>();
        const auto& items = get_array(j, "pretokenizers", path);
        for (std::size_t i = 0; i < items.size(); ++i)
            p->items.push_back(
                make_pre_tokenizer(items[i], path + ".pretokenizers[" + std::to_string(i) + "]"));
        return p;
    }
    fail(path + ".type", "unknown pre-tokenizer type \"" + type + "\"");
}

// ---------------------------------------------------------------------------------------------
// Post-processors

namespace {

void append_encoding(encoding& to, encoding&& from) {
    auto move_into = [](auto& a, auto& b) {
        a.insert(a.end(), std::make_move_iterator(b.begin()), std::make_move_iterator(b.end()));
    };
    move_into(to.ids, from.ids);
    move_into(to.tokens, from.tokens);
    move_into(to.offsets, from.offsets);
    move_into(to.type_ids, from.type_ids);
    move_into(to.special_tokens_mask, from.special_tokens_mask);
}

void append_special(encoding& to, std::uint32_t id, const std::string& token, std::uint32_t type) {
    to.ids.push_back(id);
    to.tokens.push_back(token);
    to.offsets.emplace_back(0, 0);
    to.type_ids.push_back(type);
    to.special_tokens_mask.push_back(1);
}

void set_type_ids(encoding& e, std::uint32_t type) {
    std::fill(e.type_ids.begin(), e.type_ids.end(), type);
}

struct template_processor final : post_processor {
    struct item {
        bool is_sequence;
        bool is_b;           // for sequences
        std::string special; // for special tokens
        std::uint32_t type_id;
    };
    struct special_token {
        std::vector<std::uint32_t> ids;
        std::vector<std::string> tokens;
    };
    std::vector<item> single, pair;
    std::map<std::string, special_token> specials;

    encoding process(encoding first, encoding* second, bool add_special_tokens) const override {
        const auto& tpl = second ? pair : single;
        encoding out;
        for (const auto& it : tpl) {
            if (it.is_sequence) {
                encoding* e = it.is_b ? second : &first;
                if (!e)
                    continue;
                encoding copy = *e;
                set_type_ids(copy, it.type_id);
                append_encoding(out, std::move(copy));
            } else if (add_special_tokens) {
                const auto& sp = specials.at(it.special);
                for (std::size_t k = 0; k < sp.ids.size(); ++k)
                    append_special(out, sp.ids[k], sp.tokens[k], it.type_id);
            }
        }
        return out;
    }
};

struct bert_processor final : post_processor {
    std::string sep, cls;
    std::uint32_t sep_id = 0, cls_id = 0;
    encoding process(encoding first, encoding* second, bool add_special_tokens) const override {
        if (!add_special_tokens) {
            if (second)
                append_encoding(first, std::move(*second));
            return first;
        }
        encoding out;
        append_special(out, cls_id, cls, 0);
        set_type_ids(first, 0);
        append_encoding(out, std::move(first));
        append_special(out, sep_id, sep, 0);
        if (second) {
            set_type_ids(*second, 1);
            append_encoding(out, std::move(*second));
            append_special(out, sep_id, sep, 1);
        }
        return out;
    }
};

struct roberta_processor final : post_processor {
    std::string sep, cls;
    std::uint32_t sep_id = 0, cls_id = 0;
    bool trim_offsets = true, add_prefix_space = true;
    encoding process(encoding first, encoding* second, bool add_special_tokens) const override {
        if (trim_offsets) {
            trim_byte_level_offsets(first, add_prefix_space);
            if (second)
                trim_byte_level_offsets(*second, add_prefix_space);
        }
        set_type_ids(first, 0);
        if (second)
            set_type_ids(*second, 0);
        if (!add_special_tokens) {
            if (second)
                append_encoding(first, std::move(*second));
            return first;
        }
        encoding out;
        append_special(out, cls_id, cls, 0);
        append_encoding(out, std::move(first));
        append_special(out, sep_id, sep, 0);
        if (second) {
            append_special(out, sep_id, sep, 0);
            append_encoding(out, std::move(*second));
            append_special(out, sep_id, sep, 0);
        }
        return out;
    }
};

struct byte_level_processor final : post_processor {
    bool trim_offsets = true, add_prefix_space = true;
    encoding process(encoding first, encoding* second, bool) const override {
        if (trim_offsets) {
            trim_byte_level_offsets(first, add_prefix_space);
            if (second)
                trim_byte_level_offsets(*second, add_prefix_space);
        }
        if (second)
            append_encoding(first, std::move(*second));
        return first;
    }
};

struct sequence_processor final : post_processor {
    std::vector<std::unique_ptr<post_processor>> items;
    encoding process(encoding first, encoding* second, bool add_special_tokens) const override {
        // The reference runs each processor over the list of encodings; processors that add
        // tokens merge the pair, so later ones see one encoding.
        std::optional<encoding> b;
        if (second)
            b = std::move(*second);
        for (std::size_t i = 0; i < items.size(); ++i) {
            first = items[i]->process(std::move(first), b ? &*b : nullptr, add_special_tokens);
            b.reset();
        }
        if (b)
            append_encoding(first, std::move(*b));
        return first;
    }
};

std::pair<std::string, std::uint32_t> get_token_pair(const json& j, const char* key,
                                                     const std::string& path) {
    auto it = j.find(key);
    const std::string p = path + "." + key;
    if (it == j.end() || !it->is_array() || it->size() != 2 || !(*it)[0].is_string() ||
        !(*it)[1].is_number_unsigned())
        fail(p, "expected [\"token\", id]");
    return {(*it)[0].get<std::string>(), (*it)[1].get<std::uint32_t>()};
}

std::vector<template_processor::item> parse_template(const json& j, const std::string& path) {
    std::vector<template_processor::item> out;
    if (!j.is_array())
        fail(path, "expected a template array");
    for (std::size_t i = 0; i < j.size(); ++i) {
        const std::string p = path + "[" + std::to_string(i) + "]";
        const auto& e = j[i];
        if (!e.is_object() || e.size() != 1)
            fail(p, "expected {\"Sequence\"|\"SpecialToken\": ...}");
        const auto first_member = e.begin();
        const std::string kind = first_member.key();
        const json& body = first_member.value();
        const std::string bp = p + "." + kind;
        if (!body.is_object())
            fail(bp, "expected an object");
        const auto type_id = static_cast<std::uint32_t>(get_uint(body, "type_id", bp, 0));
        if (kind == "Sequence") {
            const auto id = get_string(body, "id", bp);
            if (id != "A" && id != "B")
                fail(bp + ".id", "expected \"A\" or \"B\"");
            out.push_back({true, id == "B", {}, type_id});
        } else if (kind == "SpecialToken") {
            out.push_back({false, false, get_string(body, "id", bp), type_id});
        } else {
            fail(p, "unknown template piece \"" + kind + "\"");
        }
    }
    return out;
}

} // namespace

std::unique_ptr<post_processor> make_post_processor(const json& j, const std::string& path) {
    const std::string type = type_of(j, path);
    if (type == "TemplateProcessing") {
        check_keys(j, path, {"single", "pair", "special_tokens"});
        auto p = std::make_unique<template_processor>();
        p->single =
            parse_template(j.contains("single") ? j["single"] : json::array(), path + ".single");
        p->pair = parse_template(j.contains("pair") ? j["pair"] : json::array(), path + ".pair");
        if (j.contains("special_tokens")) {
            const auto& sp = j["special_tokens"];
            if (!sp.is_object())
                fail(path + ".special_tokens", "expected an object");
            for (const auto& [name, body] : sp.items()) {
                const std::string bp = path + ".special_tokens." + name;
                if (!body.is_object())
                    fail(bp, "expected an object");
                template_processor::special_token t;
                const auto& ids = get_array(body, "ids", bp);
                const auto& tokens = get_array(body, "tokens", bp);
                if (ids.size() != tokens.size())
                    fail(bp, "ids and tokens differ in length");
                for (std::size_t k = 0; k < ids.size(); ++k) {
                    if (!ids[k].is_number_unsigned() || !tokens[k].is_string())
                        fail(bp, "expected ids and token strings");
                    t.ids.push_back(ids[k].get<std::uint32_t>());
                    t.tokens.push_back(tokens[k].get<std::string>());
                }
                p->specials[name] = std::move(t);
            }
        }
        for (const auto* tpl : {&p->single, &p->pair})
            for (const auto& it : *tpl)
                if (!it.is_sequence && !p->specials.contains(it.special))
                    fail(path + ".special_tokens",
                         "missing special token \"" + it.special + "\" of the template");
        return p;
    }
    if (type == "BertProcessing") {
        check_keys(j, path, {"sep", "cls"});
        auto p = std::make_unique<bert_processor>();
        std::tie(p->sep, p->sep_id) = get_token_pair(j, "sep", path);
        std::tie(p->cls, p->cls_id) = get_token_pair(j, "cls", path);
        return p;
    }
    if (type == "RobertaProcessing") {
        check_keys(j, path, {"sep", "cls", "trim_offsets", "add_prefix_space"});
        auto p = std::make_unique<roberta_processor>();
        std::tie(p->sep, p->sep_id) = get_token_pair(j, "sep", path);
        std::tie(p->cls, p->cls_id) = get_token_pair(j, "cls", path);
        p->trim_offsets = get_bool(j, "trim_offsets", path, true);
        p->add_prefix_space = get_bool(j, "add_prefix_space", path, true);
        return p;
    }
    if (type == "ByteLevel") {
        check_keys(j, path, {"add_prefix_space", "trim_offsets", "use_regex"});
        auto p = std::make_unique<byte_level_processor>();
        p->trim_offsets = get_bool(j, "trim_offsets", path, true);
        p->add_prefix_space = get_bool(j, "add_prefix_space", path, true);
        return p;
    }
    if (type == "Sequence") {
        check_keys(j, path, {"processors"});
        auto p = std::make_unique<sequence_processor>();
        const auto& items = get_array(j, "processors", path);
        for (std::size_t i = 0; i < items.size(); ++i)
            p->items.push_back(
                make_post_processor(items[i], path + ".processors[" + std::to_string(i) + "]"));
        return p;
    }
    fail(path + ".type", "unknown post-processor type \"" + type + "\"");
}

// ---------------------------------------------------------------------------------------------
// Decoders

namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
    if (from.empty())
        return;
    std::string out;
    std::size_t pos = 0;
    for (;;) {
        const std::size_t at = s.find(from, pos);
        if (at == std::string::npos)
            break;
        out.append(s, pos, at - pos);
        out.append(to);
        pos = at + from.size();
    }
    if (pos == 0)
        return;
    out.append(s, pos, std::string::npos);
    s = std::move(out);
}

std::string wordpiece_cleanup(std::string s) {
    replace_all(s, " .", ".");
    replace_all(s, " ?", "?");
    replace_all(s, " !", "!");
    replace_all(s, " ,", ",");
    replace_all(s, " ' ", "'");
    replace_all(s, " n't", "n't");
    replace_all(s, " 'm", "'m");
    replace_all(s, " do not", " don't");
    replace_all(s, " 's", "'s");
    replace_all(s, " 've", "'ve");
    replace_all(s, " 're", "'re");
    return s;
}

struct byte_level_decoder final : decoder {
    void decode_chain(std::vector<std::string>& tokens) const override {
        std::string bytes;
        for (const auto& t : tokens) {
            const std::size_t before = bytes.size();
            bool all = true;
            for (std::size_t i = 0; i < t.size();) {
                const int b = char_to_byte(next_code_point(t, i));
                if (b < 0) {
                    all = false;
                    break;
                }
                bytes.push_back(static_cast<char>(b));
            }
            if (!all) {
                bytes.resize(before);
                bytes.append(t);
            }
        }
        tokens.assign(1, utf8_lossy(bytes));
    }
};

struct metaspace_decoder final : decoder {
    char32_t replacement = 0x2581;
    prepend_scheme scheme = prepend_scheme::always;
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (std::size_t i = 0; i < tokens.size(); ++i) {
            std::string out;
            const std::string& t = tokens[i];
            for (std::size_t k = 0; k < t.size();) {
                const std::size_t b = k;
                const char32_t c = next_code_point(t, k);
                if (c == replacement) {
                    if (!(i == 0 && scheme != prepend_scheme::never))
                        out.push_back(' ');
                } else {
                    out.append(t, b, k - b);
                }
            }
            tokens[i] = std::move(out);
        }
    }
};

struct wordpiece_decoder final : decoder {
    std::string prefix = "##";
    bool cleanup = true;
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (std::size_t i = 0; i < tokens.size(); ++i) {
            auto& t = tokens[i];
            if (i != 0) {
                if (t.compare(0, prefix.size(), prefix) == 0) {
                    t.erase(0, prefix.size());
                } else {
                    std::string spaced;
                    spaced.reserve(t.size() + 1);
                    spaced.push_back(' ');
                    spaced.append(t);
                    t = std::move(spaced);
                }
            }
            if (cleanup)
                t = wordpiece_cleanup(std::move(t));
        }
    }
};

struct byte_fallback_decoder final : decoder {
    static std::optional<unsigned char> byte_of(const std::string& t) {
        if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>')
            return std::nullopt;
        auto hex = [](char c) -> int {
            if (c >= '0' && c <= '9')
                return c - '0';
            if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
            if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
            return -1;
        };
        const int h = hex(t[3]), l = hex(t[4]);
        if (h < 0 || l < 0)
            return std::nullopt;
        return static_cast<unsigned char>(h * 16 + l);
    }
    void decode_chain(std::vector<std::string>& tokens) const override {
        std::vector<std::string> out;
        std::string pending;
        auto flush = [&] {
            if (pending.empty())
                return;
            if (invalid_utf8_at(pending) == std::string::npos) {
                out.push_back(pending);
            } else {
                for (std::size_t k = 0; k < pending.size(); ++k)
                    out.emplace_back("\xEF\xBF\xBD");
            }
            pending.clear();
        };
        for (auto& t : tokens) {
            if (auto b = byte_of(t)) {
                pending.push_back(static_cast<char>(*b));
            } else {
                flush();
                out.push_back(std::move(t));
            }
        }
        flush();
        tokens = std::move(out);
    }
};

struct fuse_decoder final : decoder {
    void decode_chain(std::vector<std::string>& tokens) const override {
        std::string all;
        for (const auto& t : tokens)
            all += t;
        tokens.assign(1, std::move(all));
    }
};

struct strip_decoder final : decoder {
    char32_t content = ' ';
    std::size_t start = 0, stop = 0;
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (auto& t : tokens) {
            const auto cps = code_points(t);
            std::size_t start_cut = 0;
            for (std::size_t i = 0; i < std::min(start, cps.size()); ++i) {
                if (cps[i] != content)
                    break;
                start_cut = i + 1;
            }
            std::size_t stop_cut = cps.size();
            for (std::size_t i = 0; i < stop && i < cps.size(); ++i) {
                const std::size_t index = cps.size() - i - 1;
                if (cps[index] != content)
                    break;
                stop_cut = index;
            }
            std::string out;
            for (std::size_t i = start_cut; i < stop_cut; ++i)
                append_utf8(out, cps[i]);
            t = std::move(out);
        }
    }
};

struct replace_decoder final : decoder {
    regex pattern;
    std::string content;
    replace_decoder(regex p, std::string c)
        : pattern(std::move(p))
        , content(std::move(c)) {}
    void decode_chain(std::vector<std::string>& tokens) const override {
        std::vector<std::pair<std::size_t, std::size_t>> found;
        for (auto& t : tokens) {
            found.clear();
            pattern.find_all(t, found);
            if (found.empty())
                continue;
            std::string out;
            std::size_t prev = 0;
            for (const auto& [b, e] : found) {
                out.append(t, prev, b - prev);
                out.append(content);
                prev = e;
            }
            out.append(t, prev, std::string::npos);
            t = std::move(out);
        }
    }
};

struct bpe_decoder final : decoder {
    std::string suffix = "</w>";
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (std::size_t i = 0; i < tokens.size(); ++i)
            replace_all(tokens[i], suffix, i + 1 == tokens.size() ? "" : " ");
    }
};

struct ctc_decoder final : decoder {
    std::string pad = "<pad>", word_delimiter = "|";
    bool cleanup = true;
    void decode_chain(std::vector<std::string>& tokens) const override {
        std::vector<std::string> out;
        for (std::size_t i = 0; i < tokens.size(); ++i) {
            if (i > 0 && tokens[i] == tokens[i - 1])
                continue;
            std::string t = tokens[i];
            replace_all(t, pad, "");
            if (cleanup) {
                t = wordpiece_cleanup(std::move(t));
                replace_all(t, word_delimiter, " ");
            }
            if (!t.empty())
                out.push_back(std::move(t));
        }
        tokens = std::move(out);
    }
};

struct sequence_decoder final : decoder {
    std::vector<std::unique_ptr<decoder>> items;
    void decode_chain(std::vector<std::string>& tokens) const override {
        for (const auto& d : items)
            d->decode_chain(tokens);
    }
};

} // namespace

std::unique_ptr<decoder> make_decoder(const json& j, const std::string& path) {
    const std::string type = type_of(j, path);
    if (type == "ByteLevel") {
        check_keys(j, path, {"add_prefix_space", "trim_offsets", "use_regex"});
        return std::make_unique<byte_level_decoder>();
    }
    if (type == "Metaspace") {
        check_keys(j, path,
                   {"replacement", "prepend_scheme", "split", "add_prefix_space", "str_rep"});
        auto d = std::make_unique<metaspace_decoder>();
        d->replacement = get_char(j, "replacement", path);
        d->scheme = get_scheme(j, path);
        return d;
    }
    if (type == "WordPiece") {
        check_keys(j, path, {"prefix", "cleanup"});
        auto d = std::make_unique<wordpiece_decoder>();
        d->prefix = j.contains("prefix") ? get_string(j, "prefix", path) : "##";
        d->cleanup = get_bool(j, "cleanup", path, true);
        return d;
    }
    if (type == "ByteFallback") {
        check_keys(j, path, {});
        return std::make_unique<byte_fallback_decoder>();
    }
    if (type == "Fuse") {
        check_keys(j, path, {});
        return std::make_unique<fuse_decoder>();
    }
    if (type == "Strip") {
        check_keys(j, path, {"content", "start", "stop"});
        auto d = std::make_unique<strip_decoder>();
        d->content = get_char(j, "content", path);
        d->start = get_uint(j, "start", path, 0);
        d->stop = get_uint(j, "stop", path, 0);
        return d;
    }
    if (type == "Replace") {
        check_keys(j, path, {"pattern", "content"});
        return std::make_unique<replace_decoder>(get_pattern(j, "pattern", path),
                                                 get_string(j, "content", path));
    }
    if (type == "BPEDecoder") {
        check_keys(j, path, {"suffix"});
        auto d = std::make_unique<bpe_decoder>();
        if (j.contains("suffix"))
            d->suffix = get_string(j, "suffix", path);
        return d;
    }
    if (type == "CTC") {
        check_keys(j, path, {"pad_token", "word_delimiter_token", "cleanup"});
        auto d = std::make_unique<ctc_decoder>();
        if (j.contains("pad_token"))
            d->pad = get_string(j, "pad_token", path);
        if (j.contains("word_delimiter_token"))
            d->word_delimiter = get_string(j, "word_delimiter_token", path);
        d->cleanup = get_bool(j, "cleanup", path, true);
        return d;
    }
    if (type == "Sequence") {
        check_keys(j, path, {"decoders"});
        auto d = std::make_unique<sequence_decoder>();
        const auto& items = get_array(j, "decoders", path);
        for (std::size_t i = 0; i < items.size(); ++i)
            d->items.push_back(
                make_decoder(items[i], path + ".decoders[" + std::to_string(i) + "]"));
        return d;
    }
    fail(path + ".type", "unknown decoder type \"" + type + "\"");
}

} // namespace ctt::text::detail
