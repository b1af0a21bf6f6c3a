#include <ctt/kernels/norms.hpp>
#include <ctt/kernels/reference/norms.hpp>

#include "rowwise_test_support.hpp"

#include <string>

using ctt::dyn;
using ctt::shape;
using ctt::tensor;
using ctt::tensor_view;
using ctt_test::check_close;
using ctt_test::odd_widths;
using ctt_test::random_matrix;
namespace ref = ctt::kernels::reference;

namespace {
// Float statistics (four-way vector partial sums) against double ones: outputs are O(|gamma|
// * 4), and the float mean/variance carry a relative error of about sqrt(n) ULP.
constexpr double abs_tol = 2e-5;
constexpr double rel_tol = 2e-5;

tensor_view<const float, shape<dyn>> as_row(const ctt::tensor<float, shape<dyn, dyn>>& t) {
    return {t.data(), shape<dyn>(t.cols())};
}
} // namespace

TEST_CASE("layer_norm (with and without bias) matches the double twin over odd widths") {
    for (ctt::index_t w : odd_widths) {
        CAPTURE(w);
        // An offset mean checks that the variance is taken around the mean.
        const auto x = random_matrix(4, w, 6.f, 14.f, 41);
        const auto gamma = random_matrix(1, w, 0.5f, 1.5f, 42);
        const auto beta = random_matrix(1, w, -1.f, 1.f, 43);
        tensor<float, shape<dyn, dyn>> got(4, w), want(4, w);

        ctt::layer_norm(x.view(), as_row(gamma), as_row(beta), 1e-5f, got.view());
        ref::layer_norm(x.view(), as_row(gamma), as_row(beta), 1e-5f, want.view());
        check_close(got.view(), want.view(), abs_tol, rel_tol);

        ctt::layer_norm(x.view(), as_row(gamma), 1e-12f, got.view());
        ref::layer_norm(x.view(), as_row(gamma), 1e-12f, want.view());
        check_close(got.view(), want.view(), abs_tol, rel_tol);

        auto in_place = x;
        ctt::layer_norm(in_place.view(), as_row(gamma), 1e-12f, in_place.view());
        check_close(in_place.view(), got.view(), 0, 0);
    }
}

TEST_CASE("rms_norm matches the double twin over odd widths") {
    for (ctt::index_t w : odd_widths) {
        CAPTURE(w);
        const auto x = random_matrix(4, w, -3.f, 5.f, 44);
        const auto gamma = random_matrix(1, w, -1.5f, 1.5f, 45);
        tensor<float, shape<dyn, dyn>> got(4, w), want(4, w);
        ctt::rms_norm(x.view(), as_row(gamma), 1e-6f, got.view());
        ref::rms_norm(x.view(), as_row(gamma), 1e-6f, want.view());
        check_close(got.view(), want.view(), abs_tol, rel_tol);
    }
}

TEST_CASE("normalised rows have zero mean and unit variance; strided and static views") {
    tensor<float, shape<dyn, 40>> wide(3);
    for (ctt::index_t i = 0; i < wide.size(); ++i) {
        wide.data()[i] = static_cast<float>((i * 37) % 23) - 5.f;
    }
    auto block = wide.view().cols<33>(4); // rows of 33 floats, row stride 40
    tensor<float, shape<33>> ones, zeros;
    ones.fill(1.f);
    tensor<float, shape<dyn, 33>> y(3);
    ctt::layer_norm(block, ones.view(), zeros.view(), 0.f, y.view());
    for (ctt::index_t r = 0; r < 3; ++r) {
        double mean = 0, sq = 0;
        for (ctt::index_t c = 0; c < 33; ++c) {
            mean += y(r, c);
            sq += static_cast<double>(y(r, c)) * y(r, c);
        }
        CHECK(mean / 33 == doctest::Approx(0.0).epsilon(1e-6).scale(1.0));
        CHECK(sq / 33 == doctest::Approx(1.0).epsilon(1e-5));
    }
    // Rank 1.
    tensor<float, shape<4>> v, g, out;
    v(0) = 1.f, v(1) = 2.f, v(2) = 3.f, v(3) = 4.f;
    g.fill(2.f);
    ctt::rms_norm(v.view(), g.view(), 0.f, out.view());
    CHECK(out(3) == doctest::Approx(2.0 * 4.0 / std::sqrt(7.5)).epsilon(1e-6));
}

TEST_CASE("runtime width mismatches throw shape_error with the norm message") {
    tensor<float, shape<dyn, dyn>> x(2, 768), y(2, 768);
    tensor<float, shape<dyn>> w(512);
    try {
        ctt::rms_norm(x.view(), w.view(), 1e-6f, y.view());
        FAIL("no exception");
    } catch (const ctt::shape_error& e) {
        CHECK(std::string(e.what()) == "norm: row width and weight length differ (768 != 512)");
    }
    tensor<float, shape<dyn>> w768(768);
    tensor<float, shape<dyn, dyn>> y3(3, 768);
    CHECK_THROWS_AS(ctt::layer_norm(x.view(), w768.view(), 1e-5f, y3.view()), ctt::shape_error);
    CHECK_THROWS_AS(ctt::layer_norm(x.view(), w768.view(), w.view(), 1e-5f, y.view()),
                    ctt::shape_error);
}
