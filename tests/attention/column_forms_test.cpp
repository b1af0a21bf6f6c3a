// The flash kernel stores a tile's scores one key per row (queries in SIMD lanes) and calls
// `add_column` / `apply_column` down them. Every mask and bias of the library has a column
// form; this checks each against its row form (`add`) or its pair predicate (`visible`),
// exactly, over query runs that cross every boundary the closed forms special-case.
#include <ctt/attention/masks.hpp>
#include <ctt/attention/sparse_masks.hpp>
#include <ctt/position/alibi.hpp>
#include <ctt/position/bias_tensor.hpp>
#include <ctt/position/deberta.hpp>
#include <ctt/position/relative_xl.hpp>
#include <ctt/position/t5_bias.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <vector>

#include <ctt/core/tensor.hpp>

using ctt::dyn;
using ctt::index_t;
using ctt::shape;
using ctt::tensor;

namespace {

constexpr float hidden = -std::numeric_limits<float>::infinity();

template <class T>
void fill_random(T& t, unsigned seed) {
    std::mt19937 gen(seed);
    std::normal_distribution<float> dist;
    for (float& x : t) {
        x = dist(gen);
    }
}

/// Queries `[q_lo, q_hi)`, keys `[0, lk)`: every column run equals the row form entry by entry.
template <ctt::column_score_bias B>
void check_bias(const B& bias, index_t heads, index_t q_lo, index_t q_hi, index_t lk) {
    for (index_t h = 0; h < heads; ++h) {
        for (index_t k = 0; k < lk; ++k) {
            for (index_t q0 = q_lo; q0 < q_hi; q0 += 5) {
                const index_t n = std::min<index_t>(23, q_hi - q0);
                std::vector<float> col(n);
                for (index_t t = 0; t < n; ++t) {
                    col[t] = static_cast<float>(t) * 0.25f;
                }
                bias.add_column(h, k, q0, n, col.data());
                for (index_t t = 0; t < n; ++t) {
                    // A whole register of room: row forms may use masked vector loads.
                    std::vector<float> expect(16, static_cast<float>(t) * 0.25f);
                    bias.add(h, q0 + t, k, 1, expect.data());
                    INFO("head " << h << " key " << k << " query " << q0 + t);
                    REQUIRE(col[t] == expect[0]);
                }
            }
        }
    }
}

template <ctt::column_attention_mask M>
void check_mask(const M& mask, index_t lq, index_t lk) {
    for (index_t k = 0; k < lk; ++k) {
        for (index_t q0 = 0; q0 < lq; q0 += 3) {
            const index_t n = std::min<index_t>(40, lq - q0);
            std::vector<float> col(n, 1.0f);
            mask.apply_column(k, q0, n, col.data());
            for (index_t t = 0; t < n; ++t) {
                INFO("key " << k << " query " << q0 + t);
                REQUIRE((col[t] == hidden) == !mask.visible(q0 + t, k));
                REQUIRE((col[t] == 1.0f) == mask.visible(q0 + t, k));
            }
        }
    }
}

} // namespace

TEST_CASE("column forms of the masks hide exactly the pairs `visible` rejects") {
    std::vector<std::uint8_t> flags(90, 1);
    for (index_t j = 0; j < flags.size(); j += 4) {
        flags[j] = 0;
    }
    check_mask(ctt::causal_mask{}, 90, 90);
    check_mask(ctt::key_padding_mask{37}, 90, 90);
    check_mask(ctt::key_padding_mask{flags}, 90, 90);
    check_mask(ctt::sliding_window_mask{7}, 90, 90);
    check_mask(ctt::sliding_window_mask{0}, 20, 20);
    check_mask(ctt::symmetric_window_mask{5}, 90, 90);
    check_mask(ctt::strided_sparse_mask{6}, 90, 90);
    check_mask(ctt::fixed_sparse_mask{8, 2}, 90, 90);
    check_mask(ctt::dalle_mask{ctt::dalle_pattern::row, 10, 8}, 74, 74);
    check_mask(ctt::dalle_mask{ctt::dalle_pattern::column, 10, 8}, 74, 74);
    check_mask(ctt::dalle_mask{ctt::dalle_pattern::convolutional, 10, 8, 3, 2}, 74, 74);
    check_mask(ctt::mask_and(ctt::causal_mask{}, ctt::key_padding_mask{flags}), 90, 90);
}

TEST_CASE("column forms of the biases equal their row forms") {
    SUBCASE("ALiBi, causal and symmetric, 5 heads") {
        check_bias(ctt::alibi_bias(5), 5, 0, 60, 60);
        check_bias(ctt::alibi_symmetric_bias(5), 5, 0, 60, 60);
    }
    SUBCASE("T5 buckets past max_distance, both directions") {
        tensor<float, shape<8, 3>> w;
        fill_random(w, 1);
        for (bool bidirectional : {true, false}) {
            const ctt::t5_relative_bias t5(ctt::tensor_view<const float, shape<8, 3>>(w.view()),
                                           bidirectional, 12);
            check_bias(t5, 3, 0, 70, 70);
        }
    }
    SUBCASE("bias tensor, per head, queries from position 9") {
        tensor<float, shape<2, dyn, dyn>> b(31, 40);
        fill_random(b, 2);
        check_bias(ctt::bias_tensor(b.view()), 2, 9, 40, 40);
    }
    SUBCASE("Transformer-XL position term") {
        const index_t heads = 2, d = 4, qlen = 13, mlen = 6, klen = qlen + mlen;
        tensor<float, shape<dyn, dyn>> q(qlen, heads * d);
        tensor<float, shape<dyn, dyn>> r(klen, heads * d);
        fill_random(q, 3);
        fill_random(r, 4);
        std::vector<float> v(heads * d, 0.3f);
        const ctt::xl_relative_bias xl(ctt::make_matrix_ref(q), v, ctt::make_matrix_ref(r), heads,
                                       0.5f, mlen);
        check_bias(xl, heads, mlen, klen, klen);
    }
    SUBCASE("DeBERTa c2p + p2c, v2 log buckets") {
        const index_t heads = 2, d = 4, len = 40, span = 8;
        tensor<float, shape<dyn, dyn>> q(len, heads * d);
        tensor<float, shape<dyn, dyn>> k(len, heads * d);
        tensor<float, shape<dyn, dyn>> kr(2 * span, heads * d);
        tensor<float, shape<dyn, dyn>> qr(2 * span, heads * d);
        fill_random(q, 5);
        fill_random(k, 6);
        fill_random(kr, 7);
        fill_random(qr, 8);
        ctt::deberta_bias_options opt;
        opt.num_heads = heads;
        opt.span = span;
        opt.position_buckets = span;
        opt.max_relative_positions = 32;
        opt.scale = ctt::deberta_scale(d, 2);
        const ctt::deberta_relative_bias deberta(ctt::make_matrix_ref(q), ctt::make_matrix_ref(k),
                                                 ctt::make_matrix_ref(kr), ctt::make_matrix_ref(qr),
                                                 opt);
        check_bias(deberta, heads, 0, len, len);
    }
}
