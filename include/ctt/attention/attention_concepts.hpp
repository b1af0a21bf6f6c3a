#pragma once
/**
 * @file
 * @brief The roles a positional encoding or a mask can play in attention, as concepts.
 *
 * Every positional encoding of the review is an input embedding (not seen here), a transform
 * of Q and K before the dot product (`qk_transform`), or a bias added to the scores
 * (`score_bias`). Masks decide which keys a query sees (`attention_mask`). The attention
 * kernels take these as policies: a new encoding is a new type that models a concept, never
 * an edit of a kernel.
 *
 * Positions are absolute. Key j of a call sits at position j (its index in the cache). Query
 * row i sits at position `q_offset + i`; by default `q_offset = Lk - Lq`, the bottom-right
 * alignment of a KV cache (the last query is the newest token).
 */

#include <concepts>
#include <cstddef>
#include <limits>

namespace ctt {

using index_t = std::size_t;

/// How a rectangle of (query, key) pairs relates to a mask.
enum class tile_visibility {
    hidden,  ///< every pair is masked out: the tile is skipped
    visible, ///< every pair is visible: the mask need not be applied
    partial, ///< mixed: `apply` must run on each row
};

/**
 * @brief A mask: which keys each query position may attend to.
 *
 * - `m.visible(q_pos, k_pos)`: one pair.
 * - `m.classify(q_begin, q_end, k_begin, k_end)`: the whole tile `[q_begin, q_end) x
 *   [k_begin, k_end)`, so kernels skip hidden tiles and avoid per-element work on visible ones.
 *   Returning `partial` is always correct, only slower.
 * - `m.apply(q_pos, k_begin, n, row)`: sets `row[t] = -inf` where `(q_pos, k_begin + t)` is
 *   hidden.
 */
template <class M>
concept attention_mask = requires(const M& m, index_t q, index_t k, index_t q_end, index_t k_end,
                                  index_t n, float* row) {
    { m.visible(q, k) } -> std::convertible_to<bool>;
    { m.classify(q, q_end, k, k_end) } -> std::same_as<tile_visibility>;
    m.apply(q, k, n, row);
};

/**
 * @brief A score bias: `row[t] += bias(head, q_pos, k_begin + t)` for `t < n`.
 *
 * It is added after the scale: `s = scale * q.k + bias` (as HF's BLOOM, T5 and SDPA with a
 * float mask compute it). A bias that depends on content (DeBERTa's c2p/p2c,
 * Transformer-XL's position term) holds what it needs and computes each entry on demand.
 */
template <class B>
concept score_bias = requires(const B& b, index_t head, index_t q, index_t k, index_t n,
                              float* row) {
    b.add(head, q, k, n, row);
};

/**
 * @brief A transform of one query or key head vector at an absolute position, in place
 *        (rotary embeddings). Applied once per token: to K as it enters the cache, to Q as it
 *        enters the kernel.
 */
template <class T>
concept qk_transform = requires(const T& t, index_t pos, float* vec, index_t dim) {
    t.apply(pos, vec, dim);
};

/**
 * @brief A mask that can also mask down one key's column of queries:
 *        `m.apply_column(k_pos, q_begin, n, col)` sets `col[t] = -inf` where
 *        `(q_begin + t, k_pos)` is hidden.
 *
 * Optional. The flash kernel keeps queries in SIMD lanes, so a tile's scores are stored one
 * key per row; a mask without this member is applied through a transposed copy of the tile.
 */
template <class M>
concept column_attention_mask = attention_mask<M> &&
    requires(const M& m, index_t k, index_t q, index_t n, float* col) {
    m.apply_column(k, q, n, col);
};

/**
 * @brief A score bias that can also add down one key's column of queries:
 *        `b.add_column(head, k_pos, q_begin, n, col)` does
 *        `col[t] += bias(head, q_begin + t, k_pos)` for `t < n`.
 *
 * Optional, as for masks: a bias without it is added through a transposed copy of each tile.
 * Every bias of `position/` has one. Measured with T5's bias on 2048 x 2048 (one thread): the
 * row form alone costs 21% over no bias at D = 64 and 6% at D = 128, the column form 0-7%.
 */
template <class B>
concept column_score_bias = score_bias<B> &&
    requires(const B& b, index_t head, index_t k, index_t q, index_t n, float* col) {
    b.add_column(head, k, q, n, col);
};

/// Every key visible to every query.
struct no_mask {
    static constexpr bool visible(index_t, index_t) noexcept { return true; }
    static constexpr tile_visibility classify(index_t, index_t, index_t, index_t) noexcept {
        return tile_visibility::visible;
    }
    static constexpr void apply(index_t, index_t, index_t, float*) noexcept {}
};

/// No score bias; kernels detect it with `is_no_bias_v` and skip the call.
struct no_bias {
    static constexpr void add(index_t, index_t, index_t, index_t, float*) noexcept {}
};

/// No Q/K transform.
struct no_transform {
    static constexpr void apply(index_t, float*, index_t) noexcept {}
};

template <class B>
inline constexpr bool is_no_bias_v = std::same_as<B, no_bias>;
template <class M>
inline constexpr bool is_no_mask_v = std::same_as<M, no_mask>;
template <class T>
inline constexpr bool is_no_transform_v = std::same_as<T, no_transform>;

static_assert(attention_mask<no_mask>);
static_assert(score_bias<no_bias>);
static_assert(qk_transform<no_transform>);

} // namespace ctt
