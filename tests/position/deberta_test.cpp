#include <ctt/position/deberta.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include <ctt/core/tensor.hpp>

using ctt::dyn;
using ctt::index_t;
using ctt::shape;
using ctt::tensor;
using std::ptrdiff_t;

namespace {
void fill(float* p, index_t n, float a) {
    for (index_t i = 0; i < n; ++i) {
        p[i] = std::sin(a * static_cast<float>(i) + 0.1f);
    }
}

/// make_log_bucket_position, transcribed with float32 steps (logf of float ratios).
ptrdiff_t log_bucket_formula(ptrdiff_t rel, ptrdiff_t bucket_size, ptrdiff_t max_position) {
    const ptrdiff_t mid = bucket_size / 2;
    const ptrdiff_t sign = rel > 0 ? 1 : (rel < 0 ? -1 : 0);
    const ptrdiff_t abs_pos = (rel < mid && rel > -mid) ? mid - 1 : std::abs(rel);
    const float lp = std::ceil(std::log(static_cast<float>(abs_pos) / static_cast<float>(mid)) /
                               std::log(static_cast<float>(static_cast<double>(max_position - 1) /
                                                           static_cast<double>(mid))) *
                               static_cast<float>(mid - 1)) +
                     static_cast<float>(mid);
    return abs_pos <= mid ? rel : static_cast<ptrdiff_t>(lp) * sign;
}

struct case_setting {
    index_t len;
    index_t heads;
    index_t d;
    index_t span;
    ptrdiff_t buckets;
    ptrdiff_t max_rel;
    bool c2p;
    bool p2c;
};

/// HF's disentangled_attention_bias on full L x L matrices (one head), in double:
/// relative_pos[i][j] = bucket(i - j); c2p gathered at clamp(rel + span); p2c = (k Qr^T)
/// gathered at clamp(-r_pos + span) and transposed.
std::vector<double> direct_bias(const case_setting& s, const tensor<float, shape<dyn, dyn>>& q,
                                const tensor<float, shape<dyn, dyn>>& k,
                                const tensor<float, shape<dyn, dyn>>& kr,
                                const tensor<float, shape<dyn, dyn>>& qr, index_t h, float scale) {
    const index_t L = s.len;
    const auto span = static_cast<ptrdiff_t>(s.span);
    std::vector<ptrdiff_t> rel(L * L);
    for (index_t i = 0; i < L; ++i) {
        for (index_t j = 0; j < L; ++j) {
            const ptrdiff_t r = static_cast<ptrdiff_t>(i) - static_cast<ptrdiff_t>(j);
            rel[i * L + j] = s.buckets > 0 ? log_bucket_formula(r, s.buckets, s.max_rel) : r;
        }
    }
    const auto dot = [&](const tensor<float, shape<dyn, dyn>>& a, index_t ra,
                         const tensor<float, shape<dyn, dyn>>& b, index_t rb) {
        double acc = 0;
        for (index_t e = 0; e < s.d; ++e) {
            acc += static_cast<double>(a(ra, h * s.d + e)) * b(rb, h * s.d + e);
        }
        return acc;
    };
    std::vector<double> out(L * L, 0.0);
    for (index_t i = 0; i < L; ++i) {
        for (index_t j = 0; j < L; ++j) {
            if (s.c2p) {
                const auto idx = std::clamp<ptrdiff_t>(rel[i * L + j] + span, 0, 2 * span - 1);
                out[i * L + j] += dot(q, i, kr, static_cast<index_t>(idx));
            }
            if (s.p2c) {
                // p2c_att[a][b] gathered at p2c_pos[a][b] = clamp(-rel[a][b] + span), then
                // transposed: entry (i, j) is row a = j, column b = i.
                const auto idx = std::clamp<ptrdiff_t>(-rel[j * L + i] + span, 0, 2 * span - 1);
                out[i * L + j] += dot(k, j, qr, static_cast<index_t>(idx));
            }
            out[i * L + j] *= scale;
        }
    }
    return out;
}
} // namespace

TEST_CASE("log bucket positions: known values and the formula over -600..600") {
    CHECK(ctt::deberta_log_bucket_position(0, 8, 32) == 0);
    CHECK(ctt::deberta_log_bucket_position(3, 8, 32) == 3);
    CHECK(ctt::deberta_log_bucket_position(-4, 8, 32) == -4);
    CHECK(ctt::deberta_log_bucket_position(5, 8, 32) == 5);  // 4 + ceil(0.327)
    CHECK(ctt::deberta_log_bucket_position(6, 8, 32) == 5);  // 4 + ceil(0.594)
    CHECK(ctt::deberta_log_bucket_position(8, 8, 32) == 6);  // 4 + ceil(1.016)
    CHECK(ctt::deberta_log_bucket_position(16, 8, 32) == 7); // 4 + ceil(2.031)
    CHECK(ctt::deberta_log_bucket_position(40, 8, 32) == 8); // past max_position: not clamped
    CHECK(ctt::deberta_log_bucket_position(-9, 8, 32) == -6);
    CHECK(ctt::deberta_log_bucket_position(129, 256, 512) == 129);
    CHECK(ctt::deberta_log_bucket_position(200, 256, 512) == 169);
    CHECK(ctt::deberta_log_bucket_position(-200, 256, 512) == -169);
    CHECK(ctt::deberta_log_bucket_position(300, 256, 512) == 207);
    CHECK(ctt::deberta_log_bucket_position(1000, 256, 512) == 317);
    const ptrdiff_t settings[][2] = {{256, 512}, {8, 32}, {16, 64}, {32, 128}, {6, 100}};
    for (const auto& st : settings) {
        for (ptrdiff_t r = -600; r <= 600; ++r) {
            INFO("bucket_size " << st[0] << " max_position " << st[1] << " rel " << r);
            REQUIRE(ctt::deberta_log_bucket_position(r, st[0], st[1]) ==
                    log_bucket_formula(r, st[0], st[1]));
        }
    }
    CHECK(ctt::deberta_relative_position(3, 10) == -7);
    CHECK(ctt::deberta_relative_position(40, 0, 8, 32) == 8);
    CHECK(ctt::deberta_v1_span(20, 20, 16) == 16);
    CHECK(ctt::deberta_v1_span(5, 7, 16) == 7);
    CHECK(ctt::deberta_scale(64, 2) == doctest::Approx(1.0 / std::sqrt(192.0)));
}

TEST_CASE("c2p + p2c bias equals the direct L x L computation") {
    const case_setting settings[] = {
        {40, 3, 8, 8, 8, 32, true, true},    // v2: log buckets, clamped spans
        {20, 2, 5, 16, -1, -1, true, true},  // v1: span min(L, max_rel) = 16 < L
        {12, 4, 16, 12, -1, -1, true, true}, // v1: span = L
        {33, 2, 7, 16, 16, 64, true, false}, // c2p only
        {17, 1, 3, 4, 8, 32, false, true},   // p2c only, small span
    };
    for (const auto& s : settings) {
        const index_t w = s.heads * s.d;
        tensor<float, shape<dyn, dyn>> q(s.len, w);
        tensor<float, shape<dyn, dyn>> k(s.len, w);
        tensor<float, shape<dyn, dyn>> kr(2 * s.span, w);
        tensor<float, shape<dyn, dyn>> qr(2 * s.span, w);
        fill(q.data(), q.size(), 0.31f);
        fill(k.data(), k.size(), 0.53f);
        fill(kr.data(), kr.size(), 0.71f);
        fill(qr.data(), qr.size(), 0.97f);
        ctt::deberta_bias_options opt;
        opt.num_heads = s.heads;
        opt.span = s.span;
        opt.position_buckets = s.buckets;
        opt.max_relative_positions = s.max_rel;
        opt.c2p = s.c2p;
        opt.p2c = s.p2c;
        opt.scale = ctt::deberta_scale(s.d, (s.c2p ? 1 : 0) + (s.p2c ? 1 : 0));
        const ctt::deberta_relative_bias bias(ctt::make_matrix_ref(q), ctt::make_matrix_ref(k),
                                              ctt::make_matrix_ref(kr), ctt::make_matrix_ref(qr),
                                              opt);
        CHECK(bias.head_dim() == s.d);
        for (index_t h = 0; h < s.heads; ++h) {
            const auto expect = direct_bias(s, q, k, kr, qr, h, opt.scale);
            for (index_t i = 0; i < s.len; ++i) {
                std::vector<float> row(s.len, 0.0f);
                bias.add(h, i, 0, s.len, row.data());
                for (index_t j = 0; j < s.len; ++j) {
                    INFO("len " << s.len << " head " << h << " i " << i << " j " << j);
                    REQUIRE(std::abs(row[j] - expect[i * s.len + j]) <=
                            1e-5 * std::max(1.0, std::abs(expect[i * s.len + j])));
                }
                // A tile in the middle of the row agrees with the full row.
                std::vector<float> tile(5, 0.0f);
                bias.add(h, i, 3, 5, tile.data());
                for (index_t t = 0; t < 5; ++t) {
                    CHECK(tile[t] == row[3 + t]);
                }
            }
        }
    }
}

TEST_CASE("shape errors: widths, table rows, query rows") {
    tensor<float, shape<dyn, dyn>> q(4, 8);
    tensor<float, shape<dyn, dyn>> k(4, 8);
    tensor<float, shape<dyn, dyn>> r(6, 8);
    ctt::deberta_bias_options opt;
    opt.num_heads = 2;
    opt.span = 4; // needs 8 rows
    CHECK_THROWS_AS(ctt::deberta_relative_bias(ctt::make_matrix_ref(q), ctt::make_matrix_ref(k),
                                               ctt::make_matrix_ref(r), ctt::make_matrix_ref(r),
                                               opt),
                    ctt::shape_error);
    opt.span = 3;
    const ctt::deberta_relative_bias ok(ctt::make_matrix_ref(q), ctt::make_matrix_ref(k),
                                        ctt::make_matrix_ref(r), ctt::make_matrix_ref(r), opt);
    std::vector<float> row(4);
    CHECK_THROWS_AS(ok.add(0, 4, 0, 4, row.data()), ctt::shape_error);
}
