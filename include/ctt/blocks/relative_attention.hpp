#pragma once
/**
 * @file
 * @brief The attention sub-layer of Transformer-XL and XLNet: queries of a segment attend over
 *        `[memory | segment]` with the relative position term, the learned u / v biases and
 *        (XLNet) the segment term, all inside the fused attention kernel; and XLNet's query
 *        stream (two-stream attention), whose queries come from another input and are placed
 *        at the positions `target_mapping` names.
 *
 * References: Dai et al. 2019 (arXiv:1901.02860, section 3.3; kimiyoung/transformer-xl
 * `RelPartialLearnableMultiHeadAttn`); Yang et al. 2019 (arXiv:1906.08237, section 2.3; HF's
 * `XLNetRelativeAttention`). Per head, with `d = pos(i) - j` the distance from query i to key j
 * and `scale = 1/sqrt(head_dim)`:
 *
 *     score[i][j] = scale * ((q_i + u) . k_j + (q_i + v) . R_d [+ (q_i + s) . seg[same(i, j)]])
 *
 * The kernel computes `scale * (q + u) . k`; the position term is `xl_relative_band_bias` (per
 * block of queries, one GEMM over the R rows the block reads, then read by distance: the
 * reference's `rel_shift`), the segment term `segment_bias`, summed by `bias_sum`. No `L x L`
 * matrix is formed.
 */

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "ctt/attention/flash_attention.hpp"
#include "ctt/blocks/linear.hpp"
#include "ctt/core/tensor.hpp"
#include "ctt/position/bias_sum.hpp"
#include "ctt/position/position_concepts.hpp"
#include "ctt/position/relative_xl.hpp"
#include "ctt/position/relative_xl_band.hpp"
#include "ctt/position/segment_bias.hpp"

namespace ctt {

/// XLNet's segment term for one sequence: `r_s_bias`, `seg_embed` and the token types.
struct relative_segment_terms {
    std::span<const float> bias;               ///< `r_s_bias`, `[heads * head_dim]`
    matrix_ref embed;                          ///< `seg_embed`, `[2, heads * head_dim]`
    std::span<const std::int32_t> query_types; ///< the segment's `token_type_ids`
    std::span<const std::int32_t> key_types;   ///< memory (type 0) then the segment
};

/// The relative terms of one attention call.
struct relative_terms {
    std::span<const float> content_bias;  ///< u (`r_w_bias`), `[heads * head_dim]`
    std::span<const float> position_bias; ///< v (`r_r_bias`), `[heads * head_dim]`
    matrix_ref positions;                 ///< R, the projected sinusoids, one row per distance
    std::ptrdiff_t first_distance = -1;   ///< distance of R's row 0 (see `xl_relative_bias`)
    const relative_segment_terms* segments = nullptr; ///< XLNet's segment term, when used
};

/**
 * @brief Relative multi-head attention of `Heads` heads of `HeadDim` over a model width
 *        `Hidden`.
 *
 * `Projection` writes `[q | k | v]` (`fused_qkv` for Transformer-XL's `qkv_net`; XLNet's three
 * head-major projections); `r` projects the sinusoids (`RLayout`: `[out, in]` for
 * Transformer-XL's `r_net`, `[in, out]` for XLNet's `r`); `out` is the bias-free output
 * projection. Names are the caller's.
 */
template <index_t Hidden, index_t Heads, index_t HeadDim, class Projection,
          weight_layout RLayout = weight_layout::out_in>
struct relative_attention_block {
    static constexpr index_t heads = Heads;
    static constexpr index_t head_dim = HeadDim;
    static constexpr index_t width = Heads * HeadDim;
    static constexpr index_t qkv_width = 3 * width;

    Projection projection;
    linear<Hidden, width, false, RLayout> r;
    linear<width, Hidden, false> out;

    /// Buffers for `rows` keys.
    struct workspace {
        tensor<float, shape<dyn, qkv_width>> qkv;
        tensor<float, shape<dyn, width>> context;
        tensor<float, shape<dyn, width>> query;
        explicit workspace(index_t rows)
            : qkv(rows)
            , context(rows)
            , query(rows) {}
    };

    [[nodiscard]] static float scale() noexcept {
        return 1.0f / std::sqrt(static_cast<float>(HeadDim));
    }

    /// `positions = r(sinusoids)`: R of this layer, `[rows, width]`.
    template <class TP, tensor_shape SP, tensor_shape SR>
    void project_positions(tensor_view<TP, SP> sinusoids, tensor_view<float, SR> positions) const {
        r.forward(sinusoids, positions);
    }

    /// Queries per block of `attend`: the position term's table is `block x (block + keys)`
    /// per head.
    static constexpr index_t query_block = 64;

    /**
     * @brief Attention of the raw queries `q` (rows at positions `q_offset, q_offset + 1, ...`
     *        among the keys) over `k`, `v`; `q` is turned into `q + u` in place. Writes
     *        `[q.rows(), width]` into `context`.
     *
     * The queries go in blocks of `query_block`: per block, the position term is one GEMM per
     * head over the R rows the block reads (`xl_relative_band_bias`), then the fused kernel
     * runs with it as a score bias.
     */
    template <attention_mask M>
    void attend(tensor_view<float, shape<dyn, width>> q, index_t q_offset,
                tensor_view<const float, shape<dyn, width>> k,
                tensor_view<const float, shape<dyn, width>> v, const relative_terms& terms,
                const M& mask, tensor_view<float, shape<dyn, width>> context) const {
        const float s = scale();
        const std::ptrdiff_t first = terms.first_distance < 0
                                         ? static_cast<std::ptrdiff_t>(terms.positions.rows) - 1
                                         : terms.first_distance;
        for (index_t b0 = 0; b0 < q.rows(); b0 += query_block) {
            const index_t n = std::min(query_block, q.rows() - b0);
            auto qb = q.rows(b0, n);
            const index_t offset = q_offset + b0;
            const auto params = attention_params{}.with_scale(s).with_q_offset(offset);
            const tensor_view<const float, shape<dyn, width>> cq(qb);
            xl_relative_band_bias position(make_matrix_ref(qb), terms.position_bias,
                                           terms.positions, Heads, s, offset, first, k.rows());
            if (terms.segments != nullptr) {
                const auto& seg = *terms.segments;
                segment_bias segments(make_matrix_ref(qb), seg.bias, seg.embed, Heads, s, offset,
                                      seg.query_types.subspan(b0, n), seg.key_types);
                xl_add_content_bias(qb, terms.content_bias);
                attention_heads<HeadDim>(cq, k, v, context.rows(b0, n), mask,
                                         add_biases(std::move(position), std::move(segments)),
                                         no_transform{}, params, Heads, Heads);
            } else {
                xl_add_content_bias(qb, terms.content_bias);
                attention_heads<HeadDim>(cq, k, v, context.rows(b0, n), mask, position,
                                         no_transform{}, params, Heads, Heads);
            }
        }
    }

    /**
     * @brief The content stream of one sequence: `inputs` holds the memory followed by the
     *        segment (`[memory + length, Hidden]`, already normalised when the layer is pre-LN);
     *        the last `length` rows attend over all of them. `y` (`[length, Hidden]`) receives
     *        `out(attention)`, or has it added (`accumulate`, the residual).
     *
     * Afterwards `ws.qkv` holds this sequence's keys and values, which `forward_query_stream`
     * reads.
     */
    template <class TI, tensor_shape SI, attention_mask M, tensor_shape SY>
    void forward(tensor_view<TI, SI> inputs, index_t length, const relative_terms& terms,
                 const M& mask, tensor_view<float, SY> y, bool accumulate, workspace& ws) const {
        const index_t keys = inputs.rows();
        detail::check_at_most("relative_attention: segment length and keys differ", length, keys);
        detail::check_dims("relative_attention: output rows and segment length differ", y.rows(),
                           length);
        const index_t memory = keys - length;
        auto qkv = ws.qkv.view().rows(0, keys);
        projection.project(inputs, qkv);
        const auto q = qkv.template cols<width>(0).rows(memory, length);
        auto context = ws.context.view().rows(0, length);
        attend(q, memory, key_view(ws, keys), value_view(ws, keys), terms, mask, context);
        out.forward(tensor_view<const float, shape<dyn, width>>(context), y, accumulate);
    }

    /**
     * @brief XLNet's query stream of one sequence, after `forward` of its content stream:
     *        `g` (`[targets, Hidden]`) gives the queries, `target_mapping` (`[targets, length]`)
     *        places them: the query at segment position l is `sum_m map[m][l] q(g_m)`, and
     *        target m reads `sum_l map[m][l] attention_l`. Keys and values are the content
     *        stream's. `y` (`[targets, Hidden]`) receives `out(...)` or has it added.
     *
     * Only positions some target maps to are attended (a one-hot map: one query per target).
     */
    template <class TG, tensor_shape SG, attention_mask M, tensor_shape SY>
    void forward_query_stream(tensor_view<TG, SG> g, std::span<const float> target_mapping,
                              index_t keys, index_t length, const relative_terms& terms,
                              const M& mask, tensor_view<float, SY> y, bool accumulate,
                              workspace& ws) const requires
        requires(const Projection& p, tensor_view<float, shape<dyn, width>> o) {
        p.q.forward(g, o);
    }
    {
        const index_t targets = g.rows();
        detail::check_dims("two_stream_attention: target_mapping size and targets * length differ",
                           target_mapping.size(), targets * length);
        detail::check_dims("two_stream_attention: output rows and targets differ", y.rows(),
                           targets);
        detail::check_at_most("two_stream_attention: segment length and keys differ", length, keys);
        const index_t memory = keys - length;
        index_t first = length;
        index_t last = 0;
        for (index_t m = 0; m < targets; ++m) {
            for (index_t l = 0; l < length; ++l) {
                if (target_mapping[m * length + l] != 0.0f) {
                    first = std::min(first, l);
                    last = std::max(last, l + 1);
                }
            }
        }
        tensor<float, shape<dyn, width>> projected(targets);
        projection.q.forward(g, projected.view());
        tensor<float, shape<dyn, width>> mixed(targets);
        std::fill(mixed.begin(), mixed.end(), 0.0f);
        if (first < last) {
            const index_t span = last - first;
            auto q = ws.query.view().rows(0, span);
            std::fill(q.data(), q.data() + span * width, 0.0f);
            for (index_t m = 0; m < targets; ++m) {
                for (index_t l = first; l < last; ++l) {
                    const float w = target_mapping[m * length + l];
                    if (w != 0.0f) {
                        for (index_t e = 0; e < width; ++e) {
                            q(l - first, e) += w * projected(m, e);
                        }
                    }
                }
            }
            relative_terms shifted = terms;
            relative_segment_terms segments{};
            if (terms.segments != nullptr) {
                segments = *terms.segments;
                segments.query_types = segments.query_types.subspan(first, span);
                shifted.segments = &segments;
            }
            auto context = ws.context.view().rows(0, span);
            attend(q, memory + first, key_view(ws, keys), value_view(ws, keys), shifted, mask,
                   context);
            for (index_t m = 0; m < targets; ++m) {
                for (index_t l = first; l < last; ++l) {
                    const float w = target_mapping[m * length + l];
                    if (w != 0.0f) {
                        for (index_t e = 0; e < width; ++e) {
                            mixed(m, e) += w * context(l - first, e);
                        }
                    }
                }
            }
        }
        out.forward(tensor_view<const float, shape<dyn, width>>(mixed.view()), y, accumulate);
    }

private:
    static tensor_view<const float, shape<dyn, width>> key_view(workspace& ws, index_t keys) {
        return ws.qkv.view().rows(0, keys).template cols<width>(width);
    }
    static tensor_view<const float, shape<dyn, width>> value_view(workspace& ws, index_t keys) {
        return ws.qkv.view().rows(0, keys).template cols<width>(2 * width);
    }
};

} // namespace ctt
