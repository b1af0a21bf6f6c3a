#pragma once
/**
 * @file
 * @brief Dense attention masks: causal, key padding, sliding window (GPT-Neo's local band,
 *        Longformer-style symmetric window) and the conjunction of two masks.
 *
 * Every mask models `ctt::attention_mask`. Positions are absolute (see
 * `attention_concepts.hpp`). `classify` is exact or conservative: it answers `hidden` or
 * `visible` only when every pair of the tile is so, which is what makes tile skipping in
 * `flash_attention` correct.
 */

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>

#include "ctt/attention/attention_concepts.hpp"

namespace ctt {

namespace detail {

inline constexpr float masked_score = -std::numeric_limits<float>::infinity();

/// Applies a mask element by element through `visible`; masks with a closed form override it.
template <class M>
inline void apply_by_pairs(const M& m, index_t q_pos, index_t k_begin, index_t n, float* row) {
    for (index_t t = 0; t < n; ++t) {
        if (!m.visible(q_pos, k_begin + t)) {
            row[t] = masked_score;
        }
    }
}

/// The column form of `apply_by_pairs`: `col[t] = -inf` where `(q_begin + t, k_pos)` is hidden.
template <class M>
inline void apply_column_by_pairs(const M& m, index_t k_pos, index_t q_begin, index_t n,
                                  float* col) {
    for (index_t t = 0; t < n; ++t) {
        if (!m.visible(q_begin + t, k_pos)) {
            col[t] = masked_score;
        }
    }
}

/// Sets `row[t] = -inf` where `k_begin + t >= k_end` (the tail past a causal boundary). Works
/// along a key row (positions of keys) or down a column (positions of queries).
inline void mask_from(index_t k_begin, index_t k_end, index_t n, float* row) noexcept {
    for (index_t t = k_end > k_begin ? k_end - k_begin : 0; t < n; ++t) {
        row[t] = masked_score;
    }
}

/// Sets `row[t] = -inf` where `k_begin + t < k_first` (the head before a window).
inline void mask_before(index_t k_begin, index_t k_first, index_t n, float* row) noexcept {
    for (index_t t = 0; t < n && k_begin + t < k_first; ++t) {
        row[t] = masked_score;
    }
}

/// Causal classification of a tile: the shared first step of every causal pattern.
constexpr tile_visibility classify_causal(index_t q_begin, index_t q_end, index_t k_begin,
                                          index_t k_end) noexcept {
    if (q_begin >= q_end || k_begin >= k_end || k_begin >= q_end) {
        return tile_visibility::hidden; // every key after every query
    }
    return k_end - 1 <= q_begin ? tile_visibility::visible : tile_visibility::partial;
}

} // namespace detail

/**
 * @brief Causal mask aligned bottom-right: the query at position p sees keys `j <= p`.
 *
 * With the default `q_offset = Lk - Lq` this is PyTorch's `tril(Lk - Lq)`, the mask of a
 * decoder reading a KV cache.
 */
struct causal_mask {
    static constexpr bool visible(index_t q_pos, index_t k_pos) noexcept { return k_pos <= q_pos; }
    static constexpr tile_visibility classify(index_t q_begin, index_t q_end, index_t k_begin,
                                              index_t k_end) noexcept {
        return detail::classify_causal(q_begin, q_end, k_begin, k_end);
    }
    static void apply(index_t q_pos, index_t k_begin, index_t n, float* row) noexcept {
        detail::mask_from(k_begin, q_pos + 1, n, row);
    }
    /// Queries before the key do not see it.
    static void apply_column(index_t k_pos, index_t q_begin, index_t n, float* col) noexcept {
        detail::mask_before(q_begin, k_pos, n, col);
    }
};

/**
 * @brief Key padding of one batch row: keys at or past `valid_length`, or whose flag is
 *        false, are hidden from every query (HF's `attention_mask` of 0s and 1s).
 *
 * Built from a length (`key_padding_mask{5}`) or from a span of flags, which must outlive the
 * mask; keys past the end of the span are hidden.
 */
class key_padding_mask {
public:
    /// Keys `[0, valid_length)` are real tokens.
    constexpr explicit key_padding_mask(index_t valid_length) noexcept
        : length_(valid_length) {}
    /// `flags[j] != 0` marks key j as a real token.
    constexpr explicit key_padding_mask(std::span<const std::uint8_t> flags) noexcept
        : length_(flags.size())
        , flags_(flags) {}

    [[nodiscard]] constexpr bool visible(index_t, index_t k_pos) const noexcept {
        return k_pos < length_ && (flags_.empty() || flags_[k_pos] != 0);
    }
    [[nodiscard]] constexpr tile_visibility classify(index_t, index_t, index_t k_begin,
                                                     index_t k_end) const noexcept {
        if (k_begin >= length_) {
            return tile_visibility::hidden;
        }
        if (flags_.empty()) {
            return k_end <= length_ ? tile_visibility::visible : tile_visibility::partial;
        }
        index_t seen = 0;
        const index_t end = k_end < length_ ? k_end : length_;
        for (index_t j = k_begin; j < end; ++j) {
            seen += flags_[j] != 0 ? 1 : 0;
        }
        if (seen == 0) {
            return tile_visibility::hidden;
        }
        return seen == k_end - k_begin ? tile_visibility::visible : tile_visibility::partial;
    }
    void apply(index_t q_pos, index_t k_begin, index_t n, float* row) const noexcept {
        if (flags_.empty()) {
            detail::mask_from(k_begin, length_, n, row);
        } else {
            detail::apply_by_pairs(*this, q_pos, k_begin, n, row);
        }
    }
    /// A padding key is hidden from every query.
    void apply_column(index_t k_pos, index_t, index_t n, float* col) const noexcept {
        if (!visible(0, k_pos)) {
            std::fill(col, col + n, detail::masked_score);
        }
    }

private:
    index_t length_;
    std::span<const std::uint8_t> flags_{};
};

/**
 * @brief Causal sliding window of `window` keys: the query at p sees keys in `(p - window, p]`,
 *        its own token included (Mistral's sliding window; GPT-Neo's local attention with
 *        `window_size`, Black et al. 2021; the "local band" of Child et al., arXiv:1904.10509).
 */
struct sliding_window_mask {
    index_t window = 1;

    [[nodiscard]] constexpr bool visible(index_t q_pos, index_t k_pos) const noexcept {
        return k_pos <= q_pos && q_pos - k_pos < window;
    }
    [[nodiscard]] constexpr tile_visibility
    classify(index_t q_begin, index_t q_end, index_t k_begin, index_t k_end) const noexcept {
        const tile_visibility causal = detail::classify_causal(q_begin, q_end, k_begin, k_end);
        if (causal == tile_visibility::hidden) {
            return causal;
        }
        // Smallest distance p - j over the tile (>= 0 or negative) reaches the window?
        if (q_begin >= k_end - 1 && q_begin - (k_end - 1) >= window) {
            return tile_visibility::hidden;
        }
        if (causal == tile_visibility::visible && (q_end - 1) - k_begin < window) {
            return tile_visibility::visible;
        }
        return tile_visibility::partial;
    }
    void apply(index_t q_pos, index_t k_begin, index_t n, float* row) const noexcept {
        detail::mask_from(k_begin, q_pos + 1, n, row);
        if (q_pos + 1 >= window) {
            detail::mask_before(k_begin, q_pos + 1 - window, n, row);
        }
    }
    /// Key j is seen by queries `[j, j + window)`.
    void apply_column(index_t k_pos, index_t q_begin, index_t n, float* col) const noexcept {
        detail::mask_before(q_begin, k_pos, n, col);
        detail::mask_from(q_begin, k_pos + window, n, col);
    }
};

/// GPT-Neo's local attention layers: a causal band of `window_size` keys.
using local_band_mask = sliding_window_mask;

/**
 * @brief Bidirectional window: the query at p sees keys with `|p - j| <= radius`
 *        (Longformer's local attention, Beltagy et al., arXiv:2004.05150, with w = 2 radius).
 */
struct symmetric_window_mask {
    index_t radius = 0;

    [[nodiscard]] constexpr bool visible(index_t q_pos, index_t k_pos) const noexcept {
        return (q_pos >= k_pos ? q_pos - k_pos : k_pos - q_pos) <= radius;
    }
    [[nodiscard]] constexpr tile_visibility
    classify(index_t q_begin, index_t q_end, index_t k_begin, index_t k_end) const noexcept {
        if (q_begin >= q_end || k_begin >= k_end) {
            return tile_visibility::hidden;
        }
        const index_t q_last = q_end - 1;
        const index_t k_last = k_end - 1;
        if (k_begin > q_last + radius || q_begin > k_last + radius) {
            return tile_visibility::hidden;
        }
        const index_t far_back = q_last >= k_begin ? q_last - k_begin : 0;
        const index_t far_ahead = k_last >= q_begin ? k_last - q_begin : 0;
        return far_back <= radius && far_ahead <= radius ? tile_visibility::visible
                                                         : tile_visibility::partial;
    }
    void apply(index_t q_pos, index_t k_begin, index_t n, float* row) const noexcept {
        detail::mask_from(k_begin, q_pos + radius + 1, n, row);
        if (q_pos >= radius) {
            detail::mask_before(k_begin, q_pos - radius, n, row);
        }
    }
    /// The window is symmetric: key j is seen by queries `[j - radius, j + radius]`.
    void apply_column(index_t k_pos, index_t q_begin, index_t n, float* col) const noexcept {
        detail::mask_from(q_begin, k_pos + radius + 1, n, col);
        if (k_pos >= radius) {
            detail::mask_before(q_begin, k_pos - radius, n, col);
        }
    }
};

/**
 * @brief The conjunction of two masks: a pair is visible when both masks show it
 *        (`mask_and(key_padding_mask{n}, causal_mask{})`).
 */
template <attention_mask A, attention_mask B>
struct mask_conjunction {
    A first;
    B second;

    [[nodiscard]] constexpr bool visible(index_t q_pos, index_t k_pos) const noexcept {
        return first.visible(q_pos, k_pos) && second.visible(q_pos, k_pos);
    }
    [[nodiscard]] constexpr tile_visibility
    classify(index_t q_begin, index_t q_end, index_t k_begin, index_t k_end) const noexcept {
        const tile_visibility a = first.classify(q_begin, q_end, k_begin, k_end);
        if (a == tile_visibility::hidden) {
            return a;
        }
        const tile_visibility b = second.classify(q_begin, q_end, k_begin, k_end);
        if (b == tile_visibility::hidden) {
            return b;
        }
        return a == tile_visibility::visible && b == tile_visibility::visible
                   ? tile_visibility::visible
                   : tile_visibility::partial;
    }
    void apply(index_t q_pos, index_t k_begin, index_t n, float* row) const {
        first.apply(q_pos, k_begin, n, row);
        second.apply(q_pos, k_begin, n, row);
    }
    void
    apply_column(index_t k_pos, index_t q_begin, index_t n,
                 float* col) const requires column_attention_mask<A> && column_attention_mask<B> {
        first.apply_column(k_pos, q_begin, n, col);
        second.apply_column(k_pos, q_begin, n, col);
    }
};

/// @brief Combines two masks; a pair is visible when both show it.
template <attention_mask A, attention_mask B>
[[nodiscard]] constexpr mask_conjunction<A, B> mask_and(A a, B b) {
    return {a, b};
}

static_assert(column_attention_mask<causal_mask>);
static_assert(column_attention_mask<key_padding_mask>);
static_assert(column_attention_mask<sliding_window_mask>);
static_assert(column_attention_mask<symmetric_window_mask>);
static_assert(attention_mask<mask_conjunction<causal_mask, key_padding_mask>>);
static_assert(column_attention_mask<causal_mask>);
static_assert(column_attention_mask<mask_conjunction<causal_mask, key_padding_mask>>);

} // namespace ctt
