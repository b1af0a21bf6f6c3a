#include "unicode.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <array>
#include <stdexcept>

namespace ctt::text::detail {

namespace {

/// The character that starts at byte `i`: its length by its lead byte (0 for a byte no character
/// starts with) and the length of its longest valid prefix (Unicode's "maximal subpart", which
/// U+FFFD replaces as a whole).
struct utf8_step {
    std::size_t length;
    std::size_t valid;
};

utf8_step utf8_step_at(const unsigned char* p, std::size_t n, std::size_t i) noexcept {
    const unsigned char b = p[i];
    if (b < 0x80) {
        return {1, 1};
    }
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
        len = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
        len = 3;
        if (b == 0xE0)
            lo = 0xA0;
        if (b == 0xED)
            hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        len = 4;
        if (b == 0xF0)
            lo = 0x90;
        if (b == 0xF4)
            hi = 0x8F;
    } else {
        return {0, 0};
    }
    std::size_t k = 1;
    while (k < len && i + k < n) {
        const unsigned char c = p[i + k];
        const unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (c < l || c > h)
            break;
        ++k;
    }
    return {len, k};
}

} // namespace

std::size_t invalid_utf8_at(std::string_view s) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    for (std::size_t i = 0; i < s.size();) {
        const utf8_step step = utf8_step_at(p, s.size(), i);
        if (step.length == 0 || step.valid != step.length)
            return i;
        i += step.length;
    }
    return std::string_view::npos;
}

std::string utf8_lossy(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    for (std::size_t i = 0; i < s.size();) {
        const utf8_step step = utf8_step_at(p, s.size(), i);
        if (step.length == 0) {
            out += "\xEF\xBF\xBD";
            ++i;
        } else if (step.valid == step.length) {
            out.append(s.substr(i, step.length));
            i += step.length;
        } else {
            out += "\xEF\xBF\xBD";
            i += step.valid;
        }
    }
    return out;
}

std::vector<char32_t> code_points(std::string_view s) {
    std::vector<char32_t> out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();)
        out.push_back(next_code_point(s, i));
    return out;
}

namespace {
utf8proc_category_t category(char32_t c) noexcept {
    return utf8proc_category(static_cast<utf8proc_int32_t>(c));
}
} // namespace

bool is_whitespace(char32_t c) noexcept {
    if (c < 0x80)
        return c == ' ' || (c >= 0x09 && c <= 0x0D);
    if (c == 0x85)
        return true;
    const auto cat = category(c);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
           cat == UTF8PROC_CATEGORY_ZP;
}

bool is_punctuation(char32_t c) noexcept {
    const auto cat = category(c);
    return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

bool is_ascii_punctuation(char32_t c) noexcept {
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
           (c >= 0x7B && c <= 0x7E);
}

bool is_numeric(char32_t c) noexcept {
    if (c < 0x80)
        return c >= '0' && c <= '9';
    const auto cat = category(c);
    return cat == UTF8PROC_CATEGORY_ND || cat == UTF8PROC_CATEGORY_NL ||
           cat == UTF8PROC_CATEGORY_NO;
}

bool is_other(char32_t c) noexcept {
    const auto cat = category(c);
    return cat == UTF8PROC_CATEGORY_CN ||
           (cat >= UTF8PROC_CATEGORY_CC && cat <= UTF8PROC_CATEGORY_CO);
}

bool is_unassigned(char32_t c) noexcept {
    return category(c) == UTF8PROC_CATEGORY_CN;
}

bool is_mark(char32_t c) noexcept {
    const auto cat = category(c);
    return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC ||
           cat == UTF8PROC_CATEGORY_ME;
}

bool is_mark_nonspacing(char32_t c) noexcept {
    return category(c) == UTF8PROC_CATEGORY_MN;
}

bool is_word_char(char32_t c) noexcept {
    if (c < 0x80)
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_';
    if (c == 0x200C || c == 0x200D)
        return true;
    const auto cat = category(c);
    switch (cat) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_PC:
        return true;
    default:
        return false;
    }
}

void append_lowercase(char32_t c, std::vector<char32_t>& out) {
    if (c < 0x80) {
        out.push_back(c >= 'A' && c <= 'Z' ? c + 32 : c);
        return;
    }
    // U+0130 is the one code point whose unconditional full lowercase (SpecialCasing.txt)
    // differs from the simple mapping utf8proc gives.
    if (c == 0x130) {
        out.push_back(0x69);
        out.push_back(0x307);
        return;
    }
    out.push_back(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
}

std::vector<char32_t> decompose_one(char32_t c, bool compatibility) {
    if (c < 0xA0)
        return {c};
    std::array<utf8proc_int32_t, 32> buffer{};
    int last_boundclass = 0;
    const int options = UTF8PROC_DECOMPOSE | (compatibility ? UTF8PROC_COMPAT : 0);
    const auto n =
        utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), buffer.data(),
                                static_cast<utf8proc_ssize_t>(buffer.size()),
                                static_cast<utf8proc_option_t>(options), &last_boundclass);
    if (n <= 0 || static_cast<std::size_t>(n) > buffer.size())
        return {c};
    std::vector<char32_t> out(static_cast<std::size_t>(n));
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = static_cast<char32_t>(buffer[i]);
    return out;
}

int combining_class(char32_t c) noexcept {
    if (c < 0x300)
        return 0;
    return utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class;
}

char32_t compose_pair(char32_t a, char32_t b) {
    if (b < 0x300)
        return 0; // no primary composite has a second character below U+0300
    std::array<utf8proc_int32_t, 2> buffer{static_cast<utf8proc_int32_t>(a),
                                           static_cast<utf8proc_int32_t>(b)};
    const auto n = utf8proc_normalize_utf32(buffer.data(), 2,
                                            static_cast<utf8proc_option_t>(UTF8PROC_COMPOSE));
    return n == 1 ? static_cast<char32_t>(buffer[0]) : 0;
}

std::vector<std::size_t> grapheme_boundaries(std::string_view s) {
    std::vector<std::size_t> out;
    utf8proc_int32_t state = 0;
    utf8proc_int32_t previous = -1;
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t at = i;
        const auto c = static_cast<utf8proc_int32_t>(next_code_point(s, i));
        if (previous < 0 || utf8proc_grapheme_break_stateful(previous, c, &state))
            out.push_back(at);
        previous = c;
    }
    out.push_back(s.size());
    return out;
}

// ---------------------------------------------------------------------------------------------
// Scripts: one PCRE2 pattern with a group per script, matched on one character.
namespace {
constexpr std::array script_names{"Common",
                                  "Inherited",
                                  "Latin",
                                  "Greek",
                                  "Cyrillic",
                                  "Armenian",
                                  "Hebrew",
                                  "Arabic",
                                  "Syriac",
                                  "Thaana",
                                  "Devanagari",
                                  "Bengali",
                                  "Gurmukhi",
                                  "Gujarati",
                                  "Oriya",
                                  "Tamil",
                                  "Telugu",
                                  "Kannada",
                                  "Malayalam",
                                  "Sinhala",
                                  "Thai",
                                  "Lao",
                                  "Tibetan",
                                  "Myanmar",
                                  "Georgian",
                                  "Hangul",
                                  "Ethiopic",
                                  "Cherokee",
                                  "Canadian_Aboriginal",
                                  "Ogham",
                                  "Runic",
                                  "Khmer",
                                  "Mongolian",
                                  "Hiragana",
                                  "Katakana",
                                  "Bopomofo",
                                  "Han",
                                  "Yi",
                                  "Gothic",
                                  "Tagalog",
                                  "Braille",
                                  "Coptic",
                                  "Tifinagh",
                                  "Nko",
                                  "Vai",
                                  "Javanese",
                                  "Balinese",
                                  "Sundanese",
                                  "Tai_Le",
                                  "Lisu",
                                  "Bamum",
                                  "Adlam",
                                  "Thai"};
} // namespace

int script_of(char32_t c) {
    static const regex pattern = [] {
        std::string p = "^(?:";
        for (std::size_t i = 0; i < script_names.size(); ++i) {
            if (i)
                p += '|';
            p += "(\\p{";
            p += script_names[i];
            p += "})";
        }
        p += ")";
        return regex(p);
    }();
    std::string one;
    append_utf8(one, c);
    // find_all gives the overall range only; test the groups one by one through search().
    static const std::vector<regex> singles = [] {
        std::vector<regex> v;
        for (const char* name : script_names)
            v.emplace_back(std::string("^\\p{") + name + "}");
        return v;
    }();
    if (!pattern.search(one))
        return -1; // Unknown
    for (std::size_t i = 0; i < singles.size(); ++i)
        if (singles[i].search(one))
            return static_cast<int>(i);
    return -1;
}

// ---------------------------------------------------------------------------------------------
// regex

namespace {
/** Oniguruma's `\s` (White_Space) contains U+0085; PCRE2's UCP `\s` does not. */
std::string translate_pattern(std::string_view p) {
    std::string out;
    out.reserve(p.size() + 16);
    bool in_class = false;
    for (std::size_t i = 0; i < p.size(); ++i) {
        const char c = p[i];
        if (c == '\\' && i + 1 < p.size()) {
            const char n = p[i + 1];
            if (n == 's') {
                out += in_class ? "\\s\\x{85}" : "[\\s\\x{85}]";
            } else if (n == 'S' && !in_class) {
                out += "[^\\s\\x{85}]";
            } else {
                out += c;
                out += n;
            }
            ++i;
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = true;
            out += c;
            // A ']' or '^]' right after the opening bracket is a literal.
            if (i + 1 < p.size() && p[i + 1] == '^') {
                out += '^';
                ++i;
            }
            if (i + 1 < p.size() && p[i + 1] == ']') {
                out += ']';
                ++i;
            }
            continue;
        }
        if (c == ']' && in_class)
            in_class = false;
        out += c;
    }
    return out;
}
} // namespace

struct regex::state {
    pcre2_code* code = nullptr;
    bool jit = false;
    ~state() {
        if (code)
            pcre2_code_free(code);
    }
};

regex::regex(std::string_view pattern, bool literal)
    : state_(std::make_unique<state>()) {
    std::string translated = literal ? std::string(pattern) : translate_pattern(pattern);
    int error = 0;
    PCRE2_SIZE error_offset = 0;
    uint32_t options = PCRE2_UTF | PCRE2_NO_UTF_CHECK;
    options |= literal ? PCRE2_LITERAL : PCRE2_UCP;
    state_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                                 options & ~PCRE2_NO_UTF_CHECK, &error, &error_offset, nullptr);
    if (!state_->code) {
        std::array<PCRE2_UCHAR, 256> message{};
        pcre2_get_error_message(error, message.data(), message.size());
        throw std::runtime_error("invalid pattern \"" + std::string(pattern) + "\" at " +
                                 std::to_string(error_offset) + ": " +
                                 reinterpret_cast<const char*>(message.data()));
    }
    state_->jit = pcre2_jit_compile(state_->code, PCRE2_JIT_COMPLETE) == 0;
}

regex::regex(regex&&) noexcept = default;
regex& regex::operator=(regex&&) noexcept = default;
regex::~regex() = default;

namespace {
struct match_data_deleter {
    void operator()(pcre2_match_data* d) const noexcept { pcre2_match_data_free(d); }
};
pcre2_match_data* thread_match_data() {
    thread_local std::unique_ptr<pcre2_match_data, match_data_deleter> data(
        pcre2_match_data_create(64, nullptr));
    return data.get();
}
} // namespace

void regex::find_all(std::string_view subject,
                     std::vector<std::pair<std::size_t, std::size_t>>& out) const {
    auto* data = thread_match_data();
    const auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
    std::size_t start = 0;
    while (start <= subject.size()) {
        const int rc = state_->jit ? pcre2_jit_match(state_->code, s, subject.size(), start,
                                                     PCRE2_NO_UTF_CHECK, data, nullptr)
                                   : pcre2_match(state_->code, s, subject.size(), start,
                                                 PCRE2_NO_UTF_CHECK, data, nullptr);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0)
            throw std::runtime_error("pattern match failed (PCRE2 error " + std::to_string(rc) +
                                     ")");
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data);
        const std::size_t b = ov[0], e = ov[1];
        if (e > b) {
            out.emplace_back(b, e);
            start = e;
        } else {
            // An empty match: step over one character.
            if (b >= subject.size())
                break;
            start = b + utf8_length(static_cast<unsigned char>(subject[b]));
        }
    }
}

bool regex::search(std::string_view subject) const {
    auto* data = thread_match_data();
    const auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
    const int rc =
        state_->jit
            ? pcre2_jit_match(state_->code, s, subject.size(), 0, PCRE2_NO_UTF_CHECK, data, nullptr)
            : pcre2_match(state_->code, s, subject.size(), 0, PCRE2_NO_UTF_CHECK, data, nullptr);
    return rc >= 0;
}

} // namespace ctt::text::detail
