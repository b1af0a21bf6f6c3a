// multi_head_attention: projections + attention_heads against a direct computation with
// matmul and reference_attention; cross-attention; cached decoding equals full self-attention.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "ctt/attention/masks.hpp"
#include "ctt/attention/multi_head_attention.hpp"
#include "ctt/attention/reference_attention.hpp"

namespace {

using ctt::dyn;
using ctt::index_t;
constexpr index_t hidden = 48;
constexpr index_t heads = 4;
constexpr index_t kv_heads = 2;
constexpr index_t head_dim = 16;
using mha = ctt::multi_head_attention<hidden, heads, kv_heads, head_dim>;

template <class View>
void fill_random(View v, unsigned seed, float spread) {
    std::mt19937 gen(seed);
    std::normal_distribution<float> dist(0.0f, spread);
    for (index_t i = 0; i < v.size(); ++i) {
        v.data()[i] = dist(gen);
    }
}

mha make_layer() {
    mha m;
    fill_random(m.qkv_weight(), 1, 0.2f);
    fill_random(m.qkv_bias(), 2, 0.1f);
    fill_random(m.o_weight(), 3, 0.2f);
    fill_random(m.o_bias(), 4, 0.1f);
    return m;
}

/// Direct computation: y = x W^T + b.
template <class X, class W, class B>
ctt::tensor<float, ctt::shape<dyn, dyn>> linear(const X& x, const W& w, const B& b) {
    ctt::tensor<float, ctt::shape<dyn, dyn>> y(x.rows(), w.rows());
    for (index_t i = 0; i < x.rows(); ++i) {
        for (index_t o = 0; o < w.rows(); ++o) {
            double s = b[o];
            for (index_t c = 0; c < w.cols(); ++c) {
                s += static_cast<double>(x(i, c)) * w(o, c);
            }
            y(i, o) = static_cast<float>(s);
        }
    }
    return y;
}

template <class M>
ctt::tensor<float, ctt::shape<dyn, hidden>>
direct(mha& m, const ctt::tensor<float, ctt::shape<dyn, hidden>>& x,
       const ctt::tensor<float, ctt::shape<dyn, hidden>>& ctx, const M& mask) {
    const auto q = linear(x.view(), m.q_weight(), m.q_bias());
    const auto k = linear(ctx.view(), m.k_weight(), m.k_bias());
    const auto v = linear(ctx.view(), m.v_weight(), m.v_bias());
    ctt::tensor<float, ctt::shape<dyn, dyn>> attn(x.rows(), heads * head_dim);
    ctt::tensor_view<const float, ctt::shape<dyn, dyn>> qc = q.view();
    ctt::tensor_view<const float, ctt::shape<dyn, dyn>> kc = k.view();
    ctt::tensor_view<const float, ctt::shape<dyn, dyn>> vc = v.view();
    for (index_t h = 0; h < heads; ++h) {
        const index_t g = h / (heads / kv_heads);
        ctt::reference_attention(qc.cols<head_dim>(h * head_dim), kc.cols<head_dim>(g * head_dim),
                                 vc.cols<head_dim>(g * head_dim),
                                 attn.view().cols<head_dim>(h * head_dim), mask);
    }
    const auto y = linear(attn.view(), m.o_weight(), m.o_bias());
    ctt::tensor<float, ctt::shape<dyn, hidden>> out(x.rows());
    std::copy(y.begin(), y.end(), out.begin());
    return out;
}

float max_diff(const ctt::tensor<float, ctt::shape<dyn, hidden>>& a,
               const ctt::tensor<float, ctt::shape<dyn, hidden>>& b) {
    float m = 0;
    for (index_t i = 0; i < a.size(); ++i) {
        m = std::max(m, std::abs(a.data()[i] - b.data()[i]));
    }
    return m;
}

} // namespace

TEST_CASE("self-attention, cross-attention and cached decoding") {
    auto m = make_layer();
    const index_t l = 23;
    ctt::tensor<float, ctt::shape<dyn, hidden>> x(l);
    fill_random(x.view(), 5, 1.0f);
    ctt::tensor<float, ctt::shape<dyn, hidden>> out(l);

    m.forward(x.view(), out.view(), ctt::causal_mask{});
    const auto want = direct(m, x, x, ctt::causal_mask{});
    CHECK(max_diff(out, want) <= 1e-4f);

    ctt::tensor<float, ctt::shape<dyn, hidden>> ctx(9);
    fill_random(ctx.view(), 6, 1.0f);
    m.forward_cross(x.view(), ctx.view(), out.view());
    CHECK(max_diff(out, direct(m, x, ctx, ctt::no_mask{})) <= 1e-4f);

    mha::cache_type cache(l);
    ctt::tensor<float, ctt::shape<dyn, hidden>> stepped(l);
    m.forward_cached(x.view().rows(0, 10), cache, stepped.view().rows(0, 10), ctt::causal_mask{});
    for (index_t t = 10; t < l; ++t) {
        m.forward_cached(x.view().rows(t, 1), cache, stepped.view().rows(t, 1), ctt::causal_mask{});
    }
    CHECK(max_diff(stepped, want) <= 1e-4f);
    CHECK_THROWS_AS(m.forward_cached(x.view().rows(0, 1), cache, stepped.view().rows(0, 1)),
                    ctt::shape_error);
}
