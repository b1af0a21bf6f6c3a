#pragma once
/**
 * @file
 * @brief Sparse attention patterns: the Sparse Transformer's strided and fixed patterns
 *        (Child et al. 2019, arXiv:1904.10509, used by GPT-3 in alternate layers) and DALL-E's
 *        row, column and convolutional masks over an image-token grid that follows a text
 *        prefix (Ramesh et al. 2021, arXiv:2102.12092; semantics of lucidrains'
 *        DALLE-pytorch `SparseAxialCausalAttention` and `SparseConvCausalAttention`).
 *
 * All of them are causal. Each classifies tiles exactly or conservatively.
 */

#include "ctt/attention/attention_concepts.hpp"
#include "ctt/attention/masks.hpp"

namespace ctt {

/**
 * @brief Strided pattern (Child et al. 2019, eq. for A^(1) and A^(2) merged): the query at p
 *        sees key j <= p when `p - j < stride` (the local head) or `(p - j) % stride == 0`
 *        (the strided head).
 */
struct strided_sparse_mask {
    index_t stride = 1;

    [[nodiscard]] constexpr bool visible(index_t q_pos, index_t k_pos) const noexcept {
        if (k_pos > q_pos) {
            return false;
        }
        const index_t d = q_pos - k_pos;
        return d < stride || d % stride == 0;
    }
    [[nodiscard]] constexpr tile_visibility
    classify(index_t q_begin, index_t q_end, index_t k_begin, index_t k_end) const noexcept {
        const tile_visibility causal = detail::classify_causal(q_begin, q_end, k_begin, k_end);
        if (causal == tile_visibility::visible && (q_end - 1) - k_begin < stride) {
            return tile_visibility::visible;
        }
        return causal == tile_visibility::hidden ? causal : tile_visibility::partial;
    }
    void apply(index_t q_pos, index_t k_begin, index_t n, float* row) const noexcept {
        detail::apply_by_pairs(*this, q_pos, k_begin, n, row);
    }
    void apply_column(index_t k_pos, index_t q_begin, index_t n, float* col) const noexcept {
        detail::apply_column_by_pairs(*this, k_pos, q_begin, n, col);
    }
};

/**
 * @brief Fixed pattern (Child et al. 2019): the query at p sees key j <= p when both sit in
 *        the same block of `stride` positions (`j / stride == p / stride`) or j is one of the
 *        last `summary` positions of its block (`j % stride >= stride - summary`, the "c"
 *        summary cells).
 */
struct fixed_sparse_mask {
    index_t stride = 1;
    index_t summary = 1;

    [[nodiscard]] constexpr bool visible(index_t q_pos, index_t k_pos) const noexcept {
        return k_pos <= q_pos && (k_pos / stride == q_pos / stride || is_summary(k_pos));
    }
    [[nodiscard]] constexpr tile_visibility
    classify(index_t q_begin, index_t q_end, index_t k_begin, index_t k_end) const noexcept {
        const tile_visibility causal = detail::classify_causal(q_begin, q_end, k_begin, k_end);
        if (causal == tile_visibility::hidden) {
            return causal;
        }
        const index_t k_last = k_end - 1;
        const bool one_block = k_begin / stride == (q_end - 1) / stride;
        if (causal == tile_visibility::visible && one_block) {
            return tile_visibility::visible;
        }
        // No summary cell among the keys and every key block before every query block.
        if (k_last / stride < q_begin / stride && !has_summary(k_begin, k_end)) {
            return tile_visibility::hidden;
        }
        return tile_visibility::partial;
    }
    void apply(index_t q_pos, index_t k_begin, index_t n, float* row) const noexcept {
        detail::apply_by_pairs(*this, q_pos, k_begin, n, row);
    }
    void apply_column(index_t k_pos, index_t q_begin, index_t n, float* col) const noexcept {
        detail::apply_column_by_pairs(*this, k_pos, q_begin, n, col);
    }

private:
    [[nodiscard]] constexpr bool is_summary(index_t k_pos) const noexcept {
        return k_pos % stride + summary >= stride;
    }
    [[nodiscard]] constexpr bool has_summary(index_t k_begin, index_t k_end) const noexcept {
        if (summary == 0) {
            return false;
        }
        if (k_end - k_begin >= stride) {
            return true;
        }
        for (index_t j = k_begin; j < k_end; ++j) {
            if (is_summary(j)) {
                return true;
            }
        }
        return false;
    }
};

/// Which attention a GPT-3 layer uses.
enum class sparse_pattern {
    dense,   ///< causal
    strided, ///< `strided_sparse_mask`
    fixed,   ///< `fixed_sparse_mask`
    local,   ///< a causal band of `stride` keys (`sliding_window_mask`)
};

/**
 * @brief GPT-3's per-layer attention (Brown et al., arXiv:2005.14165, section 2.1: "alternating
 *        dense and locally banded sparse attention patterns in the layers of the transformer,
 *        similar to the Sparse Transformer"): one mask type whose pattern is chosen per layer at
 *        run time, so every layer goes through the same kernel instantiation.
 */
struct layer_sparse_mask {
    sparse_pattern pattern = sparse_pattern::dense;
    index_t stride = 1;
    index_t summary = 1;

    [[nodiscard]] constexpr bool visible(index_t q_pos, index_t k_pos) const noexcept {
        switch (pattern) {
        case sparse_pattern::strided:
            return strided_sparse_mask{stride}.visible(q_pos, k_pos);
        case sparse_pattern::fixed:
            return fixed_sparse_mask{stride, summary}.visible(q_pos, k_pos);
        case sparse_pattern::local:
            return sliding_window_mask{stride}.visible(q_pos, k_pos);
        default:
            return k_pos <= q_pos;
        }
    }
    [[nodiscard]] constexpr tile_visibility
    classify(index_t q_begin, index_t q_end, index_t k_begin, index_t k_end) const noexcept {
        switch (pattern) {
        case sparse_pattern::strided:
            return strided_sparse_mask{stride}.classify(q_begin, q_end, k_begin, k_end);
        case sparse_pattern::fixed:
            return fixed_sparse_mask{stride, summary}.classify(q_begin, q_end, k_begin, k_end);
        case sparse_pattern::local:
            return sliding_window_mask{stride}.classify(q_begin, q_end, k_begin, k_end);
        default:
            return detail::classify_causal(q_begin, q_end, k_begin, k_end);
        }
    }
    void apply(index_t q_pos, index_t k_begin, index_t n, float* row) const noexcept {
        switch (pattern) {
        case sparse_pattern::strided:
            return strided_sparse_mask{stride}.apply(q_pos, k_begin, n, row);
        case sparse_pattern::fixed:
            return fixed_sparse_mask{stride, summary}.apply(q_pos, k_begin, n, row);
        case sparse_pattern::local:
            return sliding_window_mask{stride}.apply(q_pos, k_begin, n, row);
        default:
            return causal_mask{}.apply(q_pos, k_begin, n, row);
        }
    }
    void apply_column(index_t k_pos, index_t q_begin, index_t n, float* col) const noexcept {
        switch (pattern) {
        case sparse_pattern::strided:
            return strided_sparse_mask{stride}.apply_column(k_pos, q_begin, n, col);
        case sparse_pattern::fixed:
            return fixed_sparse_mask{stride, summary}.apply_column(k_pos, q_begin, n, col);
        case sparse_pattern::local:
            return sliding_window_mask{stride}.apply_column(k_pos, q_begin, n, col);
        default:
            return causal_mask{}.apply_column(k_pos, q_begin, n, col);
        }
    }
};

/// Which DALL-E image pattern a `dalle_mask` draws.
enum class dalle_pattern {
    row,           ///< axial attention along the row (DALLE-pytorch `axis = 0`)
    column,        ///< axial attention along the column (`axis = 1`)
    convolutional, ///< a dilated k x k window ending at the query (above and to its left)
    full,          ///< every earlier image token (dense causal attention, DALLE-pytorch `full`)
};

/**
 * @brief DALL-E's sparse masks over `[text_len text tokens | image_size^2 image tokens]`.
 *
 * - a text query sees earlier text (causal);
 * - an image query sees all text, plus earlier-or-equal image tokens (raster order) that lie
 *   in its row (`row`), its column (`column`), or its dilated `kernel x kernel` window whose
 *   bottom-right corner is the query (`convolutional`: row and column offsets `-a * dilation`
 *   for `a < kernel`, the "top-left causal padding" of the DALLE-pytorch version the reference
 *   case ran, 58c1e1a; `tests/attention/dalle_golden_test.cpp` pins it).
 *
 * Text padding is a separate `key_padding_mask` combined with `mask_and`.
 */
struct dalle_mask {
    dalle_pattern pattern = dalle_pattern::row;
    index_t text_len = 0;
    index_t image_size = 1;
    index_t kernel = 3;
    index_t dilation = 1;

    [[nodiscard]] constexpr bool visible(index_t q_pos, index_t k_pos) const noexcept {
        if (k_pos > q_pos) {
            return false;
        }
        if (k_pos < text_len) {
            return true; // text is causal, and every image token sees all text
        }
        // k_pos >= text_len and k_pos <= q_pos: both are image tokens.
        const index_t qi = q_pos - text_len;
        const index_t ki = k_pos - text_len;
        const index_t qr = qi / image_size;
        const index_t qc = qi % image_size;
        const index_t kr = ki / image_size;
        const index_t kc = ki % image_size;
        switch (pattern) {
        case dalle_pattern::full:
            return true;
        case dalle_pattern::row:
            return qr == kr;
        case dalle_pattern::column:
            return qc == kc;
        case dalle_pattern::convolutional:
        default: {
            if (kr > qr || kc > qc) {
                return false;
            }
            const index_t span = (kernel - 1) * dilation;
            const index_t dr = qr - kr;
            const index_t dc = qc - kc;
            return dr <= span && dc <= span && dr % dilation == 0 && dc % dilation == 0;
        }
        }
    }
    [[nodiscard]] constexpr tile_visibility
    classify(index_t q_begin, index_t q_end, index_t k_begin, index_t k_end) const noexcept {
        const tile_visibility causal = detail::classify_causal(q_begin, q_end, k_begin, k_end);
        if (causal == tile_visibility::hidden) {
            return causal;
        }
        if (k_end <= text_len || pattern == dalle_pattern::full) {
            return causal; // text keys, or dense layers: the mask is plain causal
        }
        if (k_begin >= text_len && q_begin >= text_len) {
            const index_t last_key_row = (k_end - 1 - text_len) / image_size;
            const index_t first_query_row = (q_begin - text_len) / image_size;
            if (pattern == dalle_pattern::row && last_key_row < first_query_row) {
                return tile_visibility::hidden; // every key row above every query row
            }
            if (pattern == dalle_pattern::convolutional &&
                last_key_row + (kernel - 1) * dilation < first_query_row) {
                return tile_visibility::hidden; // every key row above every window
            }
        }
        return tile_visibility::partial;
    }
    void apply(index_t q_pos, index_t k_begin, index_t n, float* row) const noexcept {
        detail::apply_by_pairs(*this, q_pos, k_begin, n, row);
    }
    void apply_column(index_t k_pos, index_t q_begin, index_t n, float* col) const noexcept {
        detail::apply_column_by_pairs(*this, k_pos, q_begin, n, col);
    }
};

static_assert(column_attention_mask<strided_sparse_mask>);
static_assert(column_attention_mask<fixed_sparse_mask>);
static_assert(column_attention_mask<dalle_mask>);

} // namespace ctt
