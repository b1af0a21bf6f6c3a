#include <ctt/position/bias_tensor.hpp>

#include <doctest/doctest.h>

#include <vector>

#include <ctt/core/tensor.hpp>

using ctt::dyn;
using ctt::index_t;
using ctt::shape;
using ctt::tensor;

TEST_CASE("per-head [H, Lq, Lk] bias: row i is query position q_offset + i") {
    const index_t heads = 3;
    const index_t lq = 4;
    const index_t lk = 19;
    tensor<float, shape<3, dyn, dyn>> b(lq, lk);
    for (index_t i = 0; i < b.size(); ++i) {
        b.data()[i] = static_cast<float>(i) * 0.5f;
    }
    const ctt::bias_tensor bias(b.view()); // q_offset = Lk - Lq = 15
    CHECK(bias.q_offset() == 15);
    for (index_t h = 0; h < heads; ++h) {
        for (index_t i = 0; i < lq; ++i) {
            std::vector<float> row(lk - 2, 1.0f);
            bias.add(h, 15 + i, 2, lk - 2, row.data());
            for (index_t t = 0; t < lk - 2; ++t) {
                CHECK(row[t] == 1.0f + b(h, i, 2 + t));
            }
        }
    }
    CHECK_THROWS_AS(bias.add(3, 15, 0, 1, std::vector<float>(1).data()), ctt::shape_error);
    CHECK_THROWS_AS(bias.add(0, 14, 0, 1, std::vector<float>(1).data()), ctt::shape_error);
    CHECK_THROWS_AS(bias.add(0, 15, 10, 10, std::vector<float>(10).data()), ctt::shape_error);
}

TEST_CASE("[Lq, Lk] and [1, Lq, Lk] biases broadcast over heads; explicit q_offset") {
    tensor<float, shape<dyn, dyn>> b(5, 5);
    for (index_t i = 0; i < b.size(); ++i) {
        b.data()[i] = static_cast<float>(i);
    }
    const ctt::bias_tensor shared(b.view());
    const ctt::bias_tensor shared3(b.view().reshape(shape<1, dyn, dyn>(5, 5)), 0);
    for (index_t h : {0u, 7u}) {
        std::vector<float> row(5, 0.0f);
        std::vector<float> row3(5, 0.0f);
        shared.add(h, 3, 0, 5, row.data());
        shared3.add(h, 3, 0, 5, row3.data());
        for (index_t t = 0; t < 5; ++t) {
            CHECK(row[t] == b(3, t));
            CHECK(row3[t] == b(3, t));
        }
    }
    // A strided column block of a wider matrix, queries at positions 10..14.
    tensor<float, shape<dyn, dyn>> wide(5, 40);
    for (index_t i = 0; i < wide.size(); ++i) {
        wide.data()[i] = static_cast<float>(i);
    }
    const ctt::bias_tensor block(wide.view().cols(3, 33), 10);
    std::vector<float> row(30, 0.0f);
    block.add(0, 12, 1, 30, row.data());
    for (index_t t = 0; t < 30; ++t) {
        CHECK(row[t] == wide(2, 3 + 1 + t));
    }
}
