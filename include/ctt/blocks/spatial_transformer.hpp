#pragma once
/**
 * @file
 * @brief The spatial transformer of latent diffusion (Rombach et al., arXiv:2112.10752), as
 *        diffusers' `Transformer2DModel` computes it for continuous inputs: GroupNorm over the
 *        NCHW feature map, a projection in (a 1x1 convolution, or a linear layer on the pixels
 *        as tokens: `use_linear_projection`), `BasicTransformerBlock`s (pre-LayerNorm
 *        self-attention over the pixels, cross-attention to the text-encoder states, GEGLU
 *        feed-forward, each a residual), a projection out and the residual to the input.
 *
 * Built from ctt's blocks: `attention_block` for self-attention, `linear` projections and
 * `attention_heads` for cross-attention (whose keys and values come from the text states, a
 * different width), `layer_norm_block`, the fused GEGLU of `kernels/glu.hpp` (diffusers'
 * `hidden, gate = chunk(2)`: the gate is the second half), `group_norm` and `conv2d`.
 * Parameter names are diffusers': `norm`, `proj_in`, `transformer_blocks.{i}.norm1`,
 * `attn1.to_q`, ..., `attn2.to_out.0`, `ff.net.0.proj`, `ff.net.2`, `proj_out`.
 */

#include <algorithm>
#include <array>
#include <string>
#include <utility>
#include <vector>

#include "ctt/attention/attention_concepts.hpp"
#include "ctt/attention/flash_attention.hpp"
#include "ctt/blocks/attention_block.hpp"
#include "ctt/blocks/linear.hpp"
#include "ctt/blocks/norm.hpp"
#include "ctt/core/errors.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor.hpp"
#include "ctt/kernels/conv2d.hpp"
#include "ctt/kernels/glu.hpp"
#include "ctt/kernels/group_norm.hpp"

namespace ctt {

namespace detail {

/// `dst[j * rows + i] = src[i * cols + j]` for a dense `rows x cols` matrix, in 16 x 16 tiles.
inline void transpose_matrix(const float* src, index_t rows, index_t cols, float* dst) {
    constexpr index_t tile = 16;
    for (index_t i0 = 0; i0 < rows; i0 += tile) {
        for (index_t j0 = 0; j0 < cols; j0 += tile) {
            const index_t i1 = std::min(rows, i0 + tile);
            const index_t j1 = std::min(cols, j0 + tile);
            for (index_t i = i0; i < i1; ++i) {
                for (index_t j = j0; j < j1; ++j) {
                    dst[j * rows + i] = src[i * cols + j];
                }
            }
        }
    }
}

} // namespace detail

/**
 * @brief diffusers' `BasicTransformerBlock` with `norm_type="layer_norm"` and a GEGLU
 *        feed-forward of width `4 Dim`: `x += attn1(norm1(x))`, `x += attn2(norm2(x), text)`,
 *        `x += ff(norm3(x))`. Attention has `Heads` heads of `HeadDim` over `Dim` features;
 *        the text states have `CrossDim` features. `QkvBias` is diffusers' `attention_bias`
 *        (the output projections always have a bias).
 */
template <index_t Dim, index_t Heads, index_t HeadDim, index_t CrossDim, bool QkvBias = false>
struct basic_transformer_block {
    static constexpr index_t dim = Dim;
    static constexpr index_t inner = Heads * HeadDim;
    static constexpr index_t ff_inner = 4 * Dim;
    using self_attention =
        attention_block<Dim, Heads, Heads, HeadDim, separate_qkv<Dim, inner, inner, QkvBias>, true>;

    /// Buffers for `rows` tokens attending to `text_rows` text states.
    struct workspace {
        typename self_attention::workspace self;
        tensor<float, shape<dyn, Dim>> normed;
        tensor<float, shape<dyn, inner>> q, context, text_k, text_v;
        tensor<float, shape<dyn, 2 * ff_inner>> ff_up;
        tensor<float, shape<dyn, ff_inner>> ff_gated;
        workspace(index_t rows, index_t text_rows)
            : self(rows)
            , normed(rows)
            , q(rows)
            , context(rows)
            , text_k(text_rows)
            , text_v(text_rows)
            , ff_up(rows)
            , ff_gated(rows) {}
    };

    layer_norm_block<Dim> norm1, norm2, norm3;
    self_attention attn1;
    linear<Dim, inner, QkvBias> attn2_q;
    linear<CrossDim, inner, QkvBias> attn2_k, attn2_v;
    linear<inner, Dim, true> attn2_out;
    linear<Dim, 2 * ff_inner, true> ff_proj;
    linear<ff_inner, Dim, true> ff_out;

    void set_eps(float eps) { norm1.eps = norm2.eps = norm3.eps = eps; }

    /**
     * @brief Updates `x` (`[batch * length, Dim]`, the pixels of each image as tokens) in
     *        place; `text` is `[batch * text_length, CrossDim]`.
     */
    void forward(tensor_view<float, shape<dyn, Dim>> x, index_t batch, index_t length,
                 tensor_view<const float, shape<dyn, CrossDim>> text, index_t text_length,
                 workspace& ws) const {
        using cview = tensor_view<const float, shape<dyn, Dim>>;
        const index_t n = x.rows();
        auto normed = ws.normed.view().rows(0, n);
        const tensor_view<const float, shape<dyn, Dim>> normed_c(normed);

        norm1.forward(cview(x), normed);
        attn1.forward(
            normed_c, x, true, batch, length, [](index_t) { return no_mask{}; }, no_bias{},
            no_transform{}, no_transform{}, attention_params{}, ws.self);

        norm2.forward(cview(x), normed);
        auto q = ws.q.view().rows(0, n);
        auto context = ws.context.view().rows(0, n);
        auto k = ws.text_k.view().rows(0, text.rows());
        auto v = ws.text_v.view().rows(0, text.rows());
        attn2_q.forward(normed_c, q);
        attn2_k.forward(text, k);
        attn2_v.forward(text, v);
        using iview = tensor_view<const float, shape<dyn, inner>>;
        for (index_t b = 0; b < batch; ++b) {
            attention_heads<HeadDim>(
                iview(q.rows(b * length, length)), iview(k.rows(b * text_length, text_length)),
                iview(v.rows(b * text_length, text_length)), context.rows(b * length, length),
                no_mask{}, no_bias{}, no_transform{}, attention_params{}, Heads, Heads);
        }
        attn2_out.forward(iview(context), x, true);

        norm3.forward(cview(x), normed);
        auto up = ws.ff_up.view().rows(0, n);
        auto gated = ws.ff_gated.view().rows(0, n);
        ff_proj.forward(normed_c, up);
        geglu(tensor_view<const float, shape<dyn, 2 * ff_inner>>(up), gated, glu_gate_half::second);
        ff_out.forward(tensor_view<const float, shape<dyn, ff_inner>>(gated), x, true);
    }

    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        norm1.visit_parameters(v, prefix + "norm1.");
        norm2.visit_parameters(v, prefix + "norm2.");
        norm3.visit_parameters(v, prefix + "norm3.");
        attn1.projection.q.visit_parameters(v, prefix + "attn1.to_q.");
        attn1.projection.k.visit_parameters(v, prefix + "attn1.to_k.");
        attn1.projection.v.visit_parameters(v, prefix + "attn1.to_v.");
        attn1.out.visit_parameters(v, prefix + "attn1.to_out.0.");
        attn2_q.visit_parameters(v, prefix + "attn2.to_q.");
        attn2_k.visit_parameters(v, prefix + "attn2.to_k.");
        attn2_v.visit_parameters(v, prefix + "attn2.to_v.");
        attn2_out.visit_parameters(v, prefix + "attn2.to_out.0.");
        ff_proj.visit_parameters(v, prefix + "ff.net.0.proj.");
        ff_out.visit_parameters(v, prefix + "ff.net.2.");
    }
};

/// How a spatial transformer moves between the feature map and its tokens.
enum class spatial_projection {
    conv1x1, ///< `proj_in`/`proj_out` are 1x1 convolutions, weights `[out, in, 1, 1]`
    linear,  ///< `use_linear_projection`: linear layers on the tokens, weights `[out, in]`
};

/**
 * @brief diffusers' `Transformer2DModel` on continuous inputs: `Channels` input channels
 *        normalised in `Groups` groups (eps 1e-6, as diffusers fixes it), `Layers`
 *        `basic_transformer_block`s of `Heads x HeadDim`, cross-attending to `CrossDim`-wide
 *        text states, and the residual to the input. Images are `[batch, Channels, H, W]`
 *        with runtime batch and grid.
 */
template <index_t Channels, index_t Heads, index_t HeadDim, index_t CrossDim, index_t Layers,
          index_t Groups, spatial_projection Projection, bool QkvBias = false>
struct spatial_transformer {
    static_assert(Channels % Groups == 0, CTT_MSG_GROUP_NORM_GROUPS);
    static constexpr index_t channels = Channels;
    static constexpr index_t inner = Heads * HeadDim;
    static constexpr index_t cross_dim = CrossDim;
    static constexpr index_t layers = Layers;
    using block = basic_transformer_block<inner, Heads, HeadDim, CrossDim, QkvBias>;
    using image_view = tensor_view<const float, shape<dyn, Channels, dyn, dyn>>;
    using text_view = tensor_view<const float, shape<dyn, dyn, CrossDim>>;

    tensor<float, shape<Channels>> norm_weight, norm_bias;
    static constexpr float group_norm_eps = 1e-6f;
    using proj_in_weight = std::conditional_t<Projection == spatial_projection::conv1x1,
                                              shape<inner, Channels, 1, 1>, shape<inner, Channels>>;
    using proj_out_weight =
        std::conditional_t<Projection == spatial_projection::conv1x1, shape<Channels, inner, 1, 1>,
                           shape<Channels, inner>>;
    tensor<float, proj_in_weight> proj_in_w;
    tensor<float, shape<inner>> proj_in_b;
    tensor<float, proj_out_weight> proj_out_w;
    tensor<float, shape<Channels>> proj_out_b;
    std::array<block, Layers> blocks;

    /// The LayerNorm epsilon of the transformer blocks (diffusers' `norm_eps`).
    void set_eps(float eps) {
        for (auto& b : blocks) {
            b.set_eps(eps);
        }
    }

    /**
     * @brief `out = x + transformer(x, text)`: `x`, `out` `[B, Channels, H, W]` (dense
     *        images; `out` may be a channel slice of a wider buffer but must not alias `x`),
     *        `text` `[B, Lt, CrossDim]`.
     */
    template <tensor_shape SO>
    void forward(image_view x, text_view text, tensor_view<float, SO> out) const {
        const index_t batch = x.extent(0);
        const index_t h = x.extent(2);
        const index_t w = x.extent(3);
        const index_t pixels = h * w;
        const index_t text_length = text.extent(1);
        detail::check_dims(CTT_MSG_SPATIAL_TEXT_BATCH, text.extent(0), batch);
        using SI = typename image_view::shape_type;
        CTT_CHECK_SAME_SHAPE(CTT_MSG_SPATIAL_SHAPES, SI, SO, x, out);
        if (!text.is_contiguous()) {
            throw shape_error("spatial_transformer: the text states must be contiguous");
        }
        const index_t rows = batch * pixels;

        // GroupNorm, then proj_in, into tokens [B * HW, inner].
        std::vector<float> normed(batch * Channels * pixels);
        kernels::group_norm(batch, Channels, pixels, Groups, x.data(), x.stride(0),
                            norm_weight.data(), norm_bias.data(), group_norm_eps, normed.data(),
                            Channels * pixels);
        tensor<float, shape<dyn, inner>> tokens(rows);
        if constexpr (Projection == spatial_projection::conv1x1) {
            std::vector<float> projected(batch * inner * pixels);
            kernels::conv2d({batch, Channels, h, w, inner, 1, 1}, conv2d_params{}, normed.data(),
                            Channels * pixels, proj_in_w.data(), proj_in_b.data(), projected.data(),
                            inner * pixels);
            for (index_t b = 0; b < batch; ++b) {
                detail::transpose_matrix(projected.data() + b * inner * pixels, inner, pixels,
                                         tokens.data() + b * pixels * inner);
            }
        } else {
            tensor<float, shape<dyn, Channels>> pixel_rows(rows);
            for (index_t b = 0; b < batch; ++b) {
                detail::transpose_matrix(normed.data() + b * Channels * pixels, Channels, pixels,
                                         pixel_rows.data() + b * pixels * Channels);
            }
            matmul_bt(std::as_const(pixel_rows).view(), proj_in_w.view(), proj_in_b.view(),
                      tokens.view());
        }

        typename block::workspace ws(rows, batch * text_length);
        const tensor_view<const float, shape<dyn, CrossDim>> text_rows(
            text.data(), shape<dyn, CrossDim>(batch * text_length));
        for (const auto& blk : blocks) {
            blk.forward(tokens.view(), batch, pixels, text_rows, text_length, ws);
        }

        // proj_out, plus the residual.
        for (index_t b = 0; b < batch; ++b) {
            std::copy_n(x.data() + b * x.stride(0), Channels * pixels,
                        out.data() + b * out.stride(0));
        }
        if constexpr (Projection == spatial_projection::conv1x1) {
            std::vector<float> maps(batch * inner * pixels);
            for (index_t b = 0; b < batch; ++b) {
                detail::transpose_matrix(tokens.data() + b * pixels * inner, pixels, inner,
                                         maps.data() + b * inner * pixels);
            }
            conv2d_params p;
            p.accumulate = true;
            kernels::conv2d({batch, inner, h, w, Channels, 1, 1}, p, maps.data(), inner * pixels,
                            proj_out_w.data(), proj_out_b.data(), out.data(), out.stride(0));
        } else {
            tensor<float, shape<dyn, Channels>> projected(rows);
            matmul_bt(std::as_const(tokens).view(), proj_out_w.view(), proj_out_b.view(),
                      projected.view());
            for (index_t b = 0; b < batch; ++b) {
                float* o = out.data() + b * out.stride(0);
                const float* t = projected.data() + b * pixels * Channels;
                for (index_t p = 0; p < pixels; ++p) {
                    for (index_t c = 0; c < Channels; ++c) {
                        o[c * pixels + p] += t[p * Channels + c];
                    }
                }
            }
        }
    }

    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        v.parameter(prefix + "norm.weight", norm_weight.view());
        v.parameter(prefix + "norm.bias", norm_bias.view());
        v.parameter(prefix + "proj_in.weight", proj_in_w.view());
        v.parameter(prefix + "proj_in.bias", proj_in_b.view());
        for (index_t i = 0; i < Layers; ++i) {
            blocks[i].visit_parameters(v, prefix + "transformer_blocks." + std::to_string(i) + ".");
        }
        v.parameter(prefix + "proj_out.weight", proj_out_w.view());
        v.parameter(prefix + "proj_out.bias", proj_out_b.view());
    }
};

} // namespace ctt
