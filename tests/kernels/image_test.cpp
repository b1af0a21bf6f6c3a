// Tests of ctt::upsample_nearest2x, channel_slice and concat_channels against the scalar
// twins over odd sizes (the vector body and its scalar tail), and their shape errors.
#include <ctt/core/tensor.hpp>
#include <ctt/kernels/image.hpp>
#include <ctt/kernels/reference/image.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

using ctt::dyn;
using ctt::index_t;
using ctt::shape;
using ctt::tensor;

namespace {

void fill_random(float* p, index_t n, std::uint32_t seed) {
    std::uint32_t s = seed * 2654435761u + 12345u;
    for (index_t i = 0; i < n; ++i) {
        s = s * 1664525u + 1013904223u;
        p[i] = static_cast<float>(s >> 8) / static_cast<float>(1u << 24) * 2.f - 1.f;
    }
}

} // namespace

TEST_CASE("upsample_nearest2x matches the twin over odd sizes") {
    struct size {
        index_t batch, channels, h, w;
    };
    for (const auto& s : {size{1, 1, 1, 1}, size{2, 3, 5, 7}, size{1, 4, 3, 16}, size{3, 2, 9, 33},
                          size{1, 64, 32, 32}, size{1, 5, 1, 47}}) {
        CAPTURE(s.w);
        tensor<float, shape<dyn, dyn, dyn, dyn>> x(s.batch, s.channels, s.h, s.w),
            y(s.batch, s.channels, 2 * s.h, 2 * s.w);
        fill_random(x.data(), x.size(), 1);
        std::vector<float> ref(y.size());
        ctt::upsample_nearest2x(std::as_const(x).view(), y.view());
        ctt::kernels::reference::upsample_nearest2x(s.batch, s.channels, s.h, s.w, x.data(),
                                                    s.channels * s.h * s.w, ref.data(),
                                                    4 * s.channels * s.h * s.w);
        CHECK(std::equal(ref.begin(), ref.end(), y.data()));
    }
    tensor<float, shape<1, 2, 3, 4>> x;
    tensor<float, shape<dyn, dyn, dyn, dyn>> bad(1, 2, 6, 7);
    CHECK_THROWS_WITH_AS(ctt::upsample_nearest2x(std::as_const(x).view(), bad.view()),
                         "upsample_nearest2x: output extents and twice the input's differ (8 != 7)",
                         ctt::shape_error);
}

TEST_CASE("concat_channels copies, or skips operands already in place") {
    tensor<float, shape<dyn, dyn, dyn, dyn>> a(2, 3, 5, 7), b(2, 4, 5, 7), out(2, 7, 5, 7);
    fill_random(a.data(), a.size(), 2);
    fill_random(b.data(), b.size(), 3);
    std::vector<float> ref(out.size());
    ctt::kernels::reference::concat_channels(2, 3, 4, 35, a.data(), b.data(), ref.data());
    ctt::concat_channels(std::as_const(a).view(), std::as_const(b).view(), out.view());
    CHECK(std::equal(ref.begin(), ref.end(), out.data()));

    // The producer of `a` wrote straight into channels [0, 3) of the destination: only `b`
    // is copied, and the result is the same.
    tensor<float, shape<dyn, dyn, dyn, dyn>> dst(2, 7, 5, 7);
    auto front = ctt::channel_slice(dst.view(), 0, 3);
    CHECK(front.extent(1) == 3);
    CHECK(front.stride(0) == 7 * 35);
    for (index_t n = 0; n < 2; ++n) {
        std::copy_n(a.data() + n * 105, 105, front.data() + n * front.stride(0));
    }
    ctt::concat_channels(ctt::tensor_view<const float, decltype(front)::shape_type>(front),
                         std::as_const(b).view(), dst.view());
    CHECK(std::equal(ref.begin(), ref.end(), dst.data()));

    tensor<float, shape<dyn, dyn, dyn, dyn>> wrong(2, 8, 5, 7);
    CHECK_THROWS_WITH_AS(
        ctt::concat_channels(std::as_const(a).view(), std::as_const(b).view(), wrong.view()),
        "concat_channels: output channels and the sum of the inputs' differ (7 != 8)",
        ctt::shape_error);
    CHECK_THROWS_AS((void)ctt::channel_slice(dst.view(), 5, 3), ctt::shape_error);
}
