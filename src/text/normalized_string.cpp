#include "normalized_string.hpp"

#include <ctt/text/tokenizer.hpp>

#include <algorithm>

namespace ctt::text::detail {

normalized_string::normalized_string(std::string_view s, std::size_t base)
    : text(s)
    , original_begin(base)
    , original_end(base + s.size()) {
    align.resize(s.size());
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t len = utf8_length(static_cast<unsigned char>(s[i]));
        const span32 a{static_cast<std::uint32_t>(base + i),
                       static_cast<std::uint32_t>(base + i + len)};
        for (std::size_t k = 0; k < len && i + k < s.size(); ++k)
            align[i + k] = a;
        i += len;
    }
}

std::pair<std::size_t, std::size_t> normalized_string::to_original(std::size_t b,
                                                                   std::size_t e) const {
    if (b == e || b > e || e > align.size())
        return {original_begin + b, original_begin + e};
    return {align[b].first, align[e - 1].second};
}

void normalized_string::transform_range(std::size_t begin, std::size_t end, const change_list& dest,
                                        std::size_t initial_offset) {
    std::size_t offset = begin;
    for (std::size_t k = 0; k < initial_offset && offset < end; ++k)
        offset += utf8_length(static_cast<unsigned char>(text[offset]));
    std::string out;
    std::vector<span32> out_align;
    out.reserve(end - begin + dest.size());
    out_align.reserve(end - begin + dest.size());
    const span32 origin{static_cast<std::uint32_t>(original_begin),
                        static_cast<std::uint32_t>(original_begin)};
    for (const auto& [c, change] : dest) {
        span32 a{};
        if (change > 0) {
            a = offset < 1 ? origin : align[offset - 1];
        } else {
            if (offset >= align.size())
                throw tokenizer_error("internal error: normalization ran past the string");
            a = align[offset];
        }
        if (change <= 0 && offset < end)
            offset += utf8_length(static_cast<unsigned char>(text[offset]));
        for (int r = 0; r < -change && offset < end; ++r)
            offset += utf8_length(static_cast<unsigned char>(text[offset]));
        const std::size_t before = out.size();
        append_utf8(out, c);
        out_align.insert(out_align.end(), out.size() - before, a);
    }
    text.replace(begin, end - begin, out);
    align.erase(align.begin() + static_cast<std::ptrdiff_t>(begin),
                align.begin() + static_cast<std::ptrdiff_t>(end));
    align.insert(align.begin() + static_cast<std::ptrdiff_t>(begin), out_align.begin(),
                 out_align.end());
}

void normalized_string::prepend(std::string_view s) {
    if (text.empty() || s.empty())
        return;
    std::size_t i = 0;
    const char32_t first = next_code_point(text, i);
    change_list dest;
    bool is_first = true;
    for (std::size_t k = 0; k < s.size();) {
        dest.emplace_back(next_code_point(s, k), is_first ? 0 : 1);
        is_first = false;
    }
    dest.emplace_back(first, 1);
    transform_range(0, i, dest, 0);
}

void normalized_string::append(std::string_view s) {
    if (s.empty())
        return;
    change_list dest;
    if (text.empty()) {
        for (std::size_t k = 0; k < s.size();)
            dest.emplace_back(next_code_point(s, k), 1);
        transform_range(0, 0, dest, 0);
        return;
    }
    std::size_t last = text.size() - 1;
    while (last > 0 && (static_cast<unsigned char>(text[last]) & 0xC0) == 0x80)
        --last;
    std::size_t i = last;
    dest.emplace_back(next_code_point(text, i), 0);
    for (std::size_t k = 0; k < s.size();)
        dest.emplace_back(next_code_point(s, k), 1);
    transform_range(last, text.size(), dest, 0);
}

void normalized_string::lowercase() {
    bool ascii_lower = true;
    for (const char ch : text) {
        const auto b = static_cast<unsigned char>(ch);
        if (b >= 0x80 || (b >= 'A' && b <= 'Z')) {
            ascii_lower = false;
            break;
        }
    }
    if (ascii_lower)
        return;
    change_list dest;
    dest.reserve(text.size());
    std::vector<char32_t> lower;
    for (std::size_t i = 0; i < text.size();) {
        lower.clear();
        append_lowercase(next_code_point(text, i), lower);
        for (std::size_t k = 0; k < lower.size(); ++k)
            dest.emplace_back(lower[k], k > 0 ? 1 : 0);
    }
    transform(dest, 0);
}

void normalized_string::replace(const match_list& matches, std::string_view content) {
    std::string out;
    std::vector<span32> out_align;
    out.reserve(text.size());
    out_align.reserve(text.size());
    std::size_t last_end = 0;
    const span32 origin{static_cast<std::uint32_t>(original_begin),
                        static_cast<std::uint32_t>(original_begin)};
    for (const auto& [range, is_match] : matches) {
        if (!is_match)
            continue;
        const auto [start, end] = range;
        out.append(text, last_end, start - last_end);
        out_align.insert(out_align.end(), align.begin() + static_cast<std::ptrdiff_t>(last_end),
                         align.begin() + static_cast<std::ptrdiff_t>(start));
        // Every character of `content` is an insertion after the removed match: it takes the
        // alignment of the match's last byte.
        const span32 a = end < 1 ? origin : align[end - 1];
        const std::size_t before = out.size();
        out.append(content);
        out_align.insert(out_align.end(), out.size() - before, a);
        last_end = end;
    }
    out.append(text, last_end, std::string::npos);
    out_align.insert(out_align.end(), align.begin() + static_cast<std::ptrdiff_t>(last_end),
                     align.end());
    text = std::move(out);
    align = std::move(out_align);
}

void normalized_string::strip(bool left, bool right) {
    const auto cps = code_points(text);
    std::size_t leading = 0, trailing = 0;
    if (left)
        while (leading < cps.size() && is_whitespace(cps[leading]))
            ++leading;
    if (right)
        while (trailing < cps.size() - leading && is_whitespace(cps[cps.size() - 1 - trailing]))
            ++trailing;
    if (leading == 0 && trailing == 0)
        return;
    change_list dest;
    const std::size_t count = cps.size();
    for (std::size_t i = 0; i < count; ++i) {
        if (i < leading || i >= count - trailing)
            continue;
        // The reference compares the character index with the byte length here; ASCII-exact.
        if (i + trailing + 1 == text.size()) {
            dest.emplace_back(cps[i], -static_cast<int>(trailing));
        } else {
            dest.emplace_back(cps[i], 0);
        }
    }
    transform(dest, leading);
}

normalized_string normalized_string::slice(std::size_t b, std::size_t e) const {
    normalized_string out;
    if (b >= e || e > text.size())
        return out;
    out.text.assign(text, b, e - b);
    out.align.assign(align.begin() + static_cast<std::ptrdiff_t>(b),
                     align.begin() + static_cast<std::ptrdiff_t>(e));
    out.original_begin = align[b].first;
    out.original_end = align[e - 1].second;
    return out;
}

void normalized_string::split(const match_list& matches, split_behavior behavior,
                              std::vector<normalized_string>& out) const {
    using range = std::pair<std::size_t, std::size_t>;
    std::vector<std::pair<range, bool>> splits; // (range, remove)
    splits.reserve(matches.size());
    switch (behavior) {
    case split_behavior::isolated:
        for (const auto& [r, m] : matches)
            splits.push_back({r, false});
        break;
    case split_behavior::removed:
        for (const auto& [r, m] : matches)
            splits.push_back({r, m});
        break;
    case split_behavior::contiguous: {
        bool previous = false;
        for (const auto& [r, m] : matches) {
            if (m == previous && !splits.empty()) {
                splits.back().first.second = r.second;
            } else {
                splits.push_back({r, false});
            }
            previous = m;
        }
        break;
    }
    case split_behavior::merged_with_previous: {
        bool previous = false;
        for (const auto& [r, m] : matches) {
            if (m && !previous && !splits.empty()) {
                splits.back().first.second = r.second;
            } else {
                splits.push_back({r, false});
            }
            previous = m;
        }
        break;
    }
    case split_behavior::merged_with_next: {
        bool previous = false;
        for (auto it = matches.rbegin(); it != matches.rend(); ++it) {
            const auto& [r, m] = *it;
            if (m && !previous && !splits.empty()) {
                splits.back().first.first = r.first;
            } else {
                splits.push_back({r, false});
            }
            previous = m;
        }
        std::reverse(splits.begin(), splits.end());
        break;
    }
    }
    for (const auto& [r, remove] : splits) {
        if (remove || r.first >= r.second)
            continue;
        out.push_back(slice(r.first, r.second));
    }
}

match_list regex_matches(const regex& re, std::string_view s) {
    match_list out;
    if (s.empty()) {
        out.push_back({{0, 0}, false});
        return out;
    }
    thread_local std::vector<std::pair<std::size_t, std::size_t>> found;
    found.clear();
    re.find_all(s, found);
    std::size_t prev = 0;
    for (const auto& [b, e] : found) {
        if (prev != b)
            out.push_back({{prev, b}, false});
        out.push_back({{b, e}, true});
        prev = e;
    }
    if (prev != s.size())
        out.push_back({{prev, s.size()}, false});
    return out;
}

} // namespace ctt::text::detail
