#include <ctt/kernels/glu.hpp>
#include <ctt/kernels/reference/glu.hpp>

#include "rowwise_test_support.hpp"

using ctt::activation;
using ctt::dyn;
using ctt::glu_gate_half;
using ctt::shape;
using ctt::tensor;
using ctt_test::check_close;
using ctt_test::odd_widths;
using ctt_test::random_matrix;
namespace ref = ctt::kernels::reference;

namespace {
// act(gate) carries the activation's error (see activations_test); the product with `up`
// (|up| < 4) scales it.
constexpr double abs_tol = 4e-6;
constexpr double rel_tol = 4e-6;

template <activation A>
void check_glu_variant() {
    for (ctt::index_t f : odd_widths) {
        CAPTURE(f);
        const auto gate = random_matrix(3, f, -6.f, 6.f, 21);
        const auto up = random_matrix(3, f, -4.f, 4.f, 22);
        tensor<float, shape<dyn, dyn>> got(3, f), want(3, f);
        ctt::glu<A>(gate.view(), up.view(), got.view());
        ref::glu(A, gate.view(), up.view(), want.view());
        check_close(got.view(), want.view(), abs_tol, rel_tol);

        // Fused [rows, 2F]: both orders of the halves.
        const auto fused = random_matrix(3, 2 * f, -6.f, 6.f, 23);
        for (glu_gate_half half : {glu_gate_half::first, glu_gate_half::second}) {
            ctt::glu<A>(fused.view(), got.view(), half);
            ref::glu(A, fused.view(), want.view(), half);
            check_close(got.view(), want.view(), abs_tol, rel_tol);
        }
    }
}
} // namespace

TEST_CASE("GLU variants match the double-precision twin over odd widths") {
    check_glu_variant<activation::gelu_erf>();
    check_glu_variant<activation::gelu_tanh>();
    check_glu_variant<activation::silu>();
    check_glu_variant<activation::relu>();
}

TEST_CASE("named GLUs and the order of the fused halves") {
    tensor<float, shape<2, 8>> fused;
    for (ctt::index_t c = 0; c < 8; ++c) {
        fused(0, c) = c < 4 ? -1.f : 2.f; // gate half first: relu(-1) * 2 = 0
        fused(1, c) = c < 4 ? 3.f : 2.f;
    }
    tensor<float, shape<2, 4>> out;
    ctt::reglu(fused.view(), out.view());
    CHECK(out(0, 0) == 0.f);
    CHECK(out(1, 0) == 6.f);
    ctt::reglu(fused.view(), out.view(), glu_gate_half::second); // relu(2) * -1
    CHECK(out(0, 0) == -2.f);

    const auto gate = random_matrix(2, 17, -3.f, 3.f, 31);
    const auto up = random_matrix(2, 17, -3.f, 3.f, 32);
    tensor<float, shape<dyn, dyn>> a(2, 17), b(2, 17);
    ctt::swiglu(gate.view(), up.view(), a.view());
    ctt::glu<activation::silu>(gate.view(), up.view(), b.view());
    check_close(a.view(), b.view(), 0, 0);
    ctt::geglu(gate.view(), up.view(), a.view());
    ctt::glu<activation::gelu_erf>(gate.view(), up.view(), b.view());
    check_close(a.view(), b.view(), 0, 0);
    ctt::geglu_tanh(gate.view(), up.view(), a.view());
    ctt::glu<activation::gelu_tanh>(gate.view(), up.view(), b.view());
    check_close(a.view(), b.view(), 0, 0);
    // In place into the gate.
    auto g = gate;
    ctt::swiglu(g.view(), up.view(), g.view());
    ctt::swiglu(gate.view(), up.view(), a.view());
    check_close(g.view(), a.view(), 0, 0);
}

TEST_CASE("GLU width mismatches throw shape_error") {
    tensor<float, shape<dyn, dyn>> gate(2, 8), up(2, 8), out(2, 7), fused(2, 15);
    CHECK_THROWS_WITH_AS(ctt::swiglu(gate.view(), up.view(), out.view()),
                         "glu: gate and output widths differ (8 != 7)", ctt::shape_error);
    CHECK_THROWS_WITH_AS(ctt::swiglu(fused.view(), out.view()),
                         "glu: fused width and twice the output width differ (15 != 14)",
                         ctt::shape_error);
    tensor<float, shape<dyn, dyn>> out3(3, 8);
    CHECK_THROWS_AS(ctt::swiglu(gate.view(), up.view(), out3.view()), ctt::shape_error);
}
