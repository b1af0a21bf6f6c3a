// ldm_transformer and ldm_unet at sizes unlike the shipped reference cases (other channel
// lists, block types and orders, group counts, head counts and widths, text widths, layer
// counts, both projection kinds, a time-embedding width and scale factors off their defaults,
// odd grids), with random weights, against a straightforward composition of the scalar
// reference kernels that reads the weights by their diffusers names. The composition derives
// the U-Net's block layout at run time from the same lists, so a size hard-coded anywhere in the
// models shows up as a mismatch or a missing name.
#include <ctt/kernels/reference/conv2d.hpp>
#include <ctt/kernels/reference/gemm.hpp>
#include <ctt/kernels/reference/group_norm.hpp>
#include <ctt/kernels/reference/image.hpp>
#include <ctt/kernels/reference/norms.hpp>
#include <ctt/models/ldm_transformer.hpp>
#include <ctt/models/ldm_unet.hpp>
#include <ctt/simd/parallel.hpp>

#include <doctest/doctest.h>

#include "../support/random_model.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace ctt;
namespace ref = ctt::kernels::reference;

/// Every parameter by name, as visited (the reference reads weights only through this).
struct weight_table {
    std::map<std::string, std::vector<float>> tensors;
    template <class T, tensor_shape S>
    void parameter(const std::string& name, tensor_view<T, S> v) {
        REQUIRE(v.is_contiguous());
        tensors[name].assign(v.data(), v.data() + v.size());
    }
    void ignore(const std::string&) {}
    [[nodiscard]] const float* operator()(const std::string& name) const {
        const auto it = tensors.find(name);
        if (it == tensors.end()) {
            FAIL("no parameter named " << name);
        }
        return it->second.data();
    }
    [[nodiscard]] bool has(const std::string& name) const { return tensors.contains(name); }
};

std::vector<float> random_values(index_t n, unsigned seed, float scale = 1.f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-scale, scale);
    std::vector<float> v(n);
    for (auto& x : v) {
        x = u(rng);
    }
    return v;
}

/// A feature map `[B, C, H, W]` as the reference composition carries it.
struct fmap {
    index_t b, c, h, w;
    std::vector<float> v;
    fmap(index_t b_, index_t c_, index_t h_, index_t w_)
        : b(b_)
        , c(c_)
        , h(h_)
        , w(w_)
        , v(b_ * c_ * h_ * w_) {}
};

/// `y[n, out] = x[n, in] W^T + b`.
std::vector<float> ref_linear(const std::vector<float>& x, index_t n, index_t in, index_t out,
                              const float* w, const float* b) {
    std::vector<float> y(n * out);
    ref::gemm(n, out, in, x.data(), in, w, in, kernels::transpose::yes, y.data(), out, 1.f, false,
              b);
    return y;
}

fmap ref_conv(const fmap& x, const weight_table& t, const std::string& name, index_t out, index_t k,
              index_t stride, index_t pad) {
    const conv2d_params p = conv2d_params::square(stride, pad);
    const kernels::conv2d_geometry g{x.b, x.c, x.h, x.w, out, k, k};
    fmap y(x.b, out, g.out_height(p), g.out_width(p));
    ref::conv2d(g, p, x.v.data(), x.c * x.h * x.w, t(name + ".weight"), t(name + ".bias"),
                y.v.data(), out * y.h * y.w);
    return y;
}

fmap ref_group_norm(const fmap& x, index_t groups, const float* w, const float* b, float eps,
                    bool silu) {
    fmap y = x;
    ref::group_norm(x.b, x.c, x.h * x.w, groups, x.v.data(), x.c * x.h * x.w, w, b, eps, y.v.data(),
                    x.c * x.h * x.w, silu);
    return y;
}

double silu(double x) {
    return x / (1.0 + std::exp(-x));
}

/// softmax(q k^T / sqrt(d)) v for every head of `[L, heads * d]` rows, in double.
std::vector<float> ref_attention(const float* q, index_t lq, const float* k, const float* v,
                                 index_t lk, index_t heads, index_t d) {
    std::vector<float> out(lq * heads * d);
    const index_t width = heads * d;
    for (index_t h = 0; h < heads; ++h) {
        for (index_t i = 0; i < lq; ++i) {
            std::vector<double> s(lk);
            double top = -1e300;
            for (index_t j = 0; j < lk; ++j) {
                double dot = 0;
                for (index_t e = 0; e < d; ++e) {
                    dot += static_cast<double>(q[i * width + h * d + e]) * k[j * width + h * d + e];
                }
                s[j] = dot / std::sqrt(static_cast<double>(d));
                top = std::max(top, s[j]);
            }
            double sum = 0;
            for (auto& x : s) {
                x = std::exp(x - top);
                sum += x;
            }
            for (index_t e = 0; e < d; ++e) {
                double acc = 0;
                for (index_t j = 0; j < lk; ++j) {
                    acc += s[j] / sum * v[j * width + h * d + e];
                }
                out[i * width + h * d + e] = static_cast<float>(acc);
            }
        }
    }
    return out;
}

/// `Transformer2DModel` on `x` with text `[B, Lt, cross]`, from the diffusers definition.
struct transformer_sizes {
    index_t channels, heads, head_dim, cross, layers, groups;
    bool linear_projection;
    float eps;
};

fmap ref_transformer(const fmap& x, const std::vector<float>& text, index_t text_length,
                     const transformer_sizes& s, const weight_table& t, const std::string& p) {
    const index_t inner = s.heads * s.head_dim;
    const index_t pixels = x.h * x.w;
    const index_t rows = x.b * pixels;
    const fmap n =
        ref_group_norm(x, s.groups, t(p + "norm.weight"), t(p + "norm.bias"), 1e-6f, false);
    // Tokens [B * HW, C] (pixels in row-major order), projected to inner.
    std::vector<float> tok(rows * s.channels);
    for (index_t b = 0; b < x.b; ++b) {
        for (index_t c = 0; c < s.channels; ++c) {
            for (index_t i = 0; i < pixels; ++i) {
                tok[(b * pixels + i) * s.channels + c] = n.v[(b * s.channels + c) * pixels + i];
            }
        }
    }
    // A 1x1 conv's [out, in, 1, 1] weight is the linear layer's [out, in].
    std::vector<float> hs =
        ref_linear(tok, rows, s.channels, inner, t(p + "proj_in.weight"), t(p + "proj_in.bias"));
    const auto layer_norm = [&](const std::string& name) {
        std::vector<float> y(hs.size());
        for (index_t r = 0; r < rows; ++r) {
            ref::layer_norm_row(hs.data() + r * inner, t(name + ".weight"), t(name + ".bias"),
                                s.eps, y.data() + r * inner, inner);
        }
        return y;
    };
    const auto bias_or_null = [&](const std::string& name) {
        return t.has(name) ? t(name) : nullptr;
    };
    for (index_t l = 0; l < s.layers; ++l) {
        const std::string blk = p + "transformer_blocks." + std::to_string(l) + ".";
        for (const char* attn : {"attn1.", "attn2."}) {
            const bool cross = attn[4] == '2';
            const auto normed = layer_norm(blk + (cross ? "norm2" : "norm1"));
            const std::vector<float>& kv_src = cross ? text : normed;
            const index_t kv_width = cross ? s.cross : inner;
            const index_t kv_rows_per = cross ? text_length : pixels;
            const std::string a = blk + attn;
            const auto q = ref_linear(normed, rows, inner, inner, t(a + "to_q.weight"),
                                      bias_or_null(a + "to_q.bias"));
            const auto k = ref_linear(kv_src, x.b * kv_rows_per, kv_width, inner,
                                      t(a + "to_k.weight"), bias_or_null(a + "to_k.bias"));
            const auto v = ref_linear(kv_src, x.b * kv_rows_per, kv_width, inner,
                                      t(a + "to_v.weight"), bias_or_null(a + "to_v.bias"));
            std::vector<float> ctx(rows * inner);
            for (index_t b = 0; b < x.b; ++b) {
                const auto o = ref_attention(
                    q.data() + b * pixels * inner, pixels, k.data() + b * kv_rows_per * inner,
                    v.data() + b * kv_rows_per * inner, kv_rows_per, s.heads, s.head_dim);
                std::copy(o.begin(), o.end(), ctx.begin() + b * pixels * inner);
            }
            const auto out = ref_linear(ctx, rows, inner, inner, t(a + "to_out.0.weight"),
                                        t(a + "to_out.0.bias"));
            for (index_t i = 0; i < hs.size(); ++i) {
                hs[i] += out[i];
            }
        }
        const auto normed = layer_norm(blk + "norm3");
        const index_t f = 4 * inner;
        const auto up = ref_linear(normed, rows, inner, 2 * f, t(blk + "ff.net.0.proj.weight"),
                                   t(blk + "ff.net.0.proj.bias"));
        std::vector<float> g(rows * f);
        for (index_t r = 0; r < rows; ++r) {
            for (index_t i = 0; i < f; ++i) {
                const double hidden = up[r * 2 * f + i];
                const double gate = up[r * 2 * f + f + i];
                g[r * f + i] = static_cast<float>(hidden * 0.5 * gate *
                                                  (1.0 + std::erf(gate / std::sqrt(2.0))));
            }
        }
        const auto down =
            ref_linear(g, rows, f, inner, t(blk + "ff.net.2.weight"), t(blk + "ff.net.2.bias"));
        for (index_t i = 0; i < hs.size(); ++i) {
            hs[i] += down[i];
        }
    }
    const auto projected =
        ref_linear(hs, rows, inner, s.channels, t(p + "proj_out.weight"), t(p + "proj_out.bias"));
    fmap y = x;
    for (index_t b = 0; b < x.b; ++b) {
        for (index_t c = 0; c < s.channels; ++c) {
            for (index_t i = 0; i < pixels; ++i) {
                y.v[(b * s.channels + c) * pixels + i] +=
                    projected[(b * pixels + i) * s.channels + c];
            }
        }
    }
    return y;
}

double max_abs(const std::vector<float>& v) {
    double m = 0;
    for (float x : v) {
        m = std::max(m, static_cast<double>(std::fabs(x)));
    }
    return m;
}

template <class Out>
void check_close(const Out& ours, const std::vector<float>& expect) {
    const std::vector<float> got(ours.data(), ours.data() + ours.size());
    REQUIRE(got.size() == expect.size());
    const double scale = std::max(1.0, max_abs(expect));
    CHECK(test::max_diff(got, expect) <= 1e-4 * scale);
}

// Transformer2DModel: inner width (3 x 5) unlike the 24 channels, 2 layers, 6 groups, a text
// width of 11, biased Q/K/V, both projection kinds.
template <bool Linear, bool Bias>
struct transformer_config {
    static constexpr index_t in_channels = 24;
    static constexpr index_t num_attention_heads = 3;
    static constexpr index_t attention_head_dim = 5;
    static constexpr index_t cross_attention_dim = 11;
    static constexpr index_t num_layers = 2;
    static constexpr index_t norm_num_groups = 6;
    static constexpr float norm_eps = 1e-5f;
    static constexpr bool use_linear_projection = Linear;
    static constexpr bool attention_bias = Bias;
};

template <class C>
void check_transformer(index_t batch, index_t h, index_t w, index_t text_length) {
    const auto model = test::random_model<ldm_transformer<C>>();
    weight_table t;
    model->visit_parameters(t, "");
    CHECK(t.has("proj_in.weight"));
    CHECK(t.has("transformer_blocks.1.attn2.to_k.weight"));
    CHECK(t.has("transformer_blocks.0.attn1.to_q.bias") == C::attention_bias);
    fmap x(batch, C::in_channels, h, w);
    x.v = random_values(x.v.size(), 3, 2.f);
    const auto text = random_values(batch * text_length * C::cross_attention_dim, 4);
    const auto ours = model->forward(
        tensor_view<const float, shape<dyn, dyn, dyn, dyn>>(
            x.v.data(), shape<dyn, dyn, dyn, dyn>(batch, C::in_channels, h, w)),
        tensor_view<const float, shape<dyn, dyn, dyn>>(
            text.data(), shape<dyn, dyn, dyn>(batch, text_length, C::cross_attention_dim)));
    const transformer_sizes s{
        C::in_channels, C::num_attention_heads, C::attention_head_dim,    C::cross_attention_dim,
        C::num_layers,  C::norm_num_groups,     C::use_linear_projection, C::norm_eps};
    check_close(ours, ref_transformer(x, text, text_length, s, t, "").v);
}

// A 3-block U-Net: plain down block first, cross-attention later, 2 ResNets in the first down
// block, 2 transformer layers in the middle block, per-block head counts, 4 groups, a linear
// projection, a time embedding of 40, flip_sin_to_cos off, freq_shift 1, a ResNet output scale
// of 2 and a mid-block scale of 0.5, kernel-1 conv_in and kernel-5 conv_out.
struct unet_config {
    static constexpr index_t in_channels = 3;
    static constexpr index_t out_channels = 5;
    static constexpr std::array<index_t, 3> block_out_channels{16, 24, 32};
    static constexpr std::array<unet_block, 3> down_block_types{
        unet_block::down, unet_block::cross_attn_down, unet_block::cross_attn_down};
    static constexpr std::array<unet_block, 3> up_block_types{
        unet_block::cross_attn_up, unet_block::cross_attn_up, unet_block::up};
    static constexpr std::array<index_t, 3> layers_per_block{2, 1, 1};
    static constexpr std::array<index_t, 3> transformer_layers_per_block{1, 2, 1};
    static constexpr std::array<index_t, 3> attention_heads{2, 4, 4};
    static constexpr index_t norm_num_groups = 4;
    static constexpr float norm_eps = 1e-5f;
    static constexpr index_t cross_attention_dim = 12;
    static constexpr index_t time_embed_dim = 40;
    static constexpr bool flip_sin_to_cos = false;
    static constexpr float freq_shift = 1.f;
    static constexpr index_t conv_in_kernel = 1;
    static constexpr index_t conv_out_kernel = 5;
    static constexpr index_t downsample_padding = 1;
    static constexpr float mid_block_scale_factor = 0.5f;
    static constexpr float resnet_out_scale_factor = 2.f;
    static constexpr bool use_linear_projection = true;
};

/// `UNet2DConditionModel` from its definition, with the block layout derived at run time.
template <class C>
std::vector<float> ref_unet(const fmap& sample, const std::vector<float>& timesteps,
                            const std::vector<float>& text, index_t text_length,
                            const weight_table& t) {
    const auto& chans = C::block_out_channels;
    const index_t n = chans.size();
    const index_t batch = sample.b;
    const index_t groups = C::norm_num_groups;
    // Timestep embedding, in double.
    const index_t c0 = chans[0];
    const index_t half = c0 / 2;
    std::vector<float> freq(batch * c0, 0.f);
    for (index_t b = 0; b < batch; ++b) {
        for (index_t i = 0; i < half; ++i) {
            const double f =
                std::exp(-std::log(10000.0) * static_cast<double>(i) / (half - C::freq_shift));
            const double s = std::sin(timesteps[b] * f);
            const double c = std::cos(timesteps[b] * f);
            freq[b * c0 + i] = static_cast<float>(C::flip_sin_to_cos ? c : s);
            freq[b * c0 + half + i] = static_cast<float>(C::flip_sin_to_cos ? s : c);
        }
    }
    const index_t te = C::time_embed_dim;
    auto emb = ref_linear(freq, batch, c0, te, t("time_embedding.linear_1.weight"),
                          t("time_embedding.linear_1.bias"));
    for (auto& x : emb) {
        x = static_cast<float>(silu(x));
    }
    emb = ref_linear(emb, batch, te, te, t("time_embedding.linear_2.weight"),
                     t("time_embedding.linear_2.bias"));
    for (auto& x : emb) {
        x = static_cast<float>(silu(x));
    }

    const auto resnet = [&](const fmap& x, index_t out, const std::string& p, float scale) {
        fmap h = ref_group_norm(x, groups, t(p + "norm1.weight"), t(p + "norm1.bias"), C::norm_eps,
                                true);
        h = ref_conv(h, t, p + "conv1", out, 3, 1, 1);
        const auto tp = ref_linear(emb, batch, te, out, t(p + "time_emb_proj.weight"),
                                   t(p + "time_emb_proj.bias"));
        for (index_t b = 0; b < batch; ++b) {
            for (index_t c = 0; c < out; ++c) {
                for (index_t i = 0; i < h.h * h.w; ++i) {
                    h.v[(b * out + c) * h.h * h.w + i] += tp[b * out + c];
                }
            }
        }
        h = ref_group_norm(h, groups, t(p + "norm2.weight"), t(p + "norm2.bias"), C::norm_eps,
                           true);
        h = ref_conv(h, t, p + "conv2", out, 3, 1, 1);
        const fmap shortcut = x.c != out ? ref_conv(x, t, p + "conv_shortcut", out, 1, 1, 0) : x;
        for (index_t i = 0; i < h.v.size(); ++i) {
            h.v[i] = (shortcut.v[i] + h.v[i]) / scale;
        }
        return h;
    };
    const auto transformer = [&](const fmap& x, index_t heads, index_t layers,
                                 const std::string& p) {
        const transformer_sizes s{x.c,
                                  heads,
                                  x.c / heads,
                                  C::cross_attention_dim,
                                  layers,
                                  groups,
                                  C::use_linear_projection,
                                  C::norm_eps};
        return ref_transformer(x, text, text_length, s, t, p);
    };

    fmap h = ref_conv(sample, t, "conv_in", c0, C::conv_in_kernel, 1, (C::conv_in_kernel - 1) / 2);
    std::vector<fmap> skips{h};
    for (index_t i = 0; i < n; ++i) {
        const std::string p = "down_blocks." + std::to_string(i) + ".";
        for (index_t j = 0; j < C::layers_per_block[i]; ++j) {
            h = resnet(h, chans[i], p + "resnets." + std::to_string(j) + ".",
                       C::resnet_out_scale_factor);
            if (C::down_block_types[i] == unet_block::cross_attn_down) {
                h = transformer(h, C::attention_heads[i], C::transformer_layers_per_block[i],
                                p + "attentions." + std::to_string(j) + ".");
            }
            skips.push_back(h);
        }
        if (i + 1 < n) {
            h = ref_conv(h, t, p + "downsamplers.0.conv", chans[i], 3, 2, C::downsample_padding);
            skips.push_back(h);
        }
    }
    h = resnet(h, chans[n - 1], "mid_block.resnets.0.", C::mid_block_scale_factor);
    h = transformer(h, C::attention_heads[n - 1], C::transformer_layers_per_block[n - 1],
                    "mid_block.attentions.0.");
    h = resnet(h, chans[n - 1], "mid_block.resnets.1.", C::mid_block_scale_factor);
    for (index_t i = 0; i < n; ++i) {
        const index_t r = n - 1 - i;
        const std::string p = "up_blocks." + std::to_string(i) + ".";
        for (index_t j = 0; j <= C::layers_per_block[r]; ++j) {
            const fmap& skip = skips.back();
            fmap cat(batch, h.c + skip.c, h.h, h.w);
            ref::concat_channels(batch, h.c, skip.c, h.h * h.w, h.v.data(), skip.v.data(),
                                 cat.v.data());
            skips.pop_back();
            h = resnet(cat, chans[r], p + "resnets." + std::to_string(j) + ".",
                       C::resnet_out_scale_factor);
            if (C::up_block_types[i] == unet_block::cross_attn_up) {
                h = transformer(h, C::attention_heads[r], C::transformer_layers_per_block[r],
                                p + "attentions." + std::to_string(j) + ".");
            }
        }
        if (i + 1 < n) {
            fmap up(batch, h.c, 2 * h.h, 2 * h.w);
            ref::upsample_nearest2x(batch, h.c, h.h, h.w, h.v.data(), h.c * h.h * h.w, up.v.data(),
                                    4 * h.c * h.h * h.w);
            h = ref_conv(up, t, p + "upsamplers.0.conv", h.c, 3, 1, 1);
        }
    }
    CHECK(skips.empty());
    h = ref_group_norm(h, groups, t("conv_norm_out.weight"), t("conv_norm_out.bias"), C::norm_eps,
                       true);
    return ref_conv(h, t, "conv_out", C::out_channels, C::conv_out_kernel, 1,
                    (C::conv_out_kernel - 1) / 2)
        .v;
}

} // namespace

TEST_CASE("ldm_transformer at other sizes matches the reference composition") {
    SUBCASE("1x1-conv projections, no Q/K/V bias") {
        check_transformer<transformer_config<false, false>>(2, 3, 5, 4);
    }
    SUBCASE("linear projections, biased Q/K/V") {
        check_transformer<transformer_config<true, true>>(1, 7, 2, 9);
    }
}

TEST_CASE("ldm_unet at other sizes matches the reference composition") {
    const auto model = test::random_model<ldm_unet<unet_config>>();
    weight_table t;
    model->visit_parameters(t, "");
    // The layout: 2 + 1 + 1 down ResNets, 3 + 2 + 2 up ResNets with their skip widths.
    CHECK(t.has("down_blocks.0.resnets.1.conv2.weight"));
    CHECK(!t.has("down_blocks.0.attentions.0.norm.weight"));
    CHECK(t.has("down_blocks.1.attentions.0.transformer_blocks.1.norm3.weight"));
    CHECK(!t.has("down_blocks.2.downsamplers.0.conv.weight"));
    CHECK(t.has("up_blocks.2.resnets.2.conv1.weight"));
    CHECK(!t.has("up_blocks.2.upsamplers.0.conv.weight"));
    CHECK(t.tensors.at("up_blocks.0.resnets.0.conv1.weight").size() == 32 * 64 * 9);
    CHECK(t.tensors.at("up_blocks.0.resnets.1.conv1.weight").size() == 32 * 56 * 9);
    CHECK(t.tensors.at("up_blocks.2.resnets.2.conv1.weight").size() == 16 * 32 * 9);
    CHECK(t.tensors.at("mid_block.attentions.0.proj_in.weight").size() == 32 * 32);

    const index_t batch = 2, h = 8, w = 12, text_length = 5;
    fmap sample(batch, unet_config::in_channels, h, w);
    sample.v = random_values(sample.v.size(), 5);
    const auto text = random_values(batch * text_length * unet_config::cross_attention_dim, 6);
    const std::vector<float> timesteps{3.f, 271.f};
    const auto ours = model->forward(
        tensor_view<const float, shape<dyn, dyn, dyn, dyn>>(
            sample.v.data(), shape<dyn, dyn, dyn, dyn>(batch, unet_config::in_channels, h, w)),
        timesteps,
        tensor_view<const float, shape<dyn, dyn, dyn>>(
            text.data(),
            shape<dyn, dyn, dyn>(batch, text_length, unet_config::cross_attention_dim)));
    CHECK(ours.extent(1) == unet_config::out_channels);
    CHECK(ours.extent(2) == h);
    CHECK(ours.extent(3) == w);
    check_close(ours, ref_unet<unet_config>(sample, timesteps, text, text_length, t));

    // A grid that does not halve evenly twice has no matching skip on the way up.
    fmap odd(1, unet_config::in_channels, 6, 6);
    CHECK_THROWS_AS(
        (void)model->forward(tensor_view<const float, shape<dyn, dyn, dyn, dyn>>(
                                 odd.v.data(), shape<dyn, dyn, dyn, dyn>(1, 3, 6, 6)),
                             std::vector<float>{1.f},
                             tensor_view<const float, shape<dyn, dyn, dyn>>(
                                 text.data(), shape<dyn, dyn, dyn>(1, text_length, 12))),
        shape_error);
    // One timestep per image.
    CHECK_THROWS_WITH_AS(
        (void)model->forward(tensor_view<const float, shape<dyn, dyn, dyn, dyn>>(
                                 sample.v.data(), shape<dyn, dyn, dyn, dyn>(batch, 3, h, w)),
                             std::vector<float>{1.f},
                             tensor_view<const float, shape<dyn, dyn, dyn>>(
                                 text.data(), shape<dyn, dyn, dyn>(batch, text_length, 12))),
        "ldm_unet: timestep count and batch size differ (1 != 2)", shape_error);
}

TEST_CASE("ldm_unet does not depend on the thread count") {
    const auto model = test::random_model<ldm_unet<unet_config>>();
    const index_t batch = 1, h = 32, w = 40, text_length = 3;
    const auto sample = random_values(batch * unet_config::in_channels * h * w, 7);
    const auto text = random_values(batch * text_length * unet_config::cross_attention_dim, 8);
    const std::vector<float> timesteps{500.f};
    const auto run = [&] {
        return model->forward(
            tensor_view<const float, shape<dyn, dyn, dyn, dyn>>(
                sample.data(), shape<dyn, dyn, dyn, dyn>(batch, unet_config::in_channels, h, w)),
            timesteps,
            tensor_view<const float, shape<dyn, dyn, dyn>>(
                text.data(),
                shape<dyn, dyn, dyn>(batch, text_length, unet_config::cross_attention_dim)));
    };
    const int threads = simd::max_threads();
    simd::set_num_threads(1);
    const auto one = run();
    simd::set_num_threads(threads > 1 ? threads : 2);
    const auto many = run();
    simd::set_num_threads(threads);
    CHECK(std::equal(one.data(), one.data() + one.size(), many.data()));
}
