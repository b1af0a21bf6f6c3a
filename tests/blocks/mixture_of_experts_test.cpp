// Tests of ctt::mixture_of_experts against a scalar twin that runs every expert on every token
// in double precision and combines the chosen ones (the dense formulation of
// HF MixtralSparseMoeBlock / Qwen3MoeSparseMoeBlock).
//
// Tolerance: the block sums at most max(H, F) float products per GEMM and activates in float
// (1-2 ulp), so each output is within about 1e-6 of the double result relative to the
// output's scale; the tests allow 1e-5 of max|ref| plus 1e-5 relative.
#include <ctt/blocks/mixture_of_experts.hpp>
#include <ctt/core/tensor.hpp>
#include <ctt/kernels/reference/activations.hpp>
#include <ctt/simd/parallel.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

using ctt::activation;
using ctt::dyn;
using ctt::index_t;
using ctt::router_order;
using ctt::router_settings;
using ctt::shape;
using ctt::tensor;
using ctt::tensor_view;

namespace {

constexpr double rel_tol = 1e-5;

void fill_uniform(float* p, index_t n, float lo, float hi, std::uint32_t seed) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<float> dist(lo, hi);
    for (index_t i = 0; i < n; ++i) {
        p[i] = dist(gen);
    }
}

/// Random weights whose products stay O(1): router logits spread over about [-3, 3].
template <class Moe>
void randomize(Moe& moe, std::uint32_t seed) {
    constexpr index_t h = Moe::hidden, f = Moe::inner;
    const float sh = 1.f / std::sqrt(static_cast<float>(h));
    const float sf = 1.f / std::sqrt(static_cast<float>(f));
    fill_uniform(moe.router.weight.data(), moe.router.weight.size(), -2.f * sh, 2.f * sh, seed);
    fill_uniform(moe.gate_up.data(), moe.gate_up.size(), -2.f * sh, 2.f * sh, seed + 1);
    fill_uniform(moe.down.data(), moe.down.size(), -2.f * sf, 2.f * sf, seed + 2);
}

/// Indices of the k largest values, largest first, ties to the lower index.
std::vector<index_t> top_k_reference(const std::vector<double>& v, index_t k) {
    std::vector<index_t> idx(v.size());
    std::iota(idx.begin(), idx.end(), index_t{0});
    std::stable_sort(idx.begin(), idx.end(), [&](index_t a, index_t b) { return v[a] > v[b]; });
    idx.resize(k);
    return idx;
}

/// `y (+)= moe(x)` the dense way, in double: every expert on every token, then the chosen
/// ones combined with the router's weights.
template <class Moe>
std::vector<double> reference_moe(const Moe& moe, const tensor<float, shape<dyn, Moe::hidden>>& x,
                                  const tensor<float, shape<dyn, Moe::hidden>>& y0, bool accumulate,
                                  activation act) {
    constexpr index_t h = Moe::hidden, f = Moe::inner, e_count = Moe::experts;
    const index_t n = x.rows();
    const router_settings& rs = moe.routing;
    std::vector<double> y(n * h, 0.0);
    for (index_t t = 0; t < n; ++t) {
        std::vector<double> logits(e_count, 0.0);
        for (index_t e = 0; e < e_count; ++e) {
            for (index_t c = 0; c < h; ++c) {
                logits[e] += double{x(t, c)} * double{moe.router.weight(e, c)};
            }
        }
        std::vector<std::vector<double>> out(e_count, std::vector<double>(h, 0.0));
        for (index_t e = 0; e < e_count; ++e) {
            std::vector<double> hid(f);
            for (index_t j = 0; j < f; ++j) {
                double g = 0, u = 0;
                for (index_t c = 0; c < h; ++c) {
                    g += double{x(t, c)} * double{moe.gate_up(e, j, c)};
                    u += double{x(t, c)} * double{moe.gate_up(e, f + j, c)};
                }
                hid[j] = ctt::kernels::reference::activate(act, g) * u;
            }
            for (index_t c = 0; c < h; ++c) {
                for (index_t j = 0; j < f; ++j) {
                    out[e][c] += hid[j] * double{moe.down(e, c, j)};
                }
            }
        }
        std::vector<index_t> chosen;
        std::vector<double> weight;
        const double largest = *std::max_element(logits.begin(), logits.end());
        if (rs.order == router_order::softmax_then_top_k) {
            std::vector<double> p(e_count);
            double sum = 0;
            for (index_t e = 0; e < e_count; ++e) {
                p[e] = std::exp(logits[e] - largest);
                sum += p[e];
            }
            for (double& v : p) {
                v /= sum;
            }
            chosen = top_k_reference(p, rs.top_k);
            double kept = 0;
            for (index_t e : chosen) {
                weight.push_back(p[e]);
                kept += p[e];
            }
            if (rs.normalize_top_k) {
                for (double& w : weight) {
                    w /= kept;
                }
            }
        } else {
            chosen = top_k_reference(logits, rs.top_k);
            double sum = 0;
            for (index_t e : chosen) {
                weight.push_back(std::exp(logits[e] - logits[chosen[0]]));
                sum += weight.back();
            }
            for (double& w : weight) {
                w /= sum;
            }
        }
        for (index_t c = 0; c < h; ++c) {
            double acc = accumulate ? double{y0(t, c)} : 0.0;
            for (index_t j = 0; j < chosen.size(); ++j) {
                acc += weight[j] * out[chosen[j]][c];
            }
            y[t * h + c] = acc;
        }
    }
    return y;
}

template <index_t H>
void check_against(const tensor<float, shape<dyn, H>>& got, const std::vector<double>& want) {
    REQUIRE(got.size() == want.size());
    double scale = 0;
    for (double w : want) {
        scale = std::max(scale, std::abs(w));
    }
    for (index_t i = 0; i < want.size(); ++i) {
        const double g = got.data()[i];
        const double excess = std::abs(g - want[i]) - rel_tol * (scale + std::abs(want[i]));
        if (!(excess <= 0)) {
            INFO("token " << i / H << " col " << i % H << ": got " << g << " want " << want[i]);
            CHECK(excess <= 0);
            return;
        }
    }
}

template <index_t H, index_t F, index_t E, activation Act>
void check_block(index_t top_k, std::uint32_t seed) {
    using moe_t = ctt::mixture_of_experts<H, F, E, Act>;
    auto moe = std::make_unique<moe_t>();
    randomize(*moe, seed);
    for (index_t n : {0, 1, 7, 33}) {
        tensor<float, shape<dyn, H>> x(n), y0(n);
        fill_uniform(x.data(), x.size(), -1.f, 1.f, seed + 10 + static_cast<std::uint32_t>(n));
        fill_uniform(y0.data(), y0.size(), -1.f, 1.f, seed + 20 + static_cast<std::uint32_t>(n));
        typename moe_t::workspace ws(n);
        for (router_order order :
             {router_order::softmax_then_top_k, router_order::top_k_then_softmax}) {
            for (bool normalize : {true, false}) {
                for (bool accumulate : {false, true}) {
                    CAPTURE(n);
                    CAPTURE(static_cast<int>(order));
                    CAPTURE(normalize);
                    CAPTURE(accumulate);
                    moe->routing = {top_k, order, normalize};
                    auto y = y0;
                    moe->forward(std::as_const(x).view(), y.view(), accumulate, ws);
                    check_against(y, reference_moe(*moe, x, y0, accumulate, Act));
                    index_t routed = 0;
                    for (index_t e = 0; e < E; ++e) {
                        routed += ws.expert_load(e);
                    }
                    CHECK(routed == n * top_k);
                }
            }
        }
    }
}

template <index_t H, index_t F, index_t E, activation Act>
void check_sizes(std::uint32_t seed) {
    for (index_t k = 1; k <= E; ++k) {
        CAPTURE(k);
        check_block<H, F, E, Act>(k, seed);
    }
}

/// Records the names and extents a module's `visit_parameters` reports.
struct recorder {
    std::vector<std::pair<std::string, std::vector<index_t>>> seen;
    template <class T, class S>
    void parameter(const std::string& name, tensor_view<T, S> v) {
        std::vector<index_t> extents;
        for (index_t d = 0; d < S::rank; ++d) {
            extents.push_back(v.extent(d));
        }
        seen.emplace_back(name, extents);
    }
};

} // namespace

TEST_CASE("top_k_indices keeps the largest, ties to the lower index") {
    const float v[] = {1.f, 3.f, 3.f, 2.f, 3.f, -1.f};
    index_t chosen[6] = {};
    ctt::detail::top_k_indices(v, 6, 3, chosen);
    CHECK(chosen[0] == 1);
    CHECK(chosen[1] == 2);
    CHECK(chosen[2] == 4);
    ctt::detail::top_k_indices(v, 6, 4, chosen);
    CHECK(chosen[3] == 3);
    ctt::detail::top_k_indices(v, 6, 6, chosen);
    CHECK(chosen[4] == 0);
    CHECK(chosen[5] == 5);
    ctt::detail::top_k_indices(v, 6, 1, chosen);
    CHECK(chosen[0] == 1);
}

TEST_CASE("mixture_of_experts matches the dense double-precision twin") {
    SUBCASE("H=24 F=40 E=5, SiLU") {
        check_block<24, 40, 5, activation::silu>(2, 1);
    }
    SUBCASE("H=24 F=40 E=5, tanh GELU") {
        check_block<24, 40, 5, activation::gelu_tanh>(2, 2);
    }
    SUBCASE("H=16 F=8 E=4, every k, SiLU") {
        check_sizes<16, 8, 4, activation::silu>(3);
    }
    SUBCASE("H=16 F=8 E=4, every k, tanh GELU") {
        check_sizes<16, 8, 4, activation::gelu_tanh>(4);
    }
    SUBCASE("H=33 F=17 E=3, k=3, SiLU") {
        check_block<33, 17, 3, activation::silu>(3, 5);
    }
    SUBCASE("H=33 F=17 E=3, k=3, tanh GELU") {
        check_block<33, 17, 3, activation::gelu_tanh>(3, 6);
    }
    SUBCASE("H=40 F=72 E=1, k=1: a plain gated FFN") {
        check_block<40, 72, 1, activation::silu>(1, 7);
    }
}

TEST_CASE("equal router scores go to the lower experts") {
    using moe_t = ctt::mixture_of_experts<16, 8, 5, activation::silu>;
    auto moe = std::make_unique<moe_t>();
    randomize(*moe, 11);
    moe->router.weight.fill(0.f); // every probability is exactly 1/5
    tensor<float, shape<dyn, 16>> x(7), y(7);
    fill_uniform(x.data(), x.size(), -1.f, 1.f, 12);
    moe_t::workspace ws(7);
    for (bool normalize : {true, false}) {
        moe->routing = {2, router_order::softmax_then_top_k, normalize};
        moe->forward(std::as_const(x).view(), y.view(), false, ws);
        CHECK(ws.expert_load(0) == 7);
        CHECK(ws.expert_load(1) == 7);
        CHECK(ws.expert_load(2) == 0);
        check_against(y, reference_moe(*moe, x, y, false, activation::silu));
    }
}

TEST_CASE("a token's result does not depend on the rest of the batch") {
    using moe_t = ctt::mixture_of_experts<24, 40, 5, activation::silu>;
    auto moe = std::make_unique<moe_t>();
    randomize(*moe, 21);
    constexpr index_t n = 64; // about 26 rows per expert: full and partial GEMM micro-tiles
    tensor<float, shape<dyn, 24>> x(n), all(n), one(n), reversed_x(n), reversed(n);
    fill_uniform(x.data(), x.size(), -1.f, 1.f, 22);
    for (index_t t = 0; t < n; ++t) {
        std::copy_n(x.data() + t * 24, 24, reversed_x.data() + (n - 1 - t) * 24);
    }
    for (router_order order :
         {router_order::softmax_then_top_k, router_order::top_k_then_softmax}) {
        CAPTURE(static_cast<int>(order));
        moe->routing = {2, order, true};
        moe_t::workspace ws(n);
        moe->forward(std::as_const(x).view(), all.view(), false, ws);
        moe->forward(std::as_const(reversed_x).view(), reversed.view(), false, ws);
        moe_t::workspace ws1(1);
        for (index_t t = 0; t < n; ++t) {
            moe->forward(std::as_const(x).view().rows(t, 1), one.view().rows(t, 1), false, ws1);
        }
        // Batched tokens go through the packed GEMM, a lone token through the GEMV, which sum
        // in different orders: equal to rounding.
        double worst = 0, scale = 0;
        for (index_t i = 0; i < all.size(); ++i) {
            worst = std::max(worst, static_cast<double>(std::abs(all.data()[i] - one.data()[i])));
            scale = std::max(scale, static_cast<double>(std::abs(all.data()[i])));
        }
        CHECK(worst <= 1e-6 * scale);
        // The same tokens in another order: each expert sees the same rows in other
        // positions of its block, which the packed GEMM computes alike, bit for bit.
        bool identical = true;
        for (index_t t = 0; t < n; ++t) {
            identical =
                identical && std::memcmp(all.data() + t * 24, reversed.data() + (n - 1 - t) * 24,
                                         24 * sizeof(float)) == 0;
        }
        CHECK(identical);
    }
}

TEST_CASE("mixture_of_experts gives the same bits on 1 and 2 threads") {
    using moe_t = ctt::mixture_of_experts<128, 256, 4, activation::silu>;
    auto moe = std::make_unique<moe_t>();
    randomize(*moe, 31);
    constexpr index_t n = 96; // about 48 rows per expert: the GEMMs split over threads
    tensor<float, shape<dyn, 128>> x(n), y1(n), y2(n);
    fill_uniform(x.data(), x.size(), -1.f, 1.f, 32);
    moe_t::workspace ws(n);
    const int saved = ctt::simd::max_threads();
    ctt::simd::set_num_threads(1);
    moe->forward(std::as_const(x).view(), y1.view(), false, ws);
    ctt::simd::set_num_threads(2);
    moe->forward(std::as_const(x).view(), y2.view(), false, ws);
    ctt::simd::set_num_threads(saved);
    CHECK(std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float)) == 0);
}

TEST_CASE("mixture_of_experts rejects a bad top_k, workspace or shape") {
    using moe_t = ctt::mixture_of_experts<16, 8, 4, activation::silu>;
    auto moe = std::make_unique<moe_t>();
    tensor<float, shape<dyn, 16>> x(3), y(3);
    moe_t::workspace ws(3);
    moe->routing.top_k = 0;
    CHECK_THROWS_WITH_AS(moe->forward(std::as_const(x).view(), y.view(), false, ws),
                         "mixture_of_experts: top_k is 0, outside [1, 4]", ctt::value_error);
    moe->routing.top_k = 5;
    CHECK_THROWS_WITH_AS(moe->forward(std::as_const(x).view(), y.view(), false, ws),
                         "mixture_of_experts: top_k is 5, outside [1, 4]", ctt::value_error);
    // Checked even when there is nothing to route.
    CHECK_THROWS_AS(
        moe->forward(std::as_const(x).view().rows(0, 0), y.view().rows(0, 0), false, ws),
        ctt::value_error);
    moe->routing.top_k = 4;
    moe_t::workspace small(2);
    CHECK_THROWS_WITH_AS(moe->forward(std::as_const(x).view(), y.view(), false, small),
                         "mixture_of_experts: token count and workspace rows differ (3 != 2)",
                         ctt::shape_error);
    CHECK_THROWS_WITH_AS(moe->forward(std::as_const(x).view(), y.view().rows(0, 2), false, ws),
                         "mixture_of_experts: input and output rows differ (3 != 2)",
                         ctt::shape_error);
    tensor<float, shape<dyn, dyn>> wide(3, 17);
    CHECK_THROWS_WITH_AS(moe->forward(std::as_const(wide).view(), y.view(), false, ws),
                         "mixture_of_experts: input width and hidden size differ (17 != 16)",
                         ctt::shape_error);
    CHECK_THROWS_WITH_AS(moe->forward(std::as_const(x).view(), wide.view(), false, ws),
                         "mixture_of_experts: output width and hidden size differ (17 != 16)",
                         ctt::shape_error);
}

TEST_CASE("mixture_of_experts names its parameters as HF transformers v5") {
    auto moe = std::make_unique<ctt::mixture_of_experts<16, 8, 4, activation::silu>>();
    recorder r;
    moe->visit_parameters(r, "model.layers.0.mlp.");
    REQUIRE(r.seen.size() == 3);
    CHECK(r.seen[0].first == "model.layers.0.mlp.gate.weight");
    CHECK(r.seen[0].second == std::vector<index_t>{4, 16});
    CHECK(r.seen[1].first == "model.layers.0.mlp.experts.gate_up_proj");
    CHECK(r.seen[1].second == std::vector<index_t>{4, 16, 16});
    CHECK(r.seen[2].first == "model.layers.0.mlp.experts.down_proj");
    CHECK(r.seen[2].second == std::vector<index_t>{4, 16, 8});
}
