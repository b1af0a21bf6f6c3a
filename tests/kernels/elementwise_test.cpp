#include <ctt/kernels/elementwise.hpp>
#include <ctt/kernels/reference/elementwise.hpp>

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

// Elementwise float operations are exactly rounded, so the kernels must match the scalar twins
// bit for bit (tolerance 0).
TEST_CASE("add, add_inplace, multiply and scale match the scalar twins exactly") {
    for (ctt::index_t w : odd_widths) {
        CAPTURE(w);
        const auto a = random_matrix(3, w, -4.f, 4.f, 1);
        const auto b = random_matrix(3, w, -4.f, 4.f, 2);
        tensor<float, shape<dyn, dyn>> got(3, w), want(3, w);

        ctt::add(a.view(), b.view(), got.view());
        ref::add(a.view(), b.view(), want.view());
        check_close(got.view(), want.view(), 0, 0);

        auto x = a;
        ctt::add_inplace(x.view(), b.view());
        check_close(x.view(), want.view(), 0, 0);

        ctt::multiply(a.view(), b.view(), got.view());
        ref::multiply(a.view(), b.view(), want.view());
        check_close(got.view(), want.view(), 0, 0);

        ctt::scale(a.view(), -0.37f, got.view());
        ref::scale(a.view(), -0.37f, want.view());
        check_close(got.view(), want.view(), 0, 0);
        x = a;
        ctt::scale(x.view(), -0.37f);
        check_close(x.view(), want.view(), 0, 0);
    }
}

TEST_CASE("add_bias broadcasts one row over all rows") {
    for (ctt::index_t w : odd_widths) {
        CAPTURE(w);
        const auto x = random_matrix(5, w, -4.f, 4.f, 3);
        const auto bias = random_matrix(1, w, -1.f, 1.f, 4);
        const tensor_view<const float, shape<dyn>> bias_row(bias.data(), shape<dyn>(w));
        tensor<float, shape<dyn, dyn>> got(5, w), want(5, w);
        ctt::add_bias(x.view(), bias_row, got.view());
        ref::add_bias(x.view(), bias_row, want.view());
        check_close(got.view(), want.view(), 0, 0);
        auto y = x;
        ctt::add_bias(y.view(), bias_row);
        check_close(y.view(), want.view(), 0, 0);
    }
}

TEST_CASE("strided views: a column block is updated and its neighbours are not") {
    for (ctt::index_t w : odd_widths) {
        CAPTURE(w);
        auto wide = random_matrix(4, w + 7, -4.f, 4.f, 5);
        const auto before = wide;
        const auto b = random_matrix(4, w, -4.f, 4.f, 6);
        auto block = wide.view().cols(3, w);
        REQUIRE(block.row_stride() == w + 7);
        ctt::add_inplace(block, b.view());
        for (ctt::index_t r = 0; r < 4; ++r) {
            for (ctt::index_t c = 0; c < w + 7; ++c) {
                const bool inside = c >= 3 && c < 3 + w;
                CHECK(wide(r, c) == (inside ? before(r, c) + b(r, c - 3) : before(r, c)));
            }
        }
    }
}

TEST_CASE("static shapes, rank 1 and rank 3 views") {
    tensor<float, shape<4, 8>> a, b, out;
    for (ctt::index_t i = 0; i < a.size(); ++i) {
        a.data()[i] = static_cast<float>(i);
        b.data()[i] = 0.5f;
    }
    ctt::add(a.view(), b.view(), out.view());
    CHECK(out(3, 7) == 31.5f);

    tensor<float, shape<5>> v, bias;
    v.fill(1.f);
    bias.fill(2.f);
    ctt::add_inplace(v.view(), bias.view());
    CHECK(v(4) == 3.f);

    tensor<float, shape<2, 3, 5>> t, u;
    t.fill(1.f);
    u.fill(4.f);
    ctt::multiply(t.view(), u.view(), t.view());
    CHECK(t(1, 2, 4) == 4.f);
    tensor<float, shape<5>> row;
    row.fill(-1.f);
    ctt::add_bias(t.view(), row.view());
    CHECK(t(1, 2, 4) == 3.f);
}

TEST_CASE("runtime extent mismatches throw shape_error with the add message") {
    tensor<float, shape<dyn, 8>> a(4), b(3), out(4);
    try {
        ctt::add(a.view(), b.view(), out.view());
        FAIL("no exception");
    } catch (const ctt::shape_error& e) {
        CHECK(std::string(e.what()) == "add: operand extents differ (4 != 3)");
    }
    tensor<float, shape<dyn>> bias(7);
    CHECK_THROWS_WITH_AS(ctt::add_bias(a.view(), bias.view()),
                         "add: bias length and row width differ (7 != 8)", ctt::shape_error);
    tensor<float, shape<dyn, 8>> c(3);
    CHECK_THROWS_AS(ctt::multiply(a.view(), c.view(), out.view()), ctt::shape_error);
}
