#include <ctt/kernels/activations.hpp>
#include <ctt/kernels/reference/activations.hpp>

#include "rowwise_test_support.hpp"

#include <cmath>
#include <limits>

using ctt::activation;
using ctt::dyn;
using ctt::shape;
using ctt::tensor;
using ctt_test::check_close;
using ctt_test::odd_widths;
using ctt_test::random_matrix;
namespace ref = ctt::kernels::reference;

namespace {
constexpr activation all_activations[] = {activation::relu, activation::gelu_erf,
                                          activation::gelu_tanh, activation::quick_gelu,
                                          activation::silu};

// Tolerances against the double-precision twin. The smooth activations use simd::exp/erf/tanh
// (1-2 ULP) plus a few float operations; x/2 (1 + erf) and x/2 (1 + tanh) lose relative accuracy
// for negative x where 1 + erf cancels, so the absolute term covers |x| * a few ULP of 1.
constexpr double abs_tol = 1e-6;
constexpr double rel_tol = 2e-6;
} // namespace

TEST_CASE("every activation matches its double-precision twin over odd widths") {
    for (activation a : all_activations) {
        CAPTURE(to_string(a));
        for (ctt::index_t w : odd_widths) {
            CAPTURE(w);
            const auto x = random_matrix(3, w, -8.f, 8.f, 11);
            tensor<float, shape<dyn, dyn>> got(3, w), want(3, w);
            ctt::apply_activation(a, x.view(), got.view());
            ref::apply_activation(a, x.view(), want.view());
            if (a == activation::relu) {
                check_close(got.view(), want.view(), 0, 0);
            } else {
                check_close(got.view(), want.view(), abs_tol, rel_tol);
            }
            auto in_place = x;
            ctt::apply_activation(a, in_place.view());
            check_close(in_place.view(), got.view(), 0, 0);
        }
    }
}

TEST_CASE("named wrappers equal the template and runtime forms") {
    const auto x = random_matrix(4, 33, -6.f, 6.f, 12);
    tensor<float, shape<dyn, dyn>> a(4, 33), b(4, 33);
    ctt::gelu_erf(x.view(), a.view());
    ctt::apply_activation<activation::gelu_erf>(x.view(), b.view());
    check_close(a.view(), b.view(), 0, 0);
    ctt::gelu_tanh(x.view(), a.view());
    ctt::apply_activation(activation::gelu_tanh, x.view(), b.view());
    check_close(a.view(), b.view(), 0, 0);
    ctt::silu(x.view(), a.view());
    ctt::apply_activation<activation::silu>(x.view(), b.view());
    check_close(a.view(), b.view(), 0, 0);
    ctt::quick_gelu(x.view(), a.view());
    ctt::apply_activation<activation::quick_gelu>(x.view(), b.view());
    check_close(a.view(), b.view(), 0, 0);
    auto c = x;
    ctt::relu(c.view());
    for (float v : c) {
        CHECK(v >= 0.f);
    }
}

TEST_CASE("extreme inputs saturate without NaN") {
    constexpr float big = 1e30f;
    tensor<float, shape<6>> x;
    const float values[] = {-big, -100.f, -20.f, 20.f, 100.f, big};
    for (int i = 0; i < 6; ++i) {
        x(i) = values[i];
    }
    for (activation a : all_activations) {
        CAPTURE(to_string(a));
        tensor<float, shape<6>> y;
        ctt::apply_activation(a, x.view(), y.view());
        for (int i = 0; i < 6; ++i) {
            CAPTURE(values[i]);
            CHECK(std::isfinite(y(i)));
            if (values[i] < 0) {
                CHECK(std::abs(y(i)) <= 1e-6f);
            } else {
                CHECK(y(i) == doctest::Approx(values[i]).epsilon(1e-6));
            }
        }
    }
}

TEST_CASE("Hugging Face activation names") {
    CHECK(ctt::activation_from_hf_name("gelu") == activation::gelu_erf);
    CHECK(ctt::activation_from_hf_name("gelu_python") == activation::gelu_erf);
    CHECK(ctt::activation_from_hf_name("gelu_new") == activation::gelu_tanh);
    CHECK(ctt::activation_from_hf_name("gelu_pytorch_tanh") == activation::gelu_tanh);
    CHECK(ctt::activation_from_hf_name("gelu_fast") == activation::gelu_tanh);
    CHECK(ctt::activation_from_hf_name("gelu_accurate") == activation::gelu_tanh);
    CHECK(ctt::activation_from_hf_name("quick_gelu") == activation::quick_gelu);
    CHECK(ctt::activation_from_hf_name("relu") == activation::relu);
    CHECK(ctt::activation_from_hf_name("silu") == activation::silu);
    CHECK(ctt::activation_from_hf_name("swish") == activation::silu);
    CHECK_THROWS_AS((void)ctt::activation_from_hf_name("gelu_10"), ctt::io_error);
    CHECK_THROWS_AS((void)ctt::activation_from_hf_name("mish"), ctt::io_error);
    CHECK(ctt::to_string(activation::quick_gelu) == "quick_gelu");
}

TEST_CASE("an activation is usable as a template argument") {
    static_assert(
        std::is_same_v<decltype(ctt::activate<activation::silu>(ctt::simd::batch<float>(1.f))),
                       ctt::simd::batch<float>>);
    tensor<float, shape<2, 4>> x, y;
    x.fill(1.f);
    CHECK_THROWS_AS(
        (ctt::apply_activation<activation::relu>(x.view(), tensor<float, shape<dyn, 4>>(3).view())),
        ctt::shape_error);
    ctt::apply_activation<activation::silu>(x.view(), y.view());
    CHECK(y(1, 3) == doctest::Approx(1.0 / (1.0 + std::exp(-1.0))).epsilon(1e-6));
}
