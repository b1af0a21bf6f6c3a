#pragma once
/**
 * @file
 * @brief UTF-8, Unicode properties, normalization and regular expressions for ctt::text.
 *
 * Why PCRE2 and utf8proc (and not ICU):
 * - The reference splits with Oniguruma patterns (`\p{L}`, `(?i:...)`, lookahead `(?!\S)`).
 *   PCRE2 in UTF + UCP mode speaks the same dialect for every pattern in real tokenizer.json
 *   files, and its JIT makes pre-tokenization a small share of encode time. ICU's regex engine
 *   has no JIT and works on UTF-16, which would need a conversion of every input and of every
 *   offset back to UTF-8 bytes.
 * - utf8proc is a single small C library (Julia's) working on UTF-8 / code points directly, with
 *   decomposition, composition, compatibility mappings, general categories and grapheme breaks:
 *   all the normalizers need. ICU would bring ~30 MB of data and UTF-16 again.
 * - Both are packaged by Debian (`libpcre2-dev`, `libutf8proc-dev`) and are found by pkg-config.
 *
 * One difference is patched here: Oniguruma's `\s` is Unicode White_Space, which contains
 * U+0085 (NEL); PCRE2's UCP `\s` does not. `regex` rewrites `\s` / `\S` so they agree.
 */
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ctt::text::detail {

/** @brief Decodes the code point at `s[i]` of valid UTF-8 and advances `i`. */
inline char32_t next_code_point(std::string_view s, std::size_t& i) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
        ++i;
        return b0;
    }
    auto cont = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]) & 0x3Fu; };
    char32_t c = 0;
    if (b0 < 0xE0) {
        c = ((b0 & 0x1Fu) << 6) | cont(1);
        i += 2;
    } else if (b0 < 0xF0) {
        c = ((b0 & 0x0Fu) << 12) | (cont(1) << 6) | cont(2);
        i += 3;
    } else {
        c = ((b0 & 0x07u) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3);
        i += 4;
    }
    return c;
}

/** @brief Length in bytes of the UTF-8 character starting with byte `b` (valid UTF-8). */
inline std::size_t utf8_length(unsigned char b) {
    return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

inline std::size_t utf8_length(char32_t c) {
    return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
}

inline void append_utf8(std::string& out, char32_t c) {
    if (c < 0x80) {
        out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (c >> 6)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (c >> 12)));
        out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (c >> 18)));
        out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
}

/** @brief Byte offset of the first byte that is not valid UTF-8, or `npos`. */
std::size_t invalid_utf8_at(std::string_view s) noexcept;

/** @brief `s` with each maximal invalid subsequence replaced by U+FFFD (Rust's
    `String::from_utf8_lossy`, the Unicode "maximal subpart" rule). */
std::string utf8_lossy(std::string_view s);

std::vector<char32_t> code_points(std::string_view s);

// Properties, as Rust's `char` methods and the `unicode_categories` crate define them.
bool is_whitespace(char32_t c) noexcept;  ///< White_Space (Rust `char::is_whitespace`)
bool is_punctuation(char32_t c) noexcept; ///< general category P*
bool is_ascii_punctuation(char32_t c) noexcept;
bool is_numeric(char32_t c) noexcept;         ///< N* (Rust `char::is_numeric`)
bool is_other(char32_t c) noexcept;           ///< C* (Cc, Cf, Cs, Co, Cn)
bool is_mark(char32_t c) noexcept;            ///< M*
bool is_unassigned(char32_t c) noexcept;      ///< Cn
bool is_mark_nonspacing(char32_t c) noexcept; ///< Mn
bool is_word_char(char32_t c) noexcept;       ///< Rust regex `\w` (Alphabetic, M, Nd, Pc, joiners)
/** @brief Rust `char::to_lowercase`: the full mapping (U+0130 gives two code points). */
void append_lowercase(char32_t c, std::vector<char32_t>& out);
/** @brief A script identifier for UnicodeScripts (0 for Common/Inherited/Unknown). */
int script_of(char32_t c);

enum class normal_form { nfc, nfd, nfkc, nfkd };
/** @brief `cps` in the given normalization form (utf8proc). */
std::vector<char32_t> normalize(const std::vector<char32_t>& cps, normal_form form);
/** @brief The full canonical (or compatibility) decomposition of one code point. */
std::vector<char32_t> decompose_one(char32_t c, bool compatibility);
/** @brief Canonical combining class. */
int combining_class(char32_t c) noexcept;
/** @brief The primary composite of `a` followed by `b`, or 0 when they do not compose. */
char32_t compose_pair(char32_t a, char32_t b);
/** @brief Byte offsets where extended grapheme clusters of valid UTF-8 `s` begin (plus size). */
std::vector<std::size_t> grapheme_boundaries(std::string_view s);

/** @brief A compiled PCRE2 pattern (UTF, UCP, JIT when available). */
class regex {
public:
    /** Compiles an Oniguruma-style pattern; throws `std::runtime_error` with PCRE2's message. */
    explicit regex(std::string_view pattern, bool literal = false);
    regex(regex&&) noexcept;
    regex& operator=(regex&&) noexcept;
    ~regex();
    /** @brief Non-overlapping matches, left to right, as byte ranges; empty matches skipped. */
    void find_all(std::string_view subject,
                  std::vector<std::pair<std::size_t, std::size_t>>& out) const;
    /** @brief Whether the pattern matches anywhere in `subject`. */
    [[nodiscard]] bool search(std::string_view subject) const;

private:
    struct state;
    std::unique_ptr<state> state_;
};

} // namespace ctt::text::detail
