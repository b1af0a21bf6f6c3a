// residual_layer with every norm placement, over LayerNorm (with and without bias) and RMSNorm
// at odd widths, against a scalar computation in double of the formula each placement names.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ctt/blocks/norm.hpp"

namespace {

using ctt::dyn;
using ctt::index_t;
using ctt::norm_placement;
using matrix = std::vector<std::vector<double>>;

/// Rows of the input: a different mean per row, so LayerNorm's centring matters.
template <index_t H>
matrix make_input(index_t rows) {
    matrix x(rows, std::vector<double>(H));
    for (index_t r = 0; r < rows; ++r) {
        for (index_t c = 0; c < H; ++c) {
            x[r][c] = static_cast<float>(2.0 * std::cos(0.7 * double(r) + 0.31 * double(c)) +
                                         0.5 * double(r) - 0.25);
        }
    }
    return x;
}

/// The weight of a sub-layer's linear map, `[H, H]`; `seed` keeps the two sub-layers apart.
template <index_t H>
matrix make_map(double seed) {
    matrix w(H, std::vector<double>(H));
    for (index_t o = 0; o < H; ++o) {
        for (index_t i = 0; i < H; ++i) {
            w[o][i] = static_cast<float>(
                std::sin(seed + 0.37 * double(o) + 0.11 * double(i) * (1.0 + seed)) /
                std::sqrt(double(H)));
        }
    }
    return w;
}

/// A sub-layer `f(in) = in W^T` with the `(in, out, accumulate)` signature of residual_layer.
/// It reads all of `in` before writing `out`, as `post` hands it the same rows for both.
template <index_t H>
struct linear_map {
    const matrix* w;
    int* calls;

    template <class In, class Out>
    void operator()(In in, Out out, bool accumulate) const {
        ++*calls;
        REQUIRE(in.rows() == out.rows());
        std::vector<float> y(H);
        for (index_t r = 0; r < in.rows(); ++r) {
            for (index_t o = 0; o < H; ++o) {
                double s = 0;
                for (index_t i = 0; i < H; ++i) {
                    s += (*w)[o][i] * double(in(r, i));
                }
                y[o] = static_cast<float>(s);
            }
            for (index_t o = 0; o < H; ++o) {
                out(r, o) = accumulate ? out(r, o) + y[o] : y[o];
            }
        }
    }
};

std::vector<double> apply_map(const matrix& w, const std::vector<double>& x) {
    std::vector<double> y(w.size(), 0.0);
    for (std::size_t o = 0; o < w.size(); ++o) {
        for (std::size_t i = 0; i < x.size(); ++i) {
            y[o] += w[o][i] * x[i];
        }
    }
    return y;
}

std::vector<double> plus(std::vector<double> a, const std::vector<double>& b) {
    for (std::size_t i = 0; i < a.size(); ++i) {
        a[i] += b[i];
    }
    return a;
}

/// Distinct weights (and biases) per norm instance, so that one norm standing in for another
/// shows in the output.
template <index_t H, bool Bias>
void init_norm(ctt::layer_norm_block<H, Bias>& n, double seed) {
    for (index_t i = 0; i < H; ++i) {
        n.weight[i] = static_cast<float>(1.0 + 0.3 * std::sin(seed + 0.5 * double(i)));
        if constexpr (Bias) {
            n.bias[i] = static_cast<float>(0.2 * std::cos(seed * 1.7 + 0.9 * double(i)));
        }
    }
}
template <index_t H>
void init_norm(ctt::rms_norm_block<H>& n, double seed) {
    for (index_t i = 0; i < H; ++i) {
        n.weight[i] = static_cast<float>(1.0 + 0.3 * std::sin(seed + 0.5 * double(i)));
    }
}

template <index_t H, bool Bias>
std::vector<double> reference_norm(const ctt::layer_norm_block<H, Bias>& n,
                                   const std::vector<double>& x) {
    double mean = 0;
    for (double v : x) {
        mean += v;
    }
    mean /= double(H);
    double var = 0;
    for (double v : x) {
        var += (v - mean) * (v - mean);
    }
    var /= double(H);
    std::vector<double> y(H);
    for (index_t i = 0; i < H; ++i) {
        y[i] = (x[i] - mean) / std::sqrt(var + double(n.eps)) * double(n.weight[i]);
        if constexpr (Bias) {
            y[i] += double(n.bias[i]);
        }
    }
    return y;
}
template <index_t H>
std::vector<double> reference_norm(const ctt::rms_norm_block<H>& n, const std::vector<double>& x) {
    double mean_square = 0;
    for (double v : x) {
        mean_square += v * v;
    }
    mean_square /= double(H);
    std::vector<double> y(H);
    for (index_t i = 0; i < H; ++i) {
        y[i] = x[i] / std::sqrt(mean_square + double(n.eps)) * double(n.weight[i]);
    }
    return y;
}

/// One row through the formula of `Layer::placement`, as the enum's comments write it.
template <class Layer>
std::vector<double> reference_layer(const Layer& layer, const matrix& attend,
                                    const matrix& feed_forward, std::vector<double> x) {
    constexpr norm_placement p = Layer::placement;
    auto attn = [&](const std::vector<double>& v) { return apply_map(attend, v); };
    auto ffn = [&](const std::vector<double>& v) { return apply_map(feed_forward, v); };
    if constexpr (p == norm_placement::post) {
        x = reference_norm(layer.norm1, plus(x, attn(x)));
        return reference_norm(layer.norm2, plus(x, ffn(x)));
    } else if constexpr (p == norm_placement::pre) {
        x = plus(x, attn(reference_norm(layer.norm1, x)));
        return plus(x, ffn(reference_norm(layer.norm2, x)));
    } else if constexpr (p == norm_placement::parallel) {
        const auto n1 = reference_norm(layer.norm1, x);
        if constexpr (Layer::has_second_norm) {
            return plus(plus(x, attn(n1)), ffn(reference_norm(layer.norm2, x)));
        } else {
            return plus(plus(x, attn(n1)), ffn(n1));
        }
    } else {
        x = plus(x, reference_norm(layer.norm1_out, attn(reference_norm(layer.norm1, x))));
        return plus(x, reference_norm(layer.norm2_out, ffn(reference_norm(layer.norm2, x))));
    }
}

template <class Layer>
void init_layer(Layer& layer) {
    init_norm(layer.norm1, 0.1);
    if constexpr (Layer::has_second_norm) {
        init_norm(layer.norm2, 1.3);
    }
    if constexpr (Layer::placement == norm_placement::sandwich) {
        init_norm(layer.norm1_out, 2.6);
        init_norm(layer.norm2_out, 3.9);
    }
}

template <norm_placement P, bool Shared = false>
struct placement_tag {
    static constexpr norm_placement placement = P;
    static constexpr bool shared_norm = Shared;
};

template <class Norm, class Tag>
struct case_of {
    using norm = Norm;
    using layer = ctt::residual_layer<Tag::placement, Norm, Tag::shared_norm>;
};

/// Runs `Layer` over `rows` rows of a strided `x` (a column block of a wider tensor) and checks
/// every output against the scalar formula, the sub-layer call counts, the padding columns, and
/// that a placement without a second scratch leaves it alone.
template <class Layer>
void check_layer(index_t rows) {
    constexpr index_t h = Layer::width;
    constexpr index_t pad = 8;
    constexpr float sentinel = 12345.f;
    Layer layer;
    init_layer(layer);
    const matrix attend = make_map<h>(0.4);
    const matrix feed_forward = make_map<h>(1.9);
    const matrix input = make_input<h>(rows);

    ctt::tensor<float, ctt::shape<dyn, h + pad>> wide(rows);
    wide.fill(sentinel);
    auto x = wide.view().template cols<h>(0);
    for (index_t r = 0; r < rows; ++r) {
        for (index_t c = 0; c < h; ++c) {
            x(r, c) = static_cast<float>(input[r][c]);
        }
    }
    ctt::tensor<float, ctt::shape<dyn, h>> scratch(rows);
    ctt::tensor<float, ctt::shape<dyn, h>> scratch2(rows);
    scratch2.fill(sentinel);
    // The scratch views must have the type of each other; a column block of a contiguous
    // tensor has the same type as `x`.
    ctt::tensor<float, ctt::shape<dyn, h + pad>> scratch_wide(rows);
    ctt::tensor<float, ctt::shape<dyn, h + pad>> scratch2_wide(rows);
    scratch2_wide.fill(sentinel);

    int attend_calls = 0;
    int feed_forward_calls = 0;
    layer.forward(x, scratch_wide.view().template cols<h>(0),
                  scratch2_wide.view().template cols<h>(0), linear_map<h>{&attend, &attend_calls},
                  linear_map<h>{&feed_forward, &feed_forward_calls});
    CHECK(attend_calls == 1);
    CHECK(feed_forward_calls == 1);

    float worst = 0;
    for (index_t r = 0; r < rows; ++r) {
        const auto want = reference_layer(layer, attend, feed_forward, input[r]);
        for (index_t c = 0; c < h; ++c) {
            const double err =
                std::abs(double(x(r, c)) - want[c]) / std::max(1.0, std::abs(want[c]));
            worst = std::max(worst, static_cast<float>(err));
        }
        for (index_t c = h; c < h + pad; ++c) {
            CHECK(wide(r, c) == sentinel);
        }
    }
    CHECK(worst <= 2e-5f);

    if constexpr (!Layer::needs_second_scratch) {
        CHECK(std::all_of(scratch2_wide.begin(), scratch2_wide.end(),
                          [](float v) { return v == sentinel; }));
    }

    // The same layer over contiguous buffers of the exact width gives the same numbers.
    ctt::tensor<float, ctt::shape<dyn, h>> y(rows);
    for (index_t r = 0; r < rows; ++r) {
        for (index_t c = 0; c < h; ++c) {
            y(r, c) = static_cast<float>(input[r][c]);
        }
    }
    layer.forward(y.view(), scratch.view(), scratch2.view(), linear_map<h>{&attend, &attend_calls},
                  linear_map<h>{&feed_forward, &feed_forward_calls});
    bool same = true;
    for (index_t r = 0; r < rows; ++r) {
        for (index_t c = 0; c < h; ++c) {
            same = same && y(r, c) == x(r, c);
        }
    }
    CHECK(same);
}

} // namespace

static_assert(
    !ctt::residual_layer<norm_placement::post, ctt::rms_norm_block<24>>::needs_second_scratch);
static_assert(
    !ctt::residual_layer<norm_placement::pre, ctt::rms_norm_block<24>>::needs_second_scratch);
static_assert(!ctt::residual_layer<norm_placement::parallel, ctt::rms_norm_block<24>,
                                   true>::needs_second_scratch);
static_assert(ctt::residual_layer<norm_placement::parallel, ctt::rms_norm_block<24>,
                                  false>::needs_second_scratch);
static_assert(
    ctt::residual_layer<norm_placement::sandwich, ctt::rms_norm_block<24>>::needs_second_scratch);
static_assert(
    !ctt::residual_layer<norm_placement::parallel, ctt::rms_norm_block<24>, true>::has_second_norm);

#define CTT_NORM_CASES(H)                                                                          \
    case_of<ctt::layer_norm_block<H>, placement_tag<norm_placement::post>>,                        \
        case_of<ctt::layer_norm_block<H>, placement_tag<norm_placement::pre>>,                     \
        case_of<ctt::layer_norm_block<H>, placement_tag<norm_placement::parallel, true>>,          \
        case_of<ctt::layer_norm_block<H>, placement_tag<norm_placement::parallel, false>>,         \
        case_of<ctt::layer_norm_block<H>, placement_tag<norm_placement::sandwich>>,                \
        case_of<ctt::layer_norm_block<H, false>, placement_tag<norm_placement::pre>>,              \
        case_of<ctt::layer_norm_block<H, false>, placement_tag<norm_placement::sandwich>>,         \
        case_of<ctt::rms_norm_block<H>, placement_tag<norm_placement::post>>,                      \
        case_of<ctt::rms_norm_block<H>, placement_tag<norm_placement::pre>>,                       \
        case_of<ctt::rms_norm_block<H>, placement_tag<norm_placement::parallel, true>>,            \
        case_of<ctt::rms_norm_block<H>, placement_tag<norm_placement::parallel, false>>,           \
        case_of<ctt::rms_norm_block<H>, placement_tag<norm_placement::sandwich>>

TEST_CASE_TEMPLATE("residual_layer matches its placement's formula", Case, CTT_NORM_CASES(24),
                   CTT_NORM_CASES(40)) {
    using layer = typename Case::layer;
    for (index_t rows : {index_t{1}, index_t{5}}) {
        CAPTURE(rows);
        check_layer<layer>(rows);
    }
}
