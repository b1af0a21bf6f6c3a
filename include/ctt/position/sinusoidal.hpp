#pragma once
/**
 * @file
 * @brief Fixed sinusoidal position tables (Vaswani et al. 2017, arXiv:1706.03762, section 3.5),
 *        in each layout and precision the code that defines a model uses.
 *
 * Angle of column pair k at position p: `p / 10000^(2k / d)`. The models differ in where sin
 * and cos go and in what precision the table is built:
 *
 * | function | layout | precision | models (reference code) |
 * |---|---|---|---|
 * | `sinusoidal_table(out, interleaved)` | sin, cos, sin, cos, ... | double, stored float |
 * DistilBERT (`create_sinusoidal_embeddings`) | | `sinusoidal_table(out, halves)` | [sin... \|
 * cos...] | double, stored float | Marian, Pegasus (`_init_weight`) | | `sinusoidal_table_f32` |
 * [sin... \| cos...] | float32 throughout | CTRL (`positional_encoding`), Transformer-XL / XLNet
 * (`PositionalEmbedding`) | | `fairseq_sinusoidal_table` | [sin... \| cos...], step
 * `log(10000)/(d/2 - 1)` | float32 | FSMT, M2M100, Speech2Text (`get_embedding`) | |
 * `xl_relative_positions` | [sin \| cos] of descending distances | float32 | Transformer-XL, XLNet
 * relative attention |
 */

#include <cmath>
#include <cstddef>
#include <optional>
#include <type_traits>

#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor_view.hpp"

namespace ctt {

/// Where the sine and cosine columns of a sinusoidal table go.
enum class sinusoid_layout {
    interleaved, ///< column 2k = sin, column 2k + 1 = cos (Vaswani et al.; DistilBERT)
    halves,      ///< columns [0, ceil(d/2)) = sin, the rest = cos (Marian; CTRL; Transformer-XL)
};

/**
 * @brief The inverse frequency `1 / 10000^(2k / d)` of column pair k, computed in float32 as
 *        PyTorch does in CTRL, Transformer-XL and XLNet: the exponent `float(2k) / d` rounded to
 *        float, the power rounded to float, then the float reciprocal.
 */
[[nodiscard]] inline float sinusoid_inv_freq_f32(index_t k, index_t d, double base = 10000.0) {
    const float exponent = static_cast<float>(2 * k) / static_cast<float>(d);
    const auto power = static_cast<float>(
        std::pow(static_cast<double>(static_cast<float>(base)), static_cast<double>(exponent)));
    return 1.0f / power;
}

/**
 * @brief Fills `out[p]` with the sinusoid of position `first_position + p`, computed in double
 *        and rounded to float (as HF's numpy-built tables of DistilBERT and Marian).
 *
 * Column j's angle is `pos / 10000^(2 * (j / 2) / d)` (integer j / 2). With `interleaved` even
 * columns hold sin and odd columns cos; with `halves` the sines of the even columns come first
 * (`ceil(d/2)` of them), then the cosines of the odd columns.
 */
template <index_t L, index_t D>
void sinusoidal_table(tensor_view<float, shape<L, D>> out, sinusoid_layout layout,
                      index_t first_position = 0) {
    const index_t d = out.cols();
    const index_t sentinel = (d + 1) / 2;
    for (index_t p = 0; p < out.rows(); ++p) {
        const auto pos = static_cast<double>(first_position + p);
        float* row = out[p].data();
        for (index_t j = 0; j < d; ++j) {
            const double angle =
                pos / std::pow(10000.0, static_cast<double>(2 * (j / 2)) / static_cast<double>(d));
            const bool is_sin = j % 2 == 0;
            const double value = is_sin ? std::sin(angle) : std::cos(angle);
            const index_t col =
                layout == sinusoid_layout::interleaved ? j : (is_sin ? j / 2 : sentinel + j / 2);
            row[col] = static_cast<float>(value);
        }
    }
}

/**
 * @brief Fills `out[p]` with `[sin(pos * f_k) | cos(pos * f_k)]`, k < d/2, for
 *        `pos = first_position + p`, in float32 exactly as CTRL's `positional_encoding` and
 *        Transformer-XL's `PositionalEmbedding` compute it (`f_k = sinusoid_inv_freq_f32`,
 *        the angle `float(pos) * f_k` rounded to float, then sin/cos of that float).
 *
 * `d` must be even (both models require it).
 */
template <index_t L, index_t D>
void sinusoidal_table_f32(tensor_view<float, shape<L, D>> out, index_t first_position = 0) {
    if constexpr (D != dyn) {
        static_assert(D % 2 == 0, "sinusoidal_table_f32: the width must be even");
    }
    const index_t d = out.cols();
    const index_t half = d / 2;
    for (index_t p = 0; p < out.rows(); ++p) {
        const auto pos = static_cast<float>(first_position + p);
        float* row = out[p].data();
        for (index_t k = 0; k < half; ++k) {
            const float angle = pos * sinusoid_inv_freq_f32(k, d);
            row[k] = static_cast<float>(std::sin(static_cast<double>(angle)));
            row[half + k] = static_cast<float>(std::cos(static_cast<double>(angle)));
        }
    }
}

/**
 * @brief The fairseq sinusoid table of FSMT / M2M100 / Speech2Text (HF
 *        `SinusoidalPositionalEmbedding.get_embedding`): row p is
 *        `[sin(p * f_k) | cos(p * f_k)]` with `f_k = exp(-k * log(10000) / (d/2 - 1))` in float32,
 *        a zero last column when d is odd, and the row `padding_idx` zeroed.
 *
 * Row p is the embedding of position id p (RoBERTa-style ids, see `roberta_position_ids`).
 */
template <index_t L, index_t D>
void fairseq_sinusoidal_table(tensor_view<float, shape<L, D>> out,
                              std::optional<index_t> padding_idx = std::nullopt) {
    const index_t d = out.cols();
    const index_t half = d / 2;
    const auto step = static_cast<float>(std::log(10000.0) / static_cast<double>(half - 1));
    for (index_t p = 0; p < out.rows(); ++p) {
        float* row = out[p].data();
        for (index_t k = 0; k < half; ++k) {
            const float freq =
                static_cast<float>(std::exp(static_cast<double>(static_cast<float>(k) * -step)));
            const float angle = static_cast<float>(p) * freq;
            row[k] = static_cast<float>(std::sin(static_cast<double>(angle)));
            row[half + k] = static_cast<float>(std::cos(static_cast<double>(angle)));
        }
        if (d % 2 == 1) {
            row[d - 1] = 0.0f;
        }
        if (padding_idx && *padding_idx == p) {
            for (index_t j = 0; j < d; ++j) {
                row[j] = 0.0f;
            }
        }
    }
}

/**
 * @brief The relative-position sinusoids of Transformer-XL and XLNet (Dai et al. 2019,
 *        arXiv:1901.02860, section 3.3): row r is `[sin | cos]` (float32, as
 *        `sinusoidal_table_f32`) of the distance `first_distance - r`, clamped to `clamp_len`
 *        when `clamp_len > 0`.
 *
 * Transformer-XL uses `first_distance = klen - 1` and `klen` rows (distances klen-1 ... 0,
 * `pos_seq = arange(klen - 1, -1, -1)`); XLNet's bidirectional attention uses
 * `first_distance = klen` and `klen + qlen` rows (distances klen ... 1 - qlen). Negative
 * distances are clamped to `-clamp_len` the same way.
 */
template <index_t R, index_t D>
void xl_relative_positions(tensor_view<float, shape<R, D>> out, std::ptrdiff_t first_distance,
                           std::ptrdiff_t clamp_len = 0) {
    if constexpr (D != dyn) {
        static_assert(D % 2 == 0, "xl_relative_positions: the width must be even");
    }
    const index_t d = out.cols();
    const index_t half = d / 2;
    for (index_t r = 0; r < out.rows(); ++r) {
        std::ptrdiff_t dist = first_distance - static_cast<std::ptrdiff_t>(r);
        if (clamp_len > 0) {
            dist = dist > clamp_len ? clamp_len : (dist < -clamp_len ? -clamp_len : dist);
        }
        const auto pos = static_cast<float>(dist);
        float* row = out[r].data();
        for (index_t k = 0; k < half; ++k) {
            const float angle = pos * sinusoid_inv_freq_f32(k, d);
            row[k] = static_cast<float>(std::sin(static_cast<double>(angle)));
            row[half + k] = static_cast<float>(std::cos(static_cast<double>(angle)));
        }
    }
}

} // namespace ctt
