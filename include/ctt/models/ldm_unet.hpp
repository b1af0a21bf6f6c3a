#pragma once
/**
 * @file
 * @brief The latent-diffusion denoiser, diffusers' `UNet2DConditionModel` (Ronneberger et al.,
 *        arXiv:1505.04597 for the U-Net; Rombach et al., arXiv:2112.10752 for its latent,
 *        text-conditioned form): a sinusoidal timestep embedding and its MLP, `conv_in`, down
 *        blocks of ResNet blocks (optionally each followed by a spatial transformer) and a
 *        stride-2 downsampling conv, a mid block (ResNet, transformer, ResNet), up blocks that
 *        concatenate the matching skip before each ResNet and end in nearest upsampling + conv,
 *        then GroupNorm, SiLU and `conv_out`.
 *
 * Every width, block type, layer count and head count is a compile-time constant of the
 * config (`ldm_unet_config`: channel lists and block types as `std::array`s); batch, latent
 * grid and text length are runtime. Parameter names are diffusers'.
 */

#include <array>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "ctt/blocks/linear.hpp"
#include "ctt/blocks/spatial_transformer.hpp"
#include "ctt/core/errors.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor.hpp"
#include "ctt/kernels/activations.hpp"
#include "ctt/kernels/conv2d.hpp"
#include "ctt/kernels/group_norm.hpp"
#include "ctt/kernels/image.hpp"

namespace ctt {

/// The down and up block kinds of `UNet2DConditionModel` that ctt implements.
enum class unet_block {
    cross_attn_down, ///< `CrossAttnDownBlock2D`: ResNet + transformer per layer, downsampler
    down,            ///< `DownBlock2D`: ResNets, downsampler
    cross_attn_up,   ///< `CrossAttnUpBlock2D`: (skip concat, ResNet, transformer) per layer
    up,              ///< `UpBlock2D`: (skip concat, ResNet) per layer, upsampler
};

/**
 * @brief The compile-time configuration of a `UNet2DConditionModel`. Per-block lists
 *        (`block_out_channels`, `down_block_types`, `up_block_types`, `layers_per_block`,
 *        `transformer_layers_per_block`, `attention_heads`) are `std::array`s of one length;
 *        `attention_heads` is what diffusers reads from `attention_head_dim` (the head count).
 */
template <class C>
concept ldm_unet_config = requires {
    { C::in_channels } -> std::convertible_to<index_t>;
    { C::out_channels } -> std::convertible_to<index_t>;
    { C::block_out_channels.size() } -> std::convertible_to<std::size_t>;
    { C::down_block_types.size() } -> std::convertible_to<std::size_t>;
    { C::up_block_types.size() } -> std::convertible_to<std::size_t>;
    { C::layers_per_block.size() } -> std::convertible_to<std::size_t>;
    { C::transformer_layers_per_block.size() } -> std::convertible_to<std::size_t>;
    { C::attention_heads.size() } -> std::convertible_to<std::size_t>;
    { C::norm_num_groups } -> std::convertible_to<index_t>;
    { C::norm_eps } -> std::convertible_to<float>;
    { C::cross_attention_dim } -> std::convertible_to<index_t>;
    { C::time_embed_dim } -> std::convertible_to<index_t>;
    { C::flip_sin_to_cos } -> std::convertible_to<bool>;
    { C::freq_shift } -> std::convertible_to<float>;
    { C::conv_in_kernel } -> std::convertible_to<index_t>;
    { C::conv_out_kernel } -> std::convertible_to<index_t>;
    { C::downsample_padding } -> std::convertible_to<index_t>;
    { C::mid_block_scale_factor } -> std::convertible_to<float>;
    { C::resnet_out_scale_factor } -> std::convertible_to<float>;
    { C::use_linear_projection } -> std::convertible_to<bool>;
};

/// An NCHW feature map with runtime batch, channels and grid.
using feature_map = tensor<float, shape<dyn, dyn, dyn, dyn>>;

/**
 * @brief diffusers' `get_timestep_embedding` (the `Timesteps` module): for each timestep `t`,
 *        `[sin(t f_i) | cos(t f_i)]` with `f_i = exp(-ln(10000) i / (half - freq_shift))`,
 *        halves swapped with `flip_sin_to_cos`, zero-padded to an odd `dim`; in float, as
 *        torch computes it. `out` holds `timesteps.size() * dim` floats.
 */
inline void timestep_embedding(std::span<const float> timesteps, index_t dim, bool flip_sin_to_cos,
                               float freq_shift, float* out) {
    const index_t half = dim / 2;
    const float log_period = static_cast<float>(std::log(10000.0));
    for (std::size_t b = 0; b < timesteps.size(); ++b) {
        float* row = out + b * dim;
        for (index_t i = 0; i < half; ++i) {
            const float exponent =
                -log_period * static_cast<float>(i) / (static_cast<float>(half) - freq_shift);
            const float arg = timesteps[b] * std::exp(exponent);
            const float s = std::sin(arg);
            const float c = std::cos(arg);
            row[i] = flip_sin_to_cos ? c : s;
            row[half + i] = flip_sin_to_cos ? s : c;
        }
        if (dim % 2 == 1) {
            row[dim - 1] = 0.f;
        }
    }
}

/**
 * @brief diffusers' `ResnetBlock2D` (`time_embedding_norm="default"`):
 *        `h = conv1(silu(norm1(x))) + time_emb_proj(silu(temb))`,
 *        `h = conv2(silu(norm2(h)))`, `out = (shortcut(x) + h) / output_scale`, where the
 *        shortcut is a 1x1 conv when `In != Out`. The time projection is folded into conv1's
 *        per-image bias, and the residual into conv2's accumulation.
 */
template <index_t In, index_t Out, index_t Temb, index_t Groups>
struct resnet_block {
    static_assert(In % Groups == 0 && Out % Groups == 0, CTT_MSG_GROUP_NORM_GROUPS);
    static constexpr index_t in_channels = In;
    static constexpr index_t out_channels = Out;
    static constexpr bool has_shortcut = In != Out;

    tensor<float, shape<In>> norm1_w, norm1_b;
    tensor<float, shape<Out, In, 3, 3>> conv1_w;
    tensor<float, shape<Out>> conv1_b;
    linear<Temb, Out, true> time_emb_proj;
    tensor<float, shape<Out>> norm2_w, norm2_b;
    tensor<float, shape<Out, Out, 3, 3>> conv2_w;
    tensor<float, shape<Out>> conv2_b;
    [[no_unique_address]] std::conditional_t<has_shortcut, tensor<float, shape<Out, In, 1, 1>>,
                                             detail::absent>
        shortcut_w;
    [[no_unique_address]] std::conditional_t<has_shortcut, tensor<float, shape<Out>>,
                                             detail::absent>
        shortcut_b;
    float eps = 1e-5f;
    float output_scale = 1.f;

    /**
     * @brief `out = block(x, temb)`: `x` `[B, In, H, W]` (dense), `temb_act` the
     *        SiLU-activated time embedding `[B, Temb]`, `out` `[B, Out, H, W]` with images
     *        `out_stride` floats apart (a channel slice of a concatenation buffer is fine).
     */
    void forward(const float* x, index_t batch, index_t h, index_t w, const float* temb_act,
                 float* out, index_t out_stride) const {
        const index_t pixels = h * w;
        std::vector<float> normed(batch * In * pixels);
        kernels::group_norm(batch, In, pixels, Groups, x, In * pixels, norm1_w.data(),
                            norm1_b.data(), eps, normed.data(), In * pixels, true);
        // conv1 with bias + time_emb_proj(silu(temb)) per image.
        tensor<float, shape<dyn, Out>> temb_proj(batch);
        time_emb_proj.forward(
            tensor_view<const float, shape<dyn, Temb>>(temb_act, shape<dyn, Temb>(batch)),
            temb_proj.view());
        std::vector<float> hidden(batch * Out * pixels);
        const conv2d_params same = conv2d_params::square(1, 1);
        for (index_t b = 0; b < batch; ++b) {
            float* bias = temb_proj.data() + b * Out;
            for (index_t c = 0; c < Out; ++c) {
                bias[c] += conv1_b.data()[c];
            }
            kernels::conv2d({1, In, h, w, Out, 3, 3}, same, normed.data() + b * In * pixels,
                            In * pixels, conv1_w.data(), bias, hidden.data() + b * Out * pixels,
                            Out * pixels);
        }
        kernels::group_norm(batch, Out, pixels, Groups, hidden.data(), Out * pixels, norm2_w.data(),
                            norm2_b.data(), eps, hidden.data(), Out * pixels, true);
        if constexpr (has_shortcut) {
            kernels::conv2d({batch, In, h, w, Out, 1, 1}, conv2d_params{}, x, In * pixels,
                            shortcut_w.data(), shortcut_b.data(), out, out_stride);
        } else {
            for (index_t b = 0; b < batch; ++b) {
                std::copy_n(x + b * In * pixels, In * pixels, out + b * out_stride);
            }
        }
        conv2d_params acc = same;
        acc.accumulate = true;
        kernels::conv2d({batch, Out, h, w, Out, 3, 3}, acc, hidden.data(), Out * pixels,
                        conv2_w.data(), conv2_b.data(), out, out_stride);
        if (output_scale != 1.f) {
            const float inv = 1.f / output_scale;
            for (index_t b = 0; b < batch; ++b) {
                for (index_t i = 0; i < Out * pixels; ++i) {
                    out[b * out_stride + i] *= inv;
                }
            }
        }
    }

    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        v.parameter(prefix + "norm1.weight", norm1_w.view());
        v.parameter(prefix + "norm1.bias", norm1_b.view());
        v.parameter(prefix + "conv1.weight", conv1_w.view());
        v.parameter(prefix + "conv1.bias", conv1_b.view());
        time_emb_proj.visit_parameters(v, prefix + "time_emb_proj.");
        v.parameter(prefix + "norm2.weight", norm2_w.view());
        v.parameter(prefix + "norm2.bias", norm2_b.view());
        v.parameter(prefix + "conv2.weight", conv2_w.view());
        v.parameter(prefix + "conv2.bias", conv2_b.view());
        if constexpr (has_shortcut) {
            v.parameter(prefix + "conv_shortcut.weight", shortcut_w.view());
            v.parameter(prefix + "conv_shortcut.bias", shortcut_b.view());
        }
    }
};

/// A `K x K` convolution with bias from `In` to `Out` channels (conv_in, samplers, conv_out).
template <index_t In, index_t Out, index_t K>
struct conv2d_layer {
    tensor<float, shape<Out, In, K, K>> weight;
    tensor<float, shape<Out>> bias;

    void forward(const float* x, index_t batch, index_t h, index_t w, const conv2d_params& p,
                 float* out, index_t out_stride) const {
        kernels::conv2d({batch, In, h, w, Out, K, K}, p, x, In * h * w, weight.data(), bias.data(),
                        out, out_stride);
    }
    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        v.parameter(prefix + "weight", weight.view());
        v.parameter(prefix + "bias", bias.view());
    }
};

namespace detail {

/// The sizes of the U-Net's blocks, derived from the config as diffusers derives them.
template <class C>
struct unet_layout {
    static constexpr std::size_t blocks = C::block_out_channels.size();
    static_assert(blocks >= 1, "ldm_unet: block_out_channels is empty");
    static_assert(C::down_block_types.size() == blocks && C::up_block_types.size() == blocks &&
                      C::layers_per_block.size() == blocks &&
                      C::transformer_layers_per_block.size() == blocks &&
                      C::attention_heads.size() == blocks,
                  "ldm_unet: every per-block list must have one entry per block_out_channels");
    static constexpr index_t temb = C::time_embed_dim;
    static constexpr index_t groups = C::norm_num_groups;
    static constexpr spatial_projection projection =
        C::use_linear_projection ? spatial_projection::linear : spatial_projection::conv1x1;

    /// Down block `i`: input and output channels.
    static constexpr index_t down_in(std::size_t i) {
        return i == 0 ? C::block_out_channels[0] : C::block_out_channels[i - 1];
    }
    static constexpr index_t down_out(std::size_t i) { return C::block_out_channels[i]; }
    /// Up block `i` reads the reversed lists: `r = blocks - 1 - i`.
    static constexpr std::size_t rev(std::size_t i) { return blocks - 1 - i; }
    static constexpr index_t up_out(std::size_t i) { return C::block_out_channels[rev(i)]; }
    static constexpr index_t up_prev(std::size_t i) {
        return i == 0 ? C::block_out_channels[blocks - 1] : C::block_out_channels[rev(i) + 1];
    }
    static constexpr index_t up_input(std::size_t i) {
        return C::block_out_channels[rev(i) == 0 ? 0 : rev(i) - 1];
    }
    static constexpr index_t up_layers(std::size_t i) { return C::layers_per_block[rev(i)] + 1; }
    /// ResNet `j` of up block `i`: its input (hidden + skip) channels.
    static constexpr index_t up_resnet_in(std::size_t i, std::size_t j) {
        const index_t skip = j + 1 == up_layers(i) ? up_input(i) : up_out(i);
        return (j == 0 ? up_prev(i) : up_out(i)) + skip;
    }
};

template <class Layout, index_t Channels, index_t Heads, index_t Layers>
using unet_transformer = spatial_transformer<Channels, Heads, Channels / Heads, Layout::cross,
                                             Layers, Layout::groups, Layout::projection>;

template <class T>
constexpr bool is_cross_attn(T type) {
    return type == unet_block::cross_attn_down || type == unet_block::cross_attn_up;
}

} // namespace detail

/** @brief `UNet2DConditionModel`: `forward(sample, timesteps, encoder_hidden_states)`. */
template <ldm_unet_config C>
class ldm_unet {
    struct layout : detail::unet_layout<C> {
        static constexpr index_t cross = C::cross_attention_dim;
    };
    static constexpr std::size_t n_blocks = layout::blocks;
    static constexpr index_t c0 = C::block_out_channels[0];
    static constexpr index_t c_last = C::block_out_channels[n_blocks - 1];
    static constexpr index_t temb = C::time_embed_dim;
    static constexpr index_t groups = C::norm_num_groups;

    template <std::size_t I>
    struct down_block {
        static constexpr index_t in = layout::down_in(I);
        static constexpr index_t out = layout::down_out(I);
        static constexpr index_t layers = C::layers_per_block[I];
        static constexpr bool attention = C::down_block_types[I] == unet_block::cross_attn_down;
        static constexpr bool downsample = I + 1 < n_blocks;
        static_assert(layers >= 1, "ldm_unet: layers_per_block must be at least 1");
        static_assert(C::down_block_types[I] == unet_block::cross_attn_down ||
                          C::down_block_types[I] == unet_block::down,
                      "ldm_unet: a down block type must be CrossAttnDownBlock2D or DownBlock2D");
        static_assert(!attention || out % C::attention_heads[I] == 0,
                      "ldm_unet: a block's channels must be a multiple of its head count");
        using transformer = detail::unet_transformer<layout, out, C::attention_heads[I],
                                                     C::transformer_layers_per_block[I]>;

        resnet_block<in, out, temb, groups> first;
        std::array<resnet_block<out, out, temb, groups>, layers - 1> rest;
        std::array<std::conditional_t<attention, transformer, detail::absent>,
                   attention ? layers : 0>
            attentions;
        [[no_unique_address]] std::conditional_t<downsample, conv2d_layer<out, out, 3>,
                                                 detail::absent>
            downsampler;
    };

    template <std::size_t I>
    struct up_block {
        static constexpr index_t out = layout::up_out(I);
        static constexpr index_t layers = layout::up_layers(I);
        static constexpr bool attention = C::up_block_types[I] == unet_block::cross_attn_up;
        static constexpr bool upsample = I + 1 < n_blocks;
        static_assert(C::up_block_types[I] == unet_block::cross_attn_up ||
                          C::up_block_types[I] == unet_block::up,
                      "ldm_unet: an up block type must be CrossAttnUpBlock2D or UpBlock2D");
        static_assert(!attention || out % C::attention_heads[layout::rev(I)] == 0,
                      "ldm_unet: a block's channels must be a multiple of its head count");
        using transformer =
            detail::unet_transformer<layout, out, C::attention_heads[layout::rev(I)],
                                     C::transformer_layers_per_block[layout::rev(I)]>;
        template <std::size_t... J>
        static auto make_resnets(std::index_sequence<J...>)
            -> std::tuple<resnet_block<layout::up_resnet_in(I, J), out, temb, groups>...>;
        using resnets_type = decltype(make_resnets(std::make_index_sequence<layers>{}));

        resnets_type resnets;
        std::array<std::conditional_t<attention, transformer, detail::absent>,
                   attention ? layers : 0>
            attentions;
        [[no_unique_address]] std::conditional_t<upsample, conv2d_layer<out, out, 3>,
                                                 detail::absent>
            upsampler;
    };

    static constexpr index_t mid_heads = C::attention_heads[n_blocks - 1];
    static_assert(c_last % mid_heads == 0,
                  "ldm_unet: the mid block's channels must be a multiple of its head count");
    using mid_transformer = detail::unet_transformer<layout, c_last, mid_heads,
                                                     C::transformer_layers_per_block[n_blocks - 1]>;

    template <std::size_t... I>
    static auto make_down(std::index_sequence<I...>) -> std::tuple<down_block<I>...>;
    template <std::size_t... I>
    static auto make_up(std::index_sequence<I...>) -> std::tuple<up_block<I>...>;

public:
    using config = C;
    static constexpr index_t in_channels = C::in_channels;
    static constexpr index_t out_channels = C::out_channels;
    static constexpr index_t cross_attention_dim = C::cross_attention_dim;
    using output = feature_map;

    ldm_unet() {
        const auto set = [](auto& resnet, float scale) {
            resnet.eps = C::norm_eps;
            resnet.output_scale = scale;
        };
        for_each_index<n_blocks>([&](auto i) {
            auto& d = std::get<i>(down_);
            set(d.first, C::resnet_out_scale_factor);
            for (auto& r : d.rest) {
                set(r, C::resnet_out_scale_factor);
            }
            if constexpr (std::remove_reference_t<decltype(d)>::attention) {
                for (auto& a : d.attentions) {
                    a.set_eps(C::norm_eps);
                }
            }
            auto& u = std::get<i>(up_);
            std::apply([&](auto&... r) { (set(r, C::resnet_out_scale_factor), ...); }, u.resnets);
            if constexpr (std::remove_reference_t<decltype(u)>::attention) {
                for (auto& a : u.attentions) {
                    a.set_eps(C::norm_eps);
                }
            }
        });
        set(mid_resnet0_, C::mid_block_scale_factor);
        set(mid_resnet1_, C::mid_block_scale_factor);
        mid_attention_.set_eps(C::norm_eps);
    }

    /**
     * @brief The predicted noise (`UNet2DConditionOutput.sample`): `sample`
     *        `[B, in_channels, H, W]`, one timestep per image, `encoder_hidden_states`
     *        `[B, L, cross_attention_dim]`. H and W must halve evenly at every downsampler.
     */
    [[nodiscard]] output
    forward(tensor_view<const float, shape<dyn, dyn, dyn, dyn>> sample,
            std::span<const float> timesteps,
            tensor_view<const float, shape<dyn, dyn, dyn>> encoder_hidden_states) const {
        const index_t batch = sample.extent(0);
        index_t h = sample.extent(2);
        index_t w = sample.extent(3);
        detail::check_dims(CTT_MSG_UNET_SHAPES, sample.extent(1), in_channels);
        detail::check_dims(CTT_MSG_UNET_TIMESTEPS, timesteps.size(), batch);
        detail::check_dims(CTT_MSG_SPATIAL_TEXT_BATCH, encoder_hidden_states.extent(0), batch);
        detail::check_dims(CTT_MSG_SPATIAL_SHAPES, encoder_hidden_states.extent(2),
                           cross_attention_dim);
        if (!sample.is_contiguous() || !encoder_hidden_states.is_contiguous()) {
            throw shape_error("ldm_unet: sample and encoder_hidden_states must be contiguous");
        }
        const index_t text_length = encoder_hidden_states.extent(1);
        const auto text = [&] {
            return tensor_view<const float, shape<dyn, dyn, cross_attention_dim>>(
                encoder_hidden_states.data(),
                shape<dyn, dyn, cross_attention_dim>(batch, text_length));
        };

        // Timestep embedding -> MLP -> silu (what every ResNet applies before its projection).
        tensor<float, shape<dyn, c0>> t_freq(batch);
        timestep_embedding(timesteps, c0, C::flip_sin_to_cos, C::freq_shift, t_freq.data());
        tensor<float, shape<dyn, temb>> t_hidden(batch), emb(batch);
        time_linear_1_.forward(std::as_const(t_freq).view(), t_hidden.view());
        silu(t_hidden.view());
        time_linear_2_.forward(std::as_const(t_hidden).view(), emb.view());
        silu(emb.view());
        const float* temb_act = emb.data();

        feature_map hcur(batch, c0, h, w);
        conv_in_.forward(sample.data(), batch, h, w, same_padding(C::conv_in_kernel), hcur.data(),
                         c0 * h * w);
        std::vector<feature_map> skips;
        skips.push_back(hcur);

        const auto run_resnet = [&](const auto& resnet, const feature_map& x) {
            using R = std::remove_cvref_t<decltype(resnet)>;
            feature_map y(batch, R::out_channels, h, w);
            resnet.forward(x.data(), batch, h, w, temb_act, y.data(), R::out_channels * h * w);
            return y;
        };
        const auto run_attention = [&](const auto& attention, const feature_map& x) {
            using T = std::remove_cvref_t<decltype(attention)>;
            feature_map y(batch, T::channels, h, w);
            attention.forward(
                typename T::image_view(x.data(), shape<dyn, T::channels, dyn, dyn>(batch, h, w)),
                text(), y.view());
            return y;
        };

        for_each_index<n_blocks>([&](auto i) {
            const auto& d = std::get<i>(down_);
            using D = std::remove_cvref_t<decltype(d)>;
            for (index_t j = 0; j < D::layers; ++j) {
                hcur = j == 0 ? run_resnet(d.first, hcur) : run_resnet(d.rest[j - 1], hcur);
                if constexpr (D::attention) {
                    hcur = run_attention(d.attentions[j], hcur);
                }
                skips.push_back(hcur);
            }
            if constexpr (D::downsample) {
                const auto p = conv2d_params::square(2, C::downsample_padding);
                const index_t ho = conv2d_output_extent(h, 3, 2, C::downsample_padding, 1);
                const index_t wo = conv2d_output_extent(w, 3, 2, C::downsample_padding, 1);
                feature_map y(batch, D::out, ho, wo);
                d.downsampler.forward(hcur.data(), batch, h, w, p, y.data(), D::out * ho * wo);
                h = ho;
                w = wo;
                hcur = std::move(y);
                skips.push_back(hcur);
            }
        });

        hcur = run_resnet(mid_resnet0_, hcur);
        hcur = run_attention(mid_attention_, hcur);

        // On the way up, each ResNet reads `cat(h, skip)`. The step before it writes `h`
        // straight into the front channels of that buffer (`channel_slice`), so only the skip
        // is copied.
        const auto cat_for = [&](index_t h_channels) {
            const feature_map& skip = skips.back();
            if (skip.extent(2) != h || skip.extent(3) != w) {
                throw shape_error("ldm_unet: a skip's grid and the upsampled grid differ (the "
                                  "latent size must halve evenly at every downsampler)");
            }
            return feature_map(batch, h_channels + skip.extent(1), h, w);
        };
        const auto resnet_into = [&](const auto& resnet, const feature_map& x, feature_map& out) {
            resnet.forward(x.data(), batch, h, w, temb_act, out.data(), out.extent(1) * h * w);
        };
        const auto attention_into = [&](const auto& attention, const feature_map& x,
                                        feature_map& out) {
            using T = std::remove_cvref_t<decltype(attention)>;
            attention.forward(
                typename T::image_view(x.data(), shape<dyn, T::channels, dyn, dyn>(batch, h, w)),
                text(), channel_slice(out.view(), 0, T::channels));
        };
        feature_map cat = cat_for(c_last);
        resnet_into(mid_resnet1_, hcur, cat);

        for_each_index<n_blocks>([&](auto i) {
            const auto& u = std::get<i>(up_);
            using U = std::remove_cvref_t<decltype(u)>;
            for_each_index<U::layers>([&](auto j) {
                const feature_map& skip = skips.back();
                const index_t h_channels = cat.extent(1) - skip.extent(1);
                concat_channels(channel_slice(std::as_const(cat).view(), 0, h_channels),
                                std::as_const(skip).view(), cat.view());
                skips.pop_back();
                // The last step of a block feeds the upsampler or conv_norm_out, not a concat.
                const bool last = j + 1 == U::layers;
                feature_map next = last ? feature_map(batch, U::out, h, w) : cat_for(U::out);
                if constexpr (U::attention) {
                    const feature_map r = run_resnet(std::get<j>(u.resnets), cat);
                    attention_into(u.attentions[j], r, next);
                } else {
                    resnet_into(std::get<j>(u.resnets), cat, next);
                }
                if (last) {
                    hcur = std::move(next);
                } else {
                    cat = std::move(next);
                }
            });
            if constexpr (U::upsample) {
                feature_map up(batch, U::out, 2 * h, 2 * w);
                upsample_nearest2x(std::as_const(hcur).view(), up.view());
                h *= 2;
                w *= 2;
                cat = cat_for(U::out);
                u.upsampler.forward(up.data(), batch, h, w, conv2d_params::square(1, 1), cat.data(),
                                    cat.extent(1) * h * w);
            }
        });

        kernels::group_norm(batch, c0, h * w, groups, hcur.data(), c0 * h * w, norm_out_w_.data(),
                            norm_out_b_.data(), C::norm_eps, hcur.data(), c0 * h * w, true);
        feature_map out(batch, out_channels, h, w);
        conv_out_.forward(hcur.data(), batch, h, w, same_padding(C::conv_out_kernel), out.data(),
                          out_channels * h * w);
        return out;
    }

    template <class Visitor>
    void visit_parameters(Visitor& v, const std::string& prefix) {
        time_linear_1_.visit_parameters(v, prefix + "time_embedding.linear_1.");
        time_linear_2_.visit_parameters(v, prefix + "time_embedding.linear_2.");
        conv_in_.visit_parameters(v, prefix + "conv_in.");
        for_each_index<n_blocks>([&](auto i) {
            auto& d = std::get<i>(down_);
            using D = std::remove_cvref_t<decltype(d)>;
            const std::string base = prefix + "down_blocks." + std::to_string(i()) + ".";
            d.first.visit_parameters(v, base + "resnets.0.");
            for (index_t j = 1; j < D::layers; ++j) {
                d.rest[j - 1].visit_parameters(v, base + "resnets." + std::to_string(j) + ".");
            }
            if constexpr (D::attention) {
                for (index_t j = 0; j < D::layers; ++j) {
                    d.attentions[j].visit_parameters(v, base + "attentions." + std::to_string(j) +
                                                            ".");
                }
            }
            if constexpr (D::downsample) {
                d.downsampler.visit_parameters(v, base + "downsamplers.0.conv.");
            }
        });
        mid_resnet0_.visit_parameters(v, prefix + "mid_block.resnets.0.");
        mid_attention_.visit_parameters(v, prefix + "mid_block.attentions.0.");
        mid_resnet1_.visit_parameters(v, prefix + "mid_block.resnets.1.");
        for_each_index<n_blocks>([&](auto i) {
            auto& u = std::get<i>(up_);
            using U = std::remove_cvref_t<decltype(u)>;
            const std::string base = prefix + "up_blocks." + std::to_string(i()) + ".";
            for_each_index<U::layers>([&](auto j) {
                std::get<j>(u.resnets).visit_parameters(v, base + "resnets." + std::to_string(j()) +
                                                               ".");
                if constexpr (U::attention) {
                    u.attentions[j].visit_parameters(v, base + "attentions." + std::to_string(j()) +
                                                            ".");
                }
            });
            if constexpr (U::upsample) {
                u.upsampler.visit_parameters(v, base + "upsamplers.0.conv.");
            }
        });
        v.parameter(prefix + "conv_norm_out.weight", norm_out_w_.view());
        v.parameter(prefix + "conv_norm_out.bias", norm_out_b_.view());
        conv_out_.visit_parameters(v, prefix + "conv_out.");
    }

private:
    template <std::size_t N, class F>
    static void for_each_index(F&& f) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (f(std::integral_constant<std::size_t, I>{}), ...);
        }
        (std::make_index_sequence<N>{});
    }
    static constexpr conv2d_params same_padding(index_t kernel) {
        return conv2d_params::square(1, (kernel - 1) / 2);
    }

    linear<c0, temb, true> time_linear_1_;
    linear<temb, temb, true> time_linear_2_;
    conv2d_layer<C::in_channels, c0, C::conv_in_kernel> conv_in_;
    decltype(make_down(std::make_index_sequence<n_blocks>{})) down_;
    resnet_block<c_last, c_last, temb, groups> mid_resnet0_;
    mid_transformer mid_attention_;
    resnet_block<c_last, c_last, temb, groups> mid_resnet1_;
    decltype(make_up(std::make_index_sequence<n_blocks>{})) up_;
    tensor<float, shape<c0>> norm_out_w_, norm_out_b_;
    conv2d_layer<c0, C::out_channels, C::conv_out_kernel> conv_out_;
};

} // namespace ctt
