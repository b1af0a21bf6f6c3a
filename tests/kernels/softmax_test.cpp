#include <ctt/kernels/reference/softmax.hpp>
#include <ctt/kernels/softmax.hpp>

#include "rowwise_test_support.hpp"

#include <limits>

using ctt::dyn;
using ctt::shape;
using ctt::tensor;
using ctt::tensor_view;
using ctt_test::check_close;
using ctt_test::odd_widths;
using ctt_test::random_matrix;
namespace ref = ctt::kernels::reference;

namespace {
constexpr float neg_inf = -std::numeric_limits<float>::infinity();
// simd::exp is within 1 ULP; the float sum over up to 1000 terms in four vector accumulators
// adds a relative error of a few ULP, shared by the whole row.
constexpr double abs_tol = 1e-8;
constexpr double rel_tol = 4e-6;
} // namespace

TEST_CASE("softmax_rows matches the double twin over odd widths, with and without scale") {
    for (ctt::index_t w : odd_widths) {
        CAPTURE(w);
        const auto x = random_matrix(5, w, -30.f, 30.f, 51);
        tensor<float, shape<dyn, dyn>> got(5, w), want(5, w);
        for (float scale : {1.f, 0.125f, -0.5f}) {
            CAPTURE(scale);
            ctt::softmax_rows(x.view(), got.view(), scale);
            ref::softmax_rows(x.view(), want.view(), scale);
            check_close(got.view(), want.view(), abs_tol, rel_tol);
            auto in_place = x;
            ctt::softmax_rows(in_place.view(), scale);
            check_close(in_place.view(), got.view(), 0, 0);
        }
        for (ctt::index_t r = 0; r < 5; ++r) {
            double sum = 0;
            for (ctt::index_t c = 0; c < w; ++c) {
                sum += got(r, c);
            }
            CHECK(sum == doctest::Approx(1.0).epsilon(1e-5));
        }
    }
}

TEST_CASE("softmax_rows_biased: a shared bias row and a full bias matrix") {
    for (ctt::index_t w : odd_widths) {
        CAPTURE(w);
        const auto x = random_matrix(3, w, -10.f, 10.f, 52);
        auto bias_m = random_matrix(3, w, -5.f, 5.f, 53);
        bias_m(1, w / 2) = neg_inf; // a masked position
        const tensor_view<const float, shape<dyn>> bias_row(bias_m.data(), shape<dyn>(w));
        tensor<float, shape<dyn, dyn>> got(3, w), want(3, w);

        ctt::softmax_rows_biased(x.view(), bias_row, got.view(), 0.5f);
        ref::softmax_rows_biased(x.view(), bias_row, want.view(), 0.5f);
        check_close(got.view(), want.view(), abs_tol, rel_tol);

        ctt::softmax_rows_biased(x.view(), bias_m.view(), got.view(), 0.5f);
        ref::softmax_rows_biased(x.view(), bias_m.view(), want.view(), 0.5f);
        check_close(got.view(), want.view(), abs_tol, rel_tol);
        if (w > 1) {
            CHECK(got(1, w / 2) == 0.f);
        }
        auto in_place = x;
        ctt::softmax_rows_biased(in_place.view(), bias_m.view(), 0.5f);
        check_close(in_place.view(), got.view(), 0, 0);
    }
}

TEST_CASE("masked rows: all -inf gives zeros, partly -inf gives exact zeros there") {
    for (ctt::index_t w : odd_widths) {
        CAPTURE(w);
        tensor<float, shape<dyn, dyn>> x(3, w);
        for (ctt::index_t c = 0; c < w; ++c) {
            x(0, c) = neg_inf;
            x(1, c) = c % 2 == 0 ? 1.f : neg_inf;
            x(2, c) = 1e4f + static_cast<float>(c); // large values: stable by max subtraction
        }
        ctt::softmax_rows(x.view());
        const ctt::index_t kept = (w + 1) / 2;
        for (ctt::index_t c = 0; c < w; ++c) {
            CHECK(x(0, c) == 0.f);
            CHECK(x(1, c) == (c % 2 == 0 ? doctest::Approx(1.0 / static_cast<double>(kept))
                                         : doctest::Approx(0.0)));
            if (c % 2 == 1) {
                CHECK(x(1, c) == 0.f);
            }
            CHECK(std::isfinite(x(2, c)));
        }
        // The largest of 1e4 + c, c < w, gets (1 - 1/e) / (1 - e^-w).
        const double top = (1.0 - std::exp(-1.0)) / (1.0 - std::exp(-static_cast<double>(w)));
        CHECK(x(2, w - 1) == doctest::Approx(top).epsilon(1e-5));
    }
}

TEST_CASE("strided scores (one head of a wider score block) and static shapes") {
    auto wide = random_matrix(4, 50, -5.f, 5.f, 54);
    const auto before = wide;
    auto head = wide.view().cols(10, 33);
    tensor<float, shape<dyn, dyn>> want(4, 33);
    ref::softmax_rows(before.view().cols(10, 33), want.view());
    ctt::softmax_rows(head);
    check_close(head, want.view(), abs_tol, rel_tol);
    CHECK(wide(2, 9) == before(2, 9));
    CHECK(wide(2, 43) == before(2, 43));

    tensor<float, shape<2, 8>> s;
    s.fill(3.f);
    ctt::softmax_rows(s.view());
    CHECK(s(1, 7) == doctest::Approx(0.125));
}

TEST_CASE("shape mismatches throw shape_error") {
    tensor<float, shape<dyn, dyn>> x(2, 8), out(2, 9);
    CHECK_THROWS_AS(ctt::softmax_rows(x.view(), out.view()), ctt::shape_error);
    tensor<float, shape<dyn>> bias(7);
    CHECK_THROWS_WITH_AS(ctt::softmax_rows_biased(x.view(), bias.view()),
                         "softmax: score and bias widths differ (7 != 8)", ctt::shape_error);
}
