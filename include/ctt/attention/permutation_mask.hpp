#pragma once
/**
 * @file
 * @brief XLNet's permutation mask (Yang et al. 2019, arXiv:1906.08237, section 2.3; HF's
 *        `perm_mask`) as an `attention_mask`: a dense per-sequence matrix of which segment
 *        token may see which, behind a memory every query sees.
 */

#include <cstdint>
#include <span>

#include "ctt/attention/attention_concepts.hpp"
#include "ctt/attention/masks.hpp"
#include "ctt/core/shape_messages.hpp"

namespace ctt {

/**
 * @brief `perm[i][j] != 0` hides segment token j from segment token i (HF's
 *        `perm_mask[b, i, j] = 1`: i cannot see j). Keys `0 .. memory - 1` are the memory,
 *        visible to every query; key `memory + j` is segment token j; query row i sits at
 *        position `memory + i`.
 *
 * Padding (HF's `attention_mask` 0, `input_mask` 1) hides a segment key from every query; an
 * empty `perm` or `key_flags` span means none. The content stream sees itself whatever the
 * matrix and the padding say (`sees_itself`, HF's `non_tgt_mask`); the query stream does not.
 * Holds views of the `[length, length]` matrix and the `length` flags, which must outlive it.
 */
class permutation_mask {
public:
    permutation_mask(std::span<const float> perm, index_t length, index_t memory, bool sees_itself,
                     std::span<const std::uint8_t> key_flags = {})
        : perm_(perm)
        , key_flags_(key_flags)
        , length_(length)
        , memory_(memory)
        , sees_itself_(sees_itself) {
        if (!perm.empty()) {
            detail::check_dims("permutation_mask: perm_mask size and length * length differ",
                               perm.size(), length * length);
        }
        if (!key_flags.empty()) {
            detail::check_dims("permutation_mask: padding flags and length differ",
                               key_flags.size(), length);
        }
    }

    [[nodiscard]] bool visible(index_t q_pos, index_t k_pos) const noexcept {
        if (k_pos < memory_) {
            return true;
        }
        if (q_pos < memory_ || k_pos >= memory_ + length_ || q_pos >= memory_ + length_) {
            return false;
        }
        const index_t i = q_pos - memory_;
        const index_t j = k_pos - memory_;
        if (sees_itself_ && i == j) {
            return true;
        }
        if (!key_flags_.empty() && key_flags_[j] == 0) {
            return false;
        }
        return perm_.empty() || perm_[i * length_ + j] == 0.0f;
    }
    [[nodiscard]] tile_visibility classify(index_t, index_t, index_t,
                                           index_t k_end) const noexcept {
        return k_end <= memory_ ? tile_visibility::visible : tile_visibility::partial;
    }
    void apply(index_t q_pos, index_t k_begin, index_t n, float* row) const {
        detail::apply_by_pairs(*this, q_pos, k_begin, n, row);
    }
    void apply_column(index_t k_pos, index_t q_begin, index_t n, float* col) const {
        detail::apply_column_by_pairs(*this, k_pos, q_begin, n, col);
    }

private:
    std::span<const float> perm_;
    std::span<const std::uint8_t> key_flags_;
    index_t length_;
    index_t memory_;
    bool sees_itself_;
};

static_assert(column_attention_mask<permutation_mask>);

} // namespace ctt
