// Tests of ctt::conv2d / kernels::conv2d against the scalar twin over odd sizes, strides,
// paddings and dilations, the 1x1 GEMM path, channel-slice outputs, accumulation, thread-count
// invariance and the shape errors.
//
// Tolerance: the kernel sums K = Cin*KH*KW products in fp32 (the twin in double), so the
// error is within K * eps * sum |w x| (Higham, "Accuracy and Stability of Numerical
// Algorithms", section 3.1); the test allows twice that plus the bias and accumulated term.
#include <ctt/core/tensor.hpp>
#include <ctt/kernels/conv2d.hpp>
#include <ctt/kernels/image.hpp>
#include <ctt/kernels/reference/conv2d.hpp>
#include <ctt/simd/parallel.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

using ctt::conv2d_params;
using ctt::dyn;
using ctt::index_t;
using ctt::shape;
using ctt::tensor;
using ctt::tensor_view;
using ctt::kernels::conv2d_geometry;

namespace {

void fill_random(float* p, index_t n, std::uint32_t seed) {
    std::uint32_t s = seed * 2654435761u + 12345u;
    for (index_t i = 0; i < n; ++i) {
        s = s * 1664525u + 1013904223u;
        p[i] = static_cast<float>(s >> 8) / static_cast<float>(1u << 24) * 2.f - 1.f;
    }
}

/// Runs kernels::conv2d and the twin on the same data; returns the number of elements
/// outside the bound.
int check_conv(const conv2d_geometry& g, const conv2d_params& p, bool with_bias,
               index_t out_pad = 0) {
    const index_t oh = g.out_height(p);
    const index_t ow = g.out_width(p);
    const index_t in_stride = g.in_channels * g.height * g.width;
    const index_t out_image = g.out_channels * oh * ow;
    const index_t out_stride = out_image + out_pad;
    const index_t k = g.in_channels * g.kernel_h * g.kernel_w;
    std::vector<float> in(g.batch * in_stride), w(g.out_channels * k), bias(g.out_channels),
        c0(g.batch * out_stride + 1);
    fill_random(in.data(), in.size(), 1);
    fill_random(w.data(), w.size(), 2);
    fill_random(bias.data(), bias.size(), 3);
    fill_random(c0.data(), c0.size(), 4);
    std::vector<float> out = c0, ref = c0;
    const float* b = with_bias ? bias.data() : nullptr;
    ctt::kernels::conv2d(g, p, in.data(), in_stride, w.data(), b, out.data(), out_stride);
    ctt::kernels::reference::conv2d(g, p, in.data(), in_stride, w.data(), b, ref.data(),
                                    out_stride);
    // |w x| summed per output: the twin with absolute values.
    std::vector<float> abs_in(in.size()), abs_w(w.size()), mag(c0.size(), 0.f);
    for (std::size_t i = 0; i < in.size(); ++i) {
        abs_in[i] = std::fabs(in[i]);
    }
    for (std::size_t i = 0; i < w.size(); ++i) {
        abs_w[i] = std::fabs(w[i]);
    }
    conv2d_params pm = p;
    pm.accumulate = false;
    ctt::kernels::reference::conv2d(g, pm, abs_in.data(), in_stride, abs_w.data(), nullptr,
                                    mag.data(), out_stride);
    const float eps = std::numeric_limits<float>::epsilon();
    int failures = 0;
    for (index_t n = 0; n < g.batch; ++n) {
        for (index_t i = 0; i < out_image; ++i) {
            const index_t at = n * out_stride + i;
            const float extra = (with_bias ? 1.f : 0.f) + (p.accumulate ? std::fabs(c0[at]) : 0.f);
            const float bound = 2.f * static_cast<float>(k + 2) * eps * (mag[at] + extra) + 1e-30f;
            if (!(std::fabs(out[at] - ref[at]) <= bound)) {
                if (failures < 5) {
                    MESSAGE("at " << at << ": " << out[at] << " vs " << ref[at]);
                }
                ++failures;
            }
        }
        // The gap between images (a wider concatenation buffer) is left alone.
        for (index_t i = out_image; i < out_stride; ++i) {
            if (out[n * out_stride + i] != c0[n * out_stride + i]) {
                ++failures;
            }
        }
    }
    return failures;
}

} // namespace

TEST_CASE("conv2d matches the scalar twin over odd sizes and geometries") {
    // batch, Cin, H, W, Cout, KH, KW
    const conv2d_geometry geometries[] = {
        {1, 3, 7, 9, 5, 3, 3},     {2, 5, 13, 11, 17, 3, 3}, {1, 1, 1, 1, 1, 1, 1},
        {1, 7, 5, 33, 3, 1, 5},    {1, 4, 19, 6, 29, 5, 2},  {3, 2, 9, 9, 31, 4, 4},
        {1, 13, 17, 37, 15, 3, 3}, {1, 33, 8, 8, 40, 3, 3},  {1, 300, 3, 5, 7, 1, 1},
    };
    const conv2d_params geometries_p[] = {
        conv2d_params::square(1, 0),           conv2d_params::square(1, 1),
        conv2d_params::square(2, 1),           conv2d_params::square(3, 2),
        conv2d_params::square(1, 2, 2),        conv2d_params{2, 1, 0, 3, 1, 2, false},
        conv2d_params{1, 3, 2, 0, 3, 1, false}};
    for (const auto& g : geometries) {
        for (const auto& p : geometries_p) {
            if (g.out_height(p) == 0 || g.out_width(p) == 0) {
                continue;
            }
            for (const bool bias : {false, true}) {
                for (const bool acc : {false, true}) {
                    conv2d_params q = p;
                    q.accumulate = acc;
                    CAPTURE(g.in_channels);
                    CAPTURE(g.height);
                    CAPTURE(g.width);
                    CAPTURE(g.out_channels);
                    CAPTURE(g.kernel_h);
                    CAPTURE(g.kernel_w);
                    CAPTURE(p.stride_h);
                    CAPTURE(p.pad_w);
                    CAPTURE(p.dilation_h);
                    CHECK(check_conv(g, q, bias) == 0);
                }
            }
        }
    }
}

TEST_CASE("conv2d spans several GEMM blocks in k, m and n") {
    // K = 70 * 9 = 630 > kc; Cout 350 > mc; 61 * 59 output pixels > nc.
    CHECK(check_conv({1, 70, 61, 59, 350, 3, 3}, conv2d_params::square(1, 1), true) == 0);
    // The 1x1 path as a GEMM with K > kc and a batch stride wider than an image.
    CHECK(check_conv({2, 300, 9, 13, 21, 1, 1}, conv2d_params::square(1, 0), true, 37) == 0);
    CHECK(check_conv({2, 30, 9, 13, 21, 3, 3}, conv2d_params::square(1, 1), false, 5) == 0);
}

TEST_CASE("conv2d does not depend on the thread count") {
    const conv2d_geometry g{1, 19, 23, 29, 37, 3, 3};
    const auto p = conv2d_params::square(1, 1);
    const index_t in_size = g.in_channels * g.height * g.width;
    const index_t out_size = g.out_channels * g.out_height(p) * g.out_width(p);
    std::vector<float> in(in_size), w(g.out_channels * g.in_channels * 9), bias(g.out_channels);
    fill_random(in.data(), in_size, 5);
    fill_random(w.data(), w.size(), 6);
    fill_random(bias.data(), bias.size(), 7);
    std::vector<float> one(out_size), many(out_size);
    const int threads = ctt::simd::max_threads();
    ctt::simd::set_num_threads(1);
    ctt::kernels::conv2d(g, p, in.data(), in_size, w.data(), bias.data(), one.data(), out_size);
    ctt::simd::set_num_threads(threads > 1 ? threads : 2);
    ctt::kernels::conv2d(g, p, in.data(), in_size, w.data(), bias.data(), many.data(), out_size);
    ctt::simd::set_num_threads(threads);
    CHECK(one == many);
}

TEST_CASE("conv2d on views: static and runtime extents, channel slices, errors") {
    tensor<float, shape<1, 4, 6, 5>> x;
    tensor<float, shape<3, 4, 3, 3>> w;
    tensor<float, shape<3>> b;
    fill_random(x.data(), x.size(), 8);
    fill_random(w.data(), w.size(), 9);
    fill_random(b.data(), b.size(), 10);
    tensor<float, shape<1, 3, 6, 5>> y;
    ctt::conv2d(std::as_const(x).view(), std::as_const(w).view(), std::as_const(b).view(), y.view(),
                conv2d_params::square(1, 1));
    std::vector<float> ref(y.size());
    ctt::kernels::reference::conv2d({1, 4, 6, 5, 3, 3, 3}, conv2d_params::square(1, 1), x.data(),
                                    x.size(), w.data(), b.data(), ref.data(), ref.size());
    for (index_t i = 0; i < y.size(); ++i) {
        CHECK(y.data()[i] == doctest::Approx(ref[i]).epsilon(1e-5));
    }

    // Written straight into channels [2, 5) of a 7-channel buffer.
    tensor<float, shape<1, 7, 6, 5>> cat;
    std::fill_n(cat.data(), cat.size(), -7.f);
    ctt::conv2d(std::as_const(x).view(), std::as_const(w).view(), std::as_const(b).view(),
                ctt::channel_slice(cat.view(), 2, 3), conv2d_params::square(1, 1));
    for (index_t i = 0; i < 30; ++i) {
        CHECK(cat.data()[2 * 30 + i] == y.data()[i]);
        CHECK(cat.data()[i] == -7.f);
        CHECK(cat.data()[5 * 30 + i] == -7.f);
    }

    // Runtime extents, stride 2: a wrong output extent throws with both sizes.
    tensor<float, shape<dyn, dyn, dyn, dyn>> yd(1, 3, 4, 3);
    auto xd = x.view().reshape(shape<dyn, dyn, dyn, dyn>(1, 4, 6, 5));
    CHECK_THROWS_WITH_AS(
        ctt::conv2d(xd, std::as_const(w).view(), yd.view(), conv2d_params::square(2, 1)),
        "conv2d: output height and the convolved height differ (4 != 3)", ctt::shape_error);
    tensor<float, shape<dyn, dyn, dyn, dyn>> yd2(1, 3, 3, 3);
    CHECK_NOTHROW(
        ctt::conv2d(xd, std::as_const(w).view(), yd2.view(), conv2d_params::square(2, 1)));
    tensor<float, shape<dyn, dyn, dyn, dyn>> w5(3, 5, 3, 3);
    CHECK_THROWS_AS(ctt::conv2d(xd, w5.view(), yd2.view(), conv2d_params::square(2, 1)),
                    ctt::shape_error);
}
