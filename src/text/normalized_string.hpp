#pragma once
/**
 * @file
 * @brief A string being normalized, with the original byte range of each of its bytes.
 *
 * The alignment rules follow the reference's `NormalizedString` (tokenizers/src/tokenizer/
 * normalizer.rs): a transformation is a list of `(char, change)` where change 0 replaces the next
 * character, +1 inserts one (aligned with the character before it), and -n replaces one and
 * removes n more. Alignments here hold absolute offsets into the text given to `encode`.
 */
#include "unicode.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ctt::text::detail {

using span32 = std::pair<std::uint32_t, std::uint32_t>;
/** `((begin, end), is_match)` over a string, covering it left to right. */
using match_list = std::vector<std::pair<std::pair<std::size_t, std::size_t>, bool>>;
using change_list = std::vector<std::pair<char32_t, int>>;

enum class split_behavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

struct normalized_string {
    std::string text;
    std::vector<span32> align; ///< per byte of `text`: the original byte range of its character
    std::size_t original_begin = 0, original_end = 0;

    normalized_string() = default;
    /** The identity over `s`, whose first byte is at `base` in the original text. */
    explicit normalized_string(std::string_view s, std::size_t base = 0);

    [[nodiscard]] bool empty() const noexcept { return text.empty(); }
    [[nodiscard]] std::size_t size() const noexcept { return text.size(); }

    /** Normalized byte range to original byte range (absolute), as `convert_offsets`. */
    [[nodiscard]] std::pair<std::size_t, std::size_t> to_original(std::size_t b,
                                                                  std::size_t e) const;

    void transform_range(std::size_t begin, std::size_t end, const change_list& dest,
                         std::size_t initial_offset);
    void transform(const change_list& dest, std::size_t initial_offset) {
        transform_range(0, text.size(), dest, initial_offset);
    }
    template <class Keep>
    void filter(Keep keep);
    void prepend(std::string_view s);
    void append(std::string_view s);
    void lowercase();
    /** Replaces every match (`is_match` true) of `matches` by `content`. */
    void replace(const match_list& matches, std::string_view content);
    void strip(bool left, bool right);
    [[nodiscard]] normalized_string slice(std::size_t b, std::size_t e) const;
    /** Splits on `matches` with one of the reference's delimiter behaviours. */
    void split(const match_list& matches, split_behavior behavior,
               std::vector<normalized_string>& out) const;
};

template <class Keep>
void normalized_string::filter(Keep keep) {
    bool all_kept = true;
    for (std::size_t i = 0; i < text.size() && all_kept;)
        all_kept = keep(next_code_point(text, i));
    if (all_kept)
        return; // the transformation would be the identity
    change_list dest;
    dest.reserve(text.size());
    int removed = 0;
    std::size_t removed_start = 0;
    bool have_last = false;
    char32_t last = 0;
    for (std::size_t i = 0; i < text.size();) {
        const char32_t c = next_code_point(text, i);
        if (keep(c)) {
            if (have_last) {
                dest.emplace_back(last, -removed);
            } else {
                removed_start = static_cast<std::size_t>(removed);
            }
            last = c;
            have_last = true;
            removed = 0;
        } else {
            ++removed;
        }
    }
    if (have_last)
        dest.emplace_back(last, -removed);
    transform(dest, have_last ? removed_start : static_cast<std::size_t>(removed));
}

/** Matches of `pred` on single characters, as the reference's `Fn(char) -> bool` pattern. */
template <class Pred>
match_list char_matches(std::string_view s, Pred pred) {
    match_list out;
    if (s.empty()) {
        out.push_back({{0, 0}, false});
        return out;
    }
    std::size_t last = 0;
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t b = i;
        const char32_t c = next_code_point(s, i);
        if (pred(c)) {
            if (last < b)
                out.push_back({{last, b}, false});
            out.push_back({{b, i}, true});
            last = i;
        }
    }
    if (last < s.size())
        out.push_back({{last, s.size()}, false});
    return out;
}

match_list regex_matches(const regex& re, std::string_view s);
inline void invert(match_list& m) {
    for (auto& x : m)
        x.second = !x.second;
}

} // namespace ctt::text::detail
