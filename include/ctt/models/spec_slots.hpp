#pragma once
/**
 * @file
 * @brief The slot vocabulary every family spec shares (`causal_lm`, `encoder_model`): norms,
 *        Q/K/V layouts, the roles of position, feed-forward kinds, and how a slot resolves
 *        (a config member of the slot's name first, then the spec).
 */

#include <algorithm>
#include <type_traits>
#include <vector>

#include "ctt/blocks/norm.hpp"

namespace ctt {

/// The normalisation of a family.
enum class norm_kind {
    layer_norm,              ///< LayerNorm with weight and bias
    layer_norm_without_bias, ///< LayerNorm with a weight only (Cohere, PaLM)
    rms_norm,                ///< RMSNorm (T5, LLaMA)
};

/// How a checkpoint stores the Q, K and V projections.
enum class qkv_layout {
    separate, ///< three projections (`q_proj`, `k_proj`, `v_proj`)
    fused,    ///< one projection with output `[q | k | v]` (GPT-2, Falcon multi-query)
    /// One projection with output `[kv group][the group's query heads, k, v]`: GPT-NeoX and
    /// BLOOM (`[heads][q, k, v]`, one query head per group), Falcon's new decoder architecture.
    /// Rows are reordered to `[q | k | v]` once, at load.
    fused_grouped,
};

/// The input-embedding role of position.
enum class position_embedding {
    none,
    learned,    ///< a learned table indexed by position (GPT-2, GPT-Neo)
    sinusoidal, ///< the fixed `[sin | cos]` table of CTRL, in float32 as CTRL computes it
    /// the fixed interleaved table (`sin, cos, sin, ...`) built in double and stored in float
    /// (DistilBERT's `sinusoidal_pos_embds`, XLM's `sinusoidal_embeddings`)
    sinusoidal_interleaved,
};

/// The attention role of position: a Q/K transform or a score bias.
enum class attention_position {
    none,
    rotary_half_split,  ///< `rotate_half` (GPT-NeoX, LLaMA, Falcon); partial via `rotary_dim`
    rotary_interleaved, ///< `rotate_every_two` (GPT-J, Cohere)
    alibi,              ///< ALiBi slopes for any head count (BLOOM)
    t5_buckets,         ///< T5's causal bucketed bias, one table shared by every layer (LaMDA)
};

/// The feed-forward of the dense layers (and the experts' form when a family has experts).
enum class ffn_kind {
    dense, ///< `down(act(up(x)))`
    gated, ///< `down(act(gate(x)) * up(x))`: SwiGLU, GeGLU
};

namespace detail {

template <norm_kind N, index_t H>
using norm_block_t = std::conditional_t<N == norm_kind::rms_norm, rms_norm_block<H>,
                                        layer_norm_block<H, N == norm_kind::layer_norm>>;

/**
 * @brief Source row of destination row `r` of `[q | k | v]` in a `fused_grouped` projection of
 *        `kv_heads` groups, each `[heads / kv_heads query heads, k, v]` of `head_dim` rows.
 */
[[nodiscard]] constexpr index_t grouped_qkv_source_row(index_t r, index_t heads, index_t kv_heads,
                                                       index_t head_dim) noexcept {
    const index_t per_group = heads / kv_heads;
    const index_t group_rows = (per_group + 2) * head_dim;
    const index_t q_width = heads * head_dim;
    const index_t kv_width = kv_heads * head_dim;
    if (r < q_width) {
        const index_t h = r / head_dim;
        return (h / per_group) * group_rows + (h % per_group) * head_dim + r % head_dim;
    }
    const bool is_value = r >= q_width + kv_width;
    const index_t rel = r - q_width - (is_value ? kv_width : 0);
    return (rel / head_dim) * group_rows + (per_group + (is_value ? 1 : 0)) * head_dim +
           rel % head_dim;
}

/// Reorders the rows of `data` (`rows` rows of `row_length`) so row r receives source row
/// `source(r)`.
template <class Source>
void permute_rows(float* data, index_t rows, index_t row_length, Source&& source) {
    std::vector<float> copy(data, data + rows * row_length);
    for (index_t r = 0; r < rows; ++r) {
        const float* from = copy.data() + source(r) * row_length;
        std::copy(from, from + row_length, data + r * row_length);
    }
}

} // namespace detail

// Used inside a traits struct with `C` the config and `S` the spec:
// A slot is the config's member of that name when it has one, else the spec's.
#define CTT_SPEC_SLOT(name)                                                                        \
    static constexpr auto name = [] {                                                              \
        if constexpr (requires { C::name; }) {                                                     \
            return C::name;                                                                        \
        } else {                                                                                   \
            return S::name;                                                                        \
        }                                                                                          \
    }()
// An optional config value with its default.
#define CTT_CONFIG_VALUE(name, fallback)                                                           \
    static constexpr auto name = [] {                                                              \
        if constexpr (requires { C::name; }) {                                                     \
            return C::name;                                                                        \
        } else {                                                                                   \
            return fallback;                                                                       \
        }                                                                                          \
    }()

} // namespace ctt
