// xl_relative_band_bias (the position term of a block of queries by one GEMM per head) against
// xl_relative_bias (every entry on demand), both forms, for blocks anywhere among the keys and
// both Transformer-XL's and XLNet's first distance.
#include <ctt/position/relative_xl.hpp>
#include <ctt/position/relative_xl_band.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

namespace {

using namespace ctt;

void compare(index_t heads, index_t head_dim, index_t queries, index_t memory, bool xlnet,
             index_t block_begin, index_t block_rows) {
    const index_t width = heads * head_dim;
    const index_t keys = memory + queries;
    const index_t rlen = xlnet ? keys + queries : keys;
    const std::ptrdiff_t first =
        xlnet ? static_cast<std::ptrdiff_t>(keys) : static_cast<std::ptrdiff_t>(keys) - 1;
    std::mt19937 rng(static_cast<unsigned>(queries * 31 + memory));
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> q(queries * width), v(width), r(rlen * width);
    for (auto* t : {&q, &v, &r}) {
        for (auto& x : *t) {
            x = normal(rng);
        }
    }
    const float scale = 0.3f;
    const xl_relative_bias whole(make_matrix_ref(q.data(), queries, width, width), v,
                                 make_matrix_ref(r.data(), rlen, width, width), heads, scale,
                                 memory, first);
    const xl_relative_band_bias band(
        make_matrix_ref(q.data() + block_begin * width, block_rows, width, width), v,
        make_matrix_ref(r.data(), rlen, width, width), heads, scale, memory + block_begin, first,
        keys);
    for (index_t h = 0; h < heads; ++h) {
        for (index_t i = 0; i < block_rows; ++i) {
            const index_t pos = memory + block_begin + i;
            std::vector<float> a(keys, 0.5f), b(keys, 0.5f);
            whole.add(h, pos, 0, keys, a.data());
            band.add(h, pos, 0, keys, b.data());
            for (index_t k = 0; k < keys; ++k) {
                CHECK(b[k] == doctest::Approx(a[k]).epsilon(1e-4));
            }
        }
        for (index_t k = 0; k < keys; ++k) {
            std::vector<float> a(block_rows, 0.0f), b(block_rows, 0.0f);
            whole.add_column(h, k, memory + block_begin, block_rows, a.data());
            band.add_column(h, k, memory + block_begin, block_rows, b.data());
            for (index_t i = 0; i < block_rows; ++i) {
                CHECK(b[i] == doctest::Approx(a[i]).epsilon(1e-4));
            }
        }
    }
    std::vector<float> row(2, 0.0f);
    CHECK_THROWS_AS(band.add(0, memory + block_begin + block_rows, 0, 2, row.data()), shape_error);
}

} // namespace

TEST_CASE("xl_relative_band_bias equals xl_relative_bias, Transformer-XL distances") {
    compare(2, 5, 19, 7, false, 0, 19);
    compare(3, 8, 40, 0, false, 13, 9);
    compare(1, 16, 23, 11, false, 22, 1);
}

TEST_CASE("xl_relative_band_bias equals xl_relative_bias, XLNet distances") {
    compare(2, 6, 17, 5, true, 4, 10);
    compare(4, 4, 12, 0, true, 0, 12);
}
