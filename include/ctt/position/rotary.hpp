#pragma once
/**
 * @file
 * @brief Rotary position embeddings (RoFormer, Su et al. 2021, arXiv:2104.09864) as a
 *        `qk_transform`: each pair of the first `rotary_dim` components of a query or key head
 *        vector is rotated by `pos * inv_freq_k`.
 *
 * Two pairings exist in the models of the review:
 * - `half_split` (GPT-NeoX, LLaMA, PaLM-style HF models; `rotate_half`): component k pairs with
 *   component `k + rotary_dim/2`.
 * - `interleaved` (GPT-J; `rotate_every_two`): component 2k pairs with 2k + 1.
 *
 * Partial rotary (GPT-NeoX `rotary_pct`, GPT-J `rotary_dim`, `partial_rotary_factor`) rotates
 * only the first `rotary_dim` components and leaves the rest untouched.
 *
 * Numerics follow HF in float32: `inv_freq_k = 1 / float(base^(float(2k) / rotary_dim))`, the
 * angle `float(pos) * inv_freq_k` rounded to float, then cos/sin of that float (computed in
 * double and rounded, i.e. correctly rounded; PyTorch's float cos/sin are within 1 ulp), so
 * the tables agree with HF's `cos`/`sin` caches to about 1e-7.
 */

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "ctt/attention/attention_concepts.hpp"
#include "ctt/core/errors.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor_view.hpp"

namespace ctt {

/// How a rotary embedding pairs the components it rotates.
enum class rotary_layout {
    half_split,  ///< pairs (k, k + r/2): GPT-NeoX, LLaMA (`rotate_half`)
    interleaved, ///< pairs (2k, 2k + 1): GPT-J (`rotate_every_two`)
};

/**
 * @brief The rotary width of a partial rotary model: `int(head_dim * fraction)` as HF computes
 *        `rotary_ndims` (GPT-NeoX `rotary_pct`) and `partial_rotary_factor`.
 */
[[nodiscard]] inline index_t partial_rotary_dim(index_t head_dim, double fraction) noexcept {
    return static_cast<index_t>(static_cast<double>(head_dim) * fraction);
}

/**
 * @brief Rotary embedding with precomputed cos/sin tables for positions `[0, max_positions)`.
 *
 * `apply(pos, vec, dim)` rotates the first `rotary_dim` entries of one head vector in place as
 * the token at absolute position `pos`: rotating a whole sequence at positions 0..L-1 and
 * rotating a decode step's single token at position t give the same numbers.
 *
 * Tables hold `rotary_dim / 2` floats per position, contiguous, so the half-split rotation is a
 * straight stream over `[0, r/2)` and `[r/2, r)` that the compiler vectorises.
 */
template <rotary_layout Layout>
class rotary_embedding {
public:
    static constexpr rotary_layout layout = Layout;

    /**
     * @param rotary_dim    components rotated (even, > 0); the head dim for full rotary.
     * @param max_positions positions the tables cover; `apply` at a position past it throws.
     * @param base          theta of the frequencies (10000 for most models, 500000 LLaMA 3, ...).
     * @throws value_error when `rotary_dim` is zero or odd.
     */
    rotary_embedding(index_t rotary_dim, index_t max_positions, double base = 10000.0)
        : rotary_dim_(rotary_dim)
        , half_(rotary_dim / 2)
        , max_positions_(max_positions)
        , base_(base)
        , inv_freq_(half_)
        , cos_(half_ * max_positions)
        , sin_(half_ * max_positions) {
        if (rotary_dim == 0 || rotary_dim % 2 != 0) {
            throw value_error(detail::message("rotary_embedding: rotary_dim ",
                                              std::to_string(rotary_dim),
                                              " must be even and positive"));
        }
        const auto fbase = static_cast<double>(static_cast<float>(base));
        for (index_t k = 0; k < half_; ++k) {
            const float exponent = static_cast<float>(2 * k) / static_cast<float>(rotary_dim);
            const auto power = static_cast<float>(std::pow(fbase, static_cast<double>(exponent)));
            inv_freq_[k] = 1.0f / power;
        }
        for (index_t p = 0; p < max_positions; ++p) {
            for (index_t k = 0; k < half_; ++k) {
                const float angle = static_cast<float>(p) * inv_freq_[k];
                cos_[p * half_ + k] = static_cast<float>(std::cos(static_cast<double>(angle)));
                sin_[p * half_ + k] = static_cast<float>(std::sin(static_cast<double>(angle)));
            }
        }
    }

    [[nodiscard]] index_t rotary_dim() const noexcept { return rotary_dim_; }
    [[nodiscard]] index_t max_positions() const noexcept { return max_positions_; }
    [[nodiscard]] double base() const noexcept { return base_; }
    /// `inv_freq[k]`, k < rotary_dim / 2.
    [[nodiscard]] float inv_freq(index_t k) const noexcept { return inv_freq_[k]; }
    /// cos of the angle of pair k at position pos (HF's `cos[pos, k]`).
    [[nodiscard]] float cos(index_t pos, index_t k) const noexcept { return cos_[pos * half_ + k]; }
    /// sin of the angle of pair k at position pos.
    [[nodiscard]] float sin(index_t pos, index_t k) const noexcept { return sin_[pos * half_ + k]; }

    /**
     * @brief Rotates `vec[0, rotary_dim)` in place as the token at position `pos`.
     * @throws value_error when `pos >= max_positions()`.
     * @throws shape_error when `dim < rotary_dim()`.
     */
    void apply(index_t pos, float* vec, index_t dim) const {
        check_position(pos);
        detail::check_at_most(CTT_MSG_ROTARY_DIM, rotary_dim_, dim);
        const float* c = cos_.data() + pos * half_;
        const float* s = sin_.data() + pos * half_;
        if constexpr (Layout == rotary_layout::half_split) {
            // A plain loop over contiguous halves and tables: the compiler vectorises it, and
            // unlike explicit full-width registers it never touches memory past a short head
            // vector (which GCC 12 flags with -Warray-bounds once the caller's buffer is known).
            float* x1 = vec;
            float* x2 = vec + half_;
            for (index_t k = 0; k < half_; ++k) {
                const float a = x1[k];
                const float b = x2[k];
                x1[k] = a * c[k] - b * s[k];
                x2[k] = b * c[k] + a * s[k];
            }
        } else {
            for (index_t k = 0; k < half_; ++k) {
                const float a = vec[2 * k];
                const float b = vec[2 * k + 1];
                vec[2 * k] = a * c[k] - b * s[k];
                vec[2 * k + 1] = b * c[k] + a * s[k];
            }
        }
    }

    /**
     * @brief Rotates every head of a `[L, num_heads * head_dim]` projection; row t is the token
     *        at position `first_position + t`.
     * @throws shape_error when the row width is not `num_heads * head_dim`.
     */
    template <index_t L, index_t W>
    void apply_to_heads(tensor_view<float, shape<L, W>> x, index_t num_heads, index_t head_dim,
                        index_t first_position = 0) const {
        detail::check_dims(CTT_MSG_ROTARY_HEADS, x.cols(), num_heads * head_dim);
        if (x.rows() > 0) {
            check_position(first_position + x.rows() - 1);
        }
        for (index_t t = 0; t < x.rows(); ++t) {
            float* row = x[t].data();
            for (index_t h = 0; h < num_heads; ++h) {
                apply(first_position + t, row + h * head_dim, head_dim);
            }
        }
    }

private:
    void check_position(index_t pos) const {
        if (pos >= max_positions_) [[unlikely]] {
            throw_position(pos);
        }
    }
    [[noreturn, gnu::noinline, gnu::cold]] void throw_position(index_t pos) const {
        throw value_error(detail::message("rotary_embedding: position ", std::to_string(pos),
                                          " is past the table of ", std::to_string(max_positions_),
                                          " positions"));
    }

    index_t rotary_dim_;
    index_t half_;
    index_t max_positions_;
    double base_;
    std::vector<float> inv_freq_;
    std::vector<float> cos_;
    std::vector<float> sin_;
};

/// GPT-NeoX / LLaMA rotary (`rotate_half`).
using rotary_half_split = rotary_embedding<rotary_layout::half_split>;
/// GPT-J rotary (`rotate_every_two`).
using rotary_interleaved = rotary_embedding<rotary_layout::interleaved>;

static_assert(qk_transform<rotary_half_split>);
static_assert(qk_transform<rotary_interleaved>);

} // namespace ctt
