#include <ctt/position/relative_xl.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <ctt/core/tensor.hpp>
#include <ctt/position/sinusoidal.hpp>

using ctt::dyn;
using ctt::index_t;
using ctt::shape;
using ctt::tensor;

namespace {
void fill(float* p, index_t n, float a) {
    for (index_t i = 0; i < n; ++i) {
        p[i] = std::sin(a * static_cast<float>(i) + 0.3f);
    }
}

/// The reference's position term for one head: BD = (q + v) R^T, then `_rel_shift` done
/// literally (prepend a zero column, reinterpret [qlen, rlen + 1] as [rlen + 1, qlen], drop
/// the first row, reinterpret as [qlen, rlen]).
std::vector<double> bd_rel_shift(const tensor<float, shape<dyn, dyn>>& q,
                                 const std::vector<float>& v,
                                 const tensor<float, shape<dyn, dyn>>& r, index_t head, index_t d) {
    const index_t qlen = q.rows();
    const index_t rlen = r.rows();
    std::vector<double> padded(qlen * (rlen + 1), 0.0);
    for (index_t i = 0; i < qlen; ++i) {
        for (index_t j = 0; j < rlen; ++j) {
            double s = 0;
            for (index_t e = 0; e < d; ++e) {
                s += (static_cast<double>(q(i, head * d + e)) + v[head * d + e]) *
                     r(j, head * d + e);
            }
            padded[i * (rlen + 1) + 1 + j] = s;
        }
    }
    // Dropping the first `qlen` elements of the flat buffer is dropping row 0 of the
    // [rlen + 1, qlen] reinterpretation.
    return {padded.begin() + static_cast<std::ptrdiff_t>(qlen), padded.end()};
}
} // namespace

TEST_CASE("position term equals the reference's BD after _rel_shift on every visible pair") {
    for (index_t mlen : {0u, 3u, 7u}) {
        const index_t heads = 3;
        const index_t d = 5; // odd head dim
        const index_t qlen = 6;
        const index_t klen = mlen + qlen;
        const float scale = 1.0f / std::sqrt(static_cast<float>(d));
        tensor<float, shape<dyn, dyn>> q(qlen, heads * d);
        fill(q.data(), q.size(), 0.37f);
        std::vector<float> v(heads * d);
        fill(v.data(), v.size(), 1.3f);
        // R = r_net(pos_emb): here any [klen, H*D] matrix whose row r stands for distance
        // klen - 1 - r; start from the real sinusoids and mix them.
        tensor<float, shape<dyn, dyn>> pos_emb(klen, heads * d + 1);
        ctt::xl_relative_positions(pos_emb.view().cols(0, 14),
                                   static_cast<std::ptrdiff_t>(klen) - 1);
        tensor<float, shape<dyn, dyn>> r(klen, heads * d);
        for (index_t i = 0; i < klen; ++i) {
            for (index_t c = 0; c < heads * d; ++c) {
                r(i, c) = pos_emb(i, c % 14) * 0.5f + 0.1f * static_cast<float>(c % 3);
            }
        }
        const ctt::xl_relative_bias bias(ctt::make_matrix_ref(q), v, ctt::make_matrix_ref(r), heads,
                                         scale, mlen);
        for (index_t h = 0; h < heads; ++h) {
            const auto bd = bd_rel_shift(q, v, r, h, d);
            for (index_t i = 0; i < qlen; ++i) {
                std::vector<float> row(klen, 0.0f);
                bias.add(h, mlen + i, 0, klen, row.data());
                for (index_t j = 0; j < klen; ++j) {
                    if (j <= i + mlen) { // visible under the reference's triu(1 + mlen) mask
                        REQUIRE(row[j] == doctest::Approx(scale * bd[i * klen + j]).epsilon(1e-5));
                    } else {
                        CHECK(row[j] == 0.0f);
                    }
                }
                // A tile of keys gives the same entries as the full row.
                std::vector<float> tile(3, 0.0f);
                const index_t kb = klen > 4 ? 2 : 0;
                bias.add(h, mlen + i, kb, 3, tile.data());
                for (index_t t = 0; t < 3; ++t) {
                    CHECK(tile[t] == row[kb + t]);
                }
            }
        }
        CHECK_THROWS_AS(bias.add(0, mlen + qlen, 0, 1, std::vector<float>(1).data()),
                        ctt::shape_error);
    }
}

TEST_CASE("xl_add_content_bias forms q + u head by head") {
    tensor<float, shape<dyn, 6>> q(3);
    fill(q.data(), q.size(), 0.5f);
    const auto before = q;
    const std::vector<float> u{1, 2, 3, 4, 5, 6};
    ctt::xl_add_content_bias(q.view(), u);
    for (index_t t = 0; t < 3; ++t) {
        for (index_t c = 0; c < 6; ++c) {
            CHECK(q(t, c) == before(t, c) + u[c]);
        }
    }
    const std::vector<float> short_u{1, 2};
    CHECK_THROWS_AS(ctt::xl_add_content_bias(q.view(), short_u), ctt::shape_error);
}
