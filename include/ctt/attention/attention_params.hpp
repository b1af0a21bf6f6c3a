#pragma once
/**
 * @file
 * @brief Run-time settings shared by every attention kernel: the score scale, where the
 *        queries sit among the keys, and how the decode path splits a long cache.
 */

#include <cmath>
#include <optional>

#include "ctt/attention/attention_concepts.hpp"

namespace ctt {

/**
 * @brief Settings of one attention call.
 *
 * - `scale`: multiplies `q.k` before the bias is added. Unset means `1/sqrt(D)` (Vaswani et
 *   al., arXiv:1706.03762); T5 and GPT-Neo use 1, DeBERTa `1/sqrt(3 D)`.
 * - `q_offset`: absolute position of query row 0. Unset means `Lk - Lq` (bottom-right
 *   alignment, the newest query is the last key), or 0 when `Lq > Lk` (cross-attention to a
 *   shorter memory).
 * - `decode_chunk`: the single-query path splits the keys into chunks of this many keys, each
 *   reduced on its own and merged in a fixed order; 0 never splits. The chunking depends only
 *   on this value and the cache length, so results do not depend on the thread count.
 */
struct attention_params {
    std::optional<float> scale{};
    std::optional<index_t> q_offset{};
    index_t decode_chunk = 1024;

    /// The scale to use for head dimension `head_dim`.
    [[nodiscard]] float scale_for(index_t head_dim) const noexcept {
        return scale ? *scale : 1.0f / std::sqrt(static_cast<float>(head_dim));
    }
    /// Absolute position of query row 0 for `lq` queries over `lk` keys.
    [[nodiscard]] index_t offset_for(index_t lq, index_t lk) const noexcept {
        if (q_offset) {
            return *q_offset;
        }
        return lk >= lq ? lk - lq : 0;
    }

    /// Returns a copy with the scale set (`attention_params{}.with_scale(1)` for T5).
    [[nodiscard]] attention_params with_scale(float s) const noexcept {
        attention_params p = *this;
        p.scale = s;
        return p;
    }
    /// Returns a copy with the query offset set.
    [[nodiscard]] attention_params with_q_offset(index_t offset) const noexcept {
        attention_params p = *this;
        p.q_offset = offset;
        return p;
    }
    /// Returns a copy with the decode chunk size set (0: one chunk).
    [[nodiscard]] attention_params with_decode_chunk(index_t chunk) const noexcept {
        attention_params p = *this;
        p.decode_chunk = chunk;
        return p;
    }
};

} // namespace ctt
