// attention_block and cross_attention_block against a direct computation (double-precision
// projections around reference_attention, head by head): GQA, masks, batches, rotary keys,
// accumulation into the output, and decoding through the KV cache, which must agree with
// attention over the whole sequence however the sequence is split into steps.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "ctt/attention/masks.hpp"
#include "ctt/attention/reference_attention.hpp"
#include "ctt/blocks/attention_block.hpp"
#include "ctt/position/rotary.hpp"

namespace {

using ctt::dyn;
using ctt::index_t;
using ctt::weight_layout;
constexpr index_t hidden = 48;
constexpr index_t head_dim = 16;
using hidden_rows = ctt::tensor<float, ctt::shape<dyn, hidden>>;

/// LLaMA-like: four query heads over two key/value heads (GQA), separate Q, K and V.
using gqa_block = ctt::attention_block<hidden, 4, 2, head_dim,
                                       ctt::separate_qkv<hidden, 4 * head_dim, 2 * head_dim, true>>;
/// GPT-2-like: one fused QKV projection and the output projection in `Conv1D` layout.
using fused_block = ctt::attention_block<
    hidden, 4, 4, head_dim,
    ctt::fused_qkv<hidden, 4 * head_dim, 4 * head_dim, true, weight_layout::in_out>, true,
    weight_layout::in_out>;

/// Fills every parameter a module visits, each from its own seed.
struct random_filler {
    unsigned seed;
    float spread;

    template <class View>
    void parameter(const std::string&, View v) {
        std::mt19937 gen(seed++);
        std::normal_distribution<float> dist(0.0f, spread);
        for (index_t i = 0; i < v.size(); ++i) {
            v.data()[i] = dist(gen);
        }
    }
};

template <class View>
void fill_random(View v, unsigned seed, float spread) {
    random_filler{seed, spread}.parameter("", v);
}

template <class Block>
Block make_block() {
    Block b;
    random_filler fill{1, 0.2f};
    if constexpr (requires { b.projection.qkv; }) {
        b.projection.qkv.visit_parameters(fill, "");
    } else {
        b.projection.q.visit_parameters(fill, "");
        b.projection.k.visit_parameters(fill, "");
        b.projection.v.visit_parameters(fill, "");
    }
    b.out.visit_parameters(fill, "");
    return b;
}

/// Direct computation of a projection in either weight layout: y = x W^T + b or x W + b.
template <index_t In, index_t Out, bool Bias, weight_layout Layout, class X>
ctt::tensor<float, ctt::shape<dyn, Out>> direct_linear(const ctt::linear<In, Out, Bias, Layout>& l,
                                                       const X& x) {
    ctt::tensor<float, ctt::shape<dyn, Out>> y(x.rows());
    for (index_t i = 0; i < x.rows(); ++i) {
        for (index_t o = 0; o < Out; ++o) {
            double s = 0;
            if constexpr (Bias) {
                s = l.bias[o];
            }
            for (index_t c = 0; c < In; ++c) {
                const float w = Layout == weight_layout::out_in ? l.weight(o, c) : l.weight(c, o);
                s += static_cast<double>(x(i, c)) * w;
            }
            y(i, o) = static_cast<float>(s);
        }
    }
    return y;
}

/// `[q | k | v]` of every row, as the block's projection should write it.
template <class Block, class X>
ctt::tensor<float, ctt::shape<dyn, Block::qkv_width>> direct_qkv(const Block& b, const X& x) {
    if constexpr (requires { b.projection.qkv; }) {
        return direct_linear(b.projection.qkv, x);
    } else {
        ctt::tensor<float, ctt::shape<dyn, Block::qkv_width>> qkv(x.rows());
        const auto q = direct_linear(b.projection.q, x);
        const auto k = direct_linear(b.projection.k, x);
        const auto v = direct_linear(b.projection.v, x);
        for (index_t i = 0; i < x.rows(); ++i) {
            for (index_t c = 0; c < Block::q_width; ++c) {
                qkv(i, c) = q(i, c);
            }
            for (index_t c = 0; c < Block::kv_width; ++c) {
                qkv(i, Block::q_width + c) = k(i, c);
                qkv(i, Block::q_width + Block::kv_width + c) = v(i, c);
            }
        }
        return qkv;
    }
}

/// Self-attention of `batch` sequences of `length` rows of `x`, head by head through
/// `reference_attention` (query head h reads key/value head h / (Heads / KvHeads)).
template <class Block, class MaskFor, class QT = ctt::no_transform, class KT = ctt::no_transform>
hidden_rows direct(const Block& b, const hidden_rows& x, index_t batch, index_t length,
                   MaskFor mask_for, const QT& q_transform = {}, const KT& k_transform = {}) {
    constexpr index_t group = Block::heads / Block::kv_heads;
    const auto qkv_all = direct_qkv(b, x.view());
    ctt::tensor<float, ctt::shape<dyn, Block::q_width>> context(x.rows());
    for (index_t s = 0; s < batch; ++s) {
        const auto qkv =
            ctt::tensor_view<const float, ctt::shape<dyn, Block::qkv_width>>(qkv_all.view())
                .rows(s * length, length);
        const auto ctx = context.view().rows(s * length, length);
        for (index_t h = 0; h < Block::heads; ++h) {
            const index_t g = h / group;
            ctt::reference_attention(
                qkv.template cols<head_dim>(h * head_dim),
                qkv.template cols<head_dim>(Block::q_width + g * head_dim),
                qkv.template cols<head_dim>(Block::q_width + Block::kv_width + g * head_dim),
                ctx.template cols<head_dim>(h * head_dim), mask_for(s), ctt::no_bias{}, q_transform,
                ctt::attention_params{}, h, k_transform);
        }
    }
    return direct_linear(b.out, context.view());
}

float max_diff(const hidden_rows& a, const hidden_rows& b) {
    REQUIRE(a.rows() == b.rows());
    float m = 0;
    for (index_t i = 0; i < a.size(); ++i) {
        m = std::max(m, std::abs(a.data()[i] - b.data()[i]));
    }
    return m;
}

hidden_rows random_rows(index_t rows, unsigned seed) {
    hidden_rows x(rows);
    fill_random(x.view(), seed, 1.0f);
    return x;
}

hidden_rows minus(hidden_rows a, const hidden_rows& b) {
    for (index_t i = 0; i < a.size(); ++i) {
        a.data()[i] -= b.data()[i];
    }
    return a;
}

const ctt::rotary_half_split& rotary() {
    static const ctt::rotary_half_split r(head_dim, 64);
    return r;
}

} // namespace

TEST_CASE_TEMPLATE("self-attention matches a direct computation", Block, gqa_block, fused_block) {
    const auto b = make_block<Block>();
    const index_t l = 23;
    const auto x = random_rows(l, 5);
    typename Block::workspace ws(l);
    hidden_rows y(l);
    const auto causal = [](index_t) { return ctt::causal_mask{}; };

    SUBCASE("causal, no positions") {
        b.forward(x.view(), y.view(), false, 1, l, causal, ctt::no_bias{}, ctt::no_transform{},
                  ctt::no_transform{}, ctt::attention_params{}, ws);
        CHECK(max_diff(y, direct(b, x, 1, l, causal)) <= 1e-4f);
    }
    SUBCASE("causal, rotary queries and keys") {
        b.forward(x.view(), y.view(), false, 1, l, causal, ctt::no_bias{}, rotary(), rotary(),
                  ctt::attention_params{}, ws);
        CHECK(max_diff(y, direct(b, x, 1, l, causal, rotary(), rotary())) <= 1e-4f);
    }
    SUBCASE("accumulate adds the result to the output") {
        const auto base = random_rows(l, 6);
        y = base;
        b.forward(x.view(), y.view(), true, 1, l, causal, ctt::no_bias{}, ctt::no_transform{},
                  ctt::no_transform{}, ctt::attention_params{}, ws);
        CHECK(max_diff(minus(y, base), direct(b, x, 1, l, causal)) <= 1e-4f);
    }
    SUBCASE("a workspace smaller than the input is refused") {
        typename Block::workspace small(l - 1);
        CHECK_THROWS_AS(b.forward(x.view(), y.view(), false, 1, l, causal, ctt::no_bias{},
                                  ctt::no_transform{}, ctt::no_transform{}, ctt::attention_params{},
                                  small),
                        ctt::shape_error);
    }
}

TEST_CASE("batched self-attention: a mask per sequence, keys at their position in it") {
    const auto b = make_block<gqa_block>();
    const index_t batch = 3;
    const index_t length = 9;
    const auto x = random_rows(batch * length, 7);
    gqa_block::workspace ws(batch * length);
    hidden_rows y(batch * length);
    const index_t valid[batch] = {9, 5, 7};
    const auto padded = [&](index_t s) {
        return ctt::mask_and(ctt::causal_mask{}, ctt::key_padding_mask{valid[s]});
    };
    b.forward(x.view(), y.view(), false, batch, length, padded, ctt::no_bias{}, rotary(), rotary(),
              ctt::attention_params{}, ws);
    CHECK(max_diff(y, direct(b, x, batch, length, padded, rotary(), rotary())) <= 1e-4f);

    // Each sequence alone gives the same rows: nothing leaks between sequences.
    for (index_t s = 0; s < batch; ++s) {
        hidden_rows xs(length);
        hidden_rows ys(length);
        ctt::copy(ctt::tensor_view<const float, ctt::shape<dyn, hidden>>(x.view()).rows(s * length,
                                                                                        length),
                  xs.view());
        b.forward(
            xs.view(), ys.view(), false, 1, length, [&](index_t) { return padded(s); },
            ctt::no_bias{}, rotary(), rotary(), ctt::attention_params{}, ws);
        float m = 0;
        for (index_t i = 0; i < length; ++i) {
            for (index_t c = 0; c < hidden; ++c) {
                m = std::max(m, std::abs(ys(i, c) - y(s * length + i, c)));
            }
        }
        CHECK(m <= 1e-5f);
    }

    // batch * length must be the row count.
    CHECK_THROWS_AS(b.forward(x.view(), y.view(), false, batch, length - 1, padded, ctt::no_bias{},
                              rotary(), rotary(), ctt::attention_params{}, ws),
                    ctt::shape_error);
}

TEST_CASE_TEMPLATE("forward_cached over several steps equals forward over the whole sequence",
                   Block, gqa_block, fused_block) {
    const auto b = make_block<Block>();
    const index_t l = 23;
    const auto x = random_rows(l, 8);
    typename Block::workspace ws(l);
    const auto xc = ctt::tensor_view<const float, ctt::shape<dyn, hidden>>(x.view());

    const auto check_mask = [&](auto mask) {
        const auto mask_for = [&](index_t) { return mask; };
        hidden_rows whole(l);
        b.forward(x.view(), whole.view(), false, 1, l, mask_for, ctt::no_bias{}, rotary(), rotary(),
                  ctt::attention_params{}, ws);
        CHECK(max_diff(whole, direct(b, x, 1, l, mask_for, rotary(), rotary())) <= 1e-4f);

        // A prefill then one token at a time, as generation runs; and uneven chunks.
        const std::vector<std::vector<index_t>> splits = {
            {10, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {3, 1, 4, 1, 5, 9}, {23}};
        for (const auto& steps : splits) {
            CAPTURE(steps.size());
            typename Block::cache cache(l);
            hidden_rows stepped(l);
            index_t at = 0;
            for (index_t n : steps) {
                b.forward_cached(xc.rows(at, n), stepped.view().rows(at, n), false, cache, mask,
                                 ctt::no_bias{}, rotary(), rotary(), ctt::attention_params{}, ws);
                at += n;
                CHECK(cache.length() == at);
            }
            REQUIRE(at == l);
            CHECK(max_diff(stepped, whole) <= 1e-4f);

            // The cache is full: one more token is refused before anything is appended.
            CHECK_THROWS_AS(b.forward_cached(xc.rows(0, 1), stepped.view().rows(0, 1), false, cache,
                                             mask, ctt::no_bias{}, rotary(), rotary(),
                                             ctt::attention_params{}, ws),
                            ctt::shape_error);
            CHECK(cache.length() == l);
        }

        // Decoding with accumulate adds to the output.
        typename Block::cache cache(l);
        const auto base = random_rows(l, 9);
        hidden_rows acc = base;
        b.forward_cached(xc.rows(0, 12), acc.view().rows(0, 12), true, cache, mask, ctt::no_bias{},
                         rotary(), rotary(), ctt::attention_params{}, ws);
        for (index_t t = 12; t < l; ++t) {
            b.forward_cached(xc.rows(t, 1), acc.view().rows(t, 1), true, cache, mask,
                             ctt::no_bias{}, rotary(), rotary(), ctt::attention_params{}, ws);
        }
        CHECK(max_diff(minus(acc, base), whole) <= 1e-4f);
    };
    SUBCASE("causal") {
        check_mask(ctt::causal_mask{});
    }
    SUBCASE("sliding window") {
        check_mask(ctt::sliding_window_mask{5});
    }
}

TEST_CASE("cross-attention matches a direct computation") {
    constexpr index_t heads = 4;
    constexpr index_t memory_width = 40;
    using block = ctt::cross_attention_block<hidden, heads, head_dim, true, memory_width>;
    block b;
    random_filler fill{11, 0.2f};
    b.q.visit_parameters(fill, "");
    b.k.visit_parameters(fill, "");
    b.v.visit_parameters(fill, "");
    b.out.visit_parameters(fill, "");

    const index_t l = 23;
    const index_t lm = 9;
    const auto x = random_rows(l, 12);
    ctt::tensor<float, ctt::shape<dyn, memory_width>> memory(lm);
    fill_random(memory.view(), 13, 1.0f);
    block::cache kv(lm);
    b.prepare(memory.view(), kv);
    CHECK(kv.length() == lm);

    const auto q = direct_linear(b.q, x.view());
    const auto k = direct_linear(b.k, memory.view());
    const auto v = direct_linear(b.v, memory.view());
    const auto want = [&](const auto& mask) {
        ctt::tensor<float, ctt::shape<dyn, block::q_width>> context(l);
        for (index_t h = 0; h < heads; ++h) {
            ctt::reference_attention(q.view().cols<head_dim>(h * head_dim),
                                     k.view().cols<head_dim>(h * head_dim),
                                     v.view().cols<head_dim>(h * head_dim),
                                     context.view().cols<head_dim>(h * head_dim), mask);
        }
        return direct_linear(b.out, context.view());
    };

    ctt::tensor<float, ctt::shape<dyn, block::q_width>> q_buffer(l);
    ctt::tensor<float, ctt::shape<dyn, block::q_width>> context(l);
    hidden_rows y(l);
    b.forward(x.view(), y.view(), false, kv, ctt::no_mask{}, ctt::no_bias{},
              ctt::attention_params{}, q_buffer.view(), context.view());
    CHECK(max_diff(y, want(ctt::no_mask{})) <= 1e-4f);

    // Padding in the memory, and accumulation into the output.
    const ctt::key_padding_mask padding{6};
    const auto base = random_rows(l, 14);
    y = base;
    b.forward(x.view(), y.view(), true, kv, padding, ctt::no_bias{}, ctt::attention_params{},
              q_buffer.view(), context.view());
    CHECK(max_diff(minus(y, base), want(padding)) <= 1e-4f);

    // One decoder step at a time sees the same memory.
    hidden_rows stepped(l);
    for (index_t t = 0; t < l; ++t) {
        b.forward(ctt::tensor_view<const float, ctt::shape<dyn, hidden>>(x.view()).rows(t, 1),
                  stepped.view().rows(t, 1), false, kv, ctt::no_mask{}, ctt::no_bias{},
                  ctt::attention_params{}, q_buffer.view(), context.view());
    }
    CHECK(max_diff(stepped, want(ctt::no_mask{})) <= 1e-4f);
}
