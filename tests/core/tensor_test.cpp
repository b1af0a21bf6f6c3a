#include <ctt/core/tensor.hpp>

#include <doctest/doctest.h>

#include <cstdint>

using ctt::dyn;
using ctt::shape;
using ctt::tensor;
using ctt::tensor_view;

TEST_CASE("shape stores only runtime extents") {
    static_assert(sizeof(shape<3, 4>) == 1 || std::is_empty_v<shape<3, 4>>);
    static_assert(sizeof(shape<dyn, 768>) == sizeof(ctt::index_t));
    static_assert(shape<3, 4>::rank == 2 && shape<3, 4>::rank_dynamic == 0);
    static_assert(shape<dyn, 4, dyn>::rank_dynamic == 2);
    static_assert(shape<3, 4>{}.size() == 12);
    constexpr shape<dyn, 4, dyn> s(5, 7);
    static_assert(s.extent(0) == 5 && s.extent(1) == 4 && s.extent(2) == 7);
    static_assert(s.size() == 140);
    static_assert(shape<dyn, 4>::static_extent<1> == 4);
    CHECK(shape<dyn, 4>::from_extents({9, 4}).extent(0) == 9);
    using rows_of_4 = shape<dyn, 4>;
    CHECK_THROWS_AS((void)rows_of_4::from_extents({9, 5}), ctt::shape_error);
}

TEST_CASE("tensor is zeroed, 64-byte aligned and row-major") {
    tensor<float, shape<dyn, 5>> t(3);
    CHECK(t.rows() == 3);
    CHECK(t.cols() == 5);
    CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
    for (float x : t) {
        CHECK(x == 0.f);
    }
    t(1, 2) = 7.f;
    CHECK(t.data()[1 * 5 + 2] == 7.f);
    CHECK(t[1][2] == 7.f);

    tensor<float, shape<dyn, 5>> copy = t;
    copy(1, 2) = 1.f;
    CHECK(t(1, 2) == 7.f);
    tensor<float, shape<dyn, 5>> moved = std::move(copy);
    CHECK(moved(1, 2) == 1.f);
}

TEST_CASE("views slice rows and column blocks without copying") {
    tensor<float, shape<dyn, 12>> x(4); // 4 tokens, 3 heads of width 4
    for (ctt::index_t i = 0; i < x.size(); ++i) {
        x.data()[i] = static_cast<float>(i);
    }
    auto v = x.view();
    auto head1 = v.cols<4>(4);
    static_assert(std::is_same_v<decltype(head1), tensor_view<float, shape<dyn, 4>>>);
    CHECK(head1.rows() == 4);
    CHECK(head1.row_stride() == 12);
    CHECK(head1(2, 1) == x(2, 5));
    CHECK_FALSE(head1.is_contiguous());

    auto middle = v.rows(1, 2);
    CHECK(middle.rows() == 2);
    CHECK(middle(0, 0) == 12.f);
    auto two = v.rows<2>(2);
    static_assert(decltype(two)::shape_type::is_static);
    CHECK(two(1, 11) == x(3, 11));

    auto row = v.row(3);
    CHECK(row.size() == 12);
    CHECK(row[0] == 36.f);

    tensor_view<const float, shape<dyn, 12>> cv = v;
    CHECK(cv(0, 1) == 1.f);

    CHECK_THROWS_AS((void)v.rows(3, 2), ctt::shape_error);
    CHECK_THROWS_AS((void)v.cols<4>(10), ctt::shape_error);
}

TEST_CASE("as and reshape check extents") {
    tensor<float, shape<dyn, 6>> x(2);
    auto fixed = x.view().as<shape<2, 6>>();
    static_assert(decltype(fixed)::shape_type::is_static);
    CHECK(fixed.size() == 12);
    using three_by_six = shape<3, 6>;
    CHECK_THROWS_AS((void)x.view().as<three_by_six>(), ctt::shape_error);

    auto r = x.view().reshape(shape<3, 4>{});
    CHECK(r.rows() == 3);
    using rows_of_5 = shape<dyn, 5>;
    CHECK_THROWS_AS((void)x.view().reshape(rows_of_5(2)), ctt::shape_error);
    try {
        (void)x.view().reshape(rows_of_5(2));
    } catch (const ctt::shape_error& e) {
        CHECK(std::string(e.what()) == "reshape: element counts differ (12 != 10)");
    }
    CHECK_THROWS_AS((void)x.view().cols(0, 3).reshape(shape<6>{}), ctt::shape_error);
}

TEST_CASE("copy between views") {
    tensor<float, shape<2, 3>> a;
    tensor<float, shape<dyn, 3>> b(2);
    a(1, 2) = 5.f;
    ctt::copy(tensor_view<const float, shape<2, 3>>(a.view()), b.view());
    CHECK(b(1, 2) == 5.f);
    tensor<float, shape<dyn, 3>> c(3);
    using two_by_three = shape<2, 3>;
    CHECK_THROWS_AS(ctt::copy(tensor_view<const float, two_by_three>(a.view()), c.view()),
                    ctt::shape_error);
}
