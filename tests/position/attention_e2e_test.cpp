// End-to-end: each score bias and Q/K transform of position/ run through the attention kernels
// (reference_attention, and flash_attention for the biases) against attention written out
// directly from the models' formulas.
#include <ctt/attention/flash_attention.hpp>
#include <ctt/attention/masks.hpp>
#include <ctt/attention/reference_attention.hpp>
#include <ctt/position/alibi.hpp>
#include <ctt/position/bias_tensor.hpp>
#include <ctt/position/deberta.hpp>
#include <ctt/position/relative_xl.hpp>
#include <ctt/position/rotary.hpp>
#include <ctt/position/sinusoidal.hpp>
#include <ctt/position/t5_bias.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include <ctt/core/tensor.hpp>

using ctt::dyn;
using ctt::index_t;
using ctt::shape;
using ctt::tensor;

namespace {
constexpr index_t D = 8;
using rows_t = tensor<float, shape<dyn, dyn>>;

void fill(rows_t& t, float a) {
    for (index_t i = 0; i < t.size(); ++i) {
        t.data()[i] = std::sin(a * static_cast<float>(i) + 0.2f);
    }
}

auto head_view(rows_t& t, index_t h) {
    return t.view().cols<D>(h * D);
}

/// softmax(score) v for one head, in double; score(i, j) = nullopt-like -inf for masked pairs.
std::vector<double> direct_attention(index_t lq, index_t lk, const rows_t& v, index_t h,
                                     const std::function<double(index_t, index_t)>& score) {
    std::vector<double> out(lq * D, 0.0);
    for (index_t i = 0; i < lq; ++i) {
        std::vector<double> s(lk);
        double mx = -std::numeric_limits<double>::infinity();
        for (index_t j = 0; j < lk; ++j) {
            s[j] = score(i, j);
            mx = std::max(mx, s[j]);
        }
        double total = 0;
        for (index_t j = 0; j < lk; ++j) {
            const double p =
                s[j] == -std::numeric_limits<double>::infinity() ? 0.0 : std::exp(s[j] - mx);
            total += p;
            for (index_t c = 0; c < D; ++c) {
                out[i * D + c] += p * v(j, h * D + c);
            }
        }
        for (index_t c = 0; c < D; ++c) {
            out[i * D + c] /= total;
        }
    }
    return out;
}

double dot(const rows_t& a, index_t i, const rows_t& b, index_t j, index_t h) {
    double s = 0;
    for (index_t c = 0; c < D; ++c) {
        s += static_cast<double>(a(i, h * D + c)) * b(j, h * D + c);
    }
    return s;
}

void check_close(const rows_t& got, index_t h, const std::vector<double>& expect, double tol) {
    for (index_t i = 0; i < got.rows(); ++i) {
        for (index_t c = 0; c < D; ++c) {
            REQUIRE(std::abs(got(i, h * D + c) - expect[i * D + c]) <= tol);
        }
    }
}
constexpr double inf = std::numeric_limits<double>::infinity();
} // namespace

TEST_CASE("ALiBi (BLOOM form) under causal masking equals the paper's -slope * (i - j)") {
    const index_t heads = 5; // not a power of two
    const index_t L = 13;
    rows_t q(L, heads * D), k(L, heads * D), v(L, heads * D), out(L, heads * D), fast(L, heads * D);
    fill(q, 0.3f);
    fill(k, 0.7f);
    fill(v, 1.1f);
    const ctt::alibi_bias alibi(heads);
    const auto slopes = ctt::alibi_slopes(heads);
    const double scale = 1.0 / std::sqrt(static_cast<double>(D));
    for (index_t h = 0; h < heads; ++h) {
        ctt::reference_attention(head_view(q, h), head_view(k, h), head_view(v, h),
                                 head_view(out, h), ctt::causal_mask{}, alibi, ctt::no_transform{},
                                 {}, h);
        ctt::flash_attention(head_view(q, h), head_view(k, h), head_view(v, h), head_view(fast, h),
                             ctt::causal_mask{}, alibi, ctt::no_transform{}, {}, h);
        const auto expect = direct_attention(L, L, v, h, [&](index_t i, index_t j) {
            return j > i ? -inf
                         : scale * dot(q, i, k, j, h) - slopes[h] * static_cast<double>(i - j);
        });
        check_close(out, h, expect, 1e-5);
        check_close(fast, h, expect, 1e-5);
    }
}

TEST_CASE("rotary through the kernel equals attention over pre-rotated Q and K") {
    const index_t heads = 2;
    const index_t L = 9;
    rows_t q(L, heads * D), k(L, heads * D), v(L, heads * D), out(L, heads * D);
    fill(q, 0.41f);
    fill(k, 0.93f);
    fill(v, 0.17f);
    const ctt::rotary_half_split rope(6, 64); // partial: 6 of 8
    rows_t qr = q, kr = k;
    rope.apply_to_heads(qr.view(), heads, D);
    rope.apply_to_heads(kr.view(), heads, D);
    const double scale = 1.0 / std::sqrt(static_cast<double>(D));
    for (index_t h = 0; h < heads; ++h) {
        ctt::reference_attention(head_view(q, h), head_view(k, h), head_view(v, h),
                                 head_view(out, h), ctt::causal_mask{}, ctt::no_bias{}, rope, {}, h,
                                 rope);
        const auto expect = direct_attention(L, L, v, h, [&](index_t i, index_t j) {
            return j > i ? -inf : scale * dot(qr, i, kr, j, h);
        });
        check_close(out, h, expect, 1e-5);
    }
}

TEST_CASE("T5 bias with scale 1, bidirectional and causal with a query offset") {
    const index_t heads = 3;
    const index_t lk = 150; // past max_distance: saturated buckets
    tensor<float, shape<32, 3>> w;
    for (index_t i = 0; i < w.size(); ++i) {
        w.data()[i] = 0.5f * std::cos(0.9f * static_cast<float>(i));
    }
    for (bool bidirectional : {true, false}) {
        const index_t lq = bidirectional ? lk : 4; // decoder: 4 new tokens after 146 cached
        rows_t q(lq, heads * D), k(lk, heads * D), v(lk, heads * D), out(lq, heads * D),
            fast(lq, heads * D);
        fill(q, 0.05f);
        fill(k, 0.07f);
        fill(v, 0.3f);
        const ctt::t5_relative_bias bias(w.view(), bidirectional, 128);
        const auto params = ctt::attention_params{}.with_scale(1.0f);
        const index_t offset = lk - lq;
        for (index_t h = 0; h < heads; ++h) {
            if (bidirectional) {
                ctt::reference_attention(head_view(q, h), head_view(k, h), head_view(v, h),
                                         head_view(out, h), ctt::no_mask{}, bias,
                                         ctt::no_transform{}, params, h);
                ctt::flash_attention(head_view(q, h), head_view(k, h), head_view(v, h),
                                     head_view(fast, h), ctt::no_mask{}, bias, ctt::no_transform{},
                                     params, h);
            } else {
                ctt::reference_attention(head_view(q, h), head_view(k, h), head_view(v, h),
                                         head_view(out, h), ctt::causal_mask{}, bias,
                                         ctt::no_transform{}, params, h);
                ctt::flash_attention(head_view(q, h), head_view(k, h), head_view(v, h),
                                     head_view(fast, h), ctt::causal_mask{}, bias,
                                     ctt::no_transform{}, params, h);
            }
            const auto expect = direct_attention(lq, lk, v, h, [&](index_t i, index_t j) {
                const index_t qp = offset + i;
                if (!bidirectional && j > qp) {
                    return -inf;
                }
                const long rel = static_cast<long>(j) - static_cast<long>(qp);
                return dot(q, i, k, j, h) +
                       w(ctt::t5_relative_position_bucket(rel, bidirectional, 32, 128), h);
            });
            check_close(out, h, expect, 1e-5);
            check_close(fast, h, expect, 1e-5);
        }
    }
}

TEST_CASE("Transformer-XL layer attention with memory: (q+u).k + (q+v).R, rel_shift, triu mask") {
    const index_t heads = 2;
    const index_t mlen = 5;
    const index_t qlen = 7;
    const index_t klen = mlen + qlen;
    rows_t q(qlen, heads * D), k(klen, heads * D), v(klen, heads * D), out(qlen, heads * D),
        fast(qlen, heads * D);
    fill(q, 0.21f);
    fill(k, 0.33f); // rows 0..mlen-1: memory, then the segment
    fill(v, 0.45f);
    std::vector<float> u(heads * D), rv(heads * D);
    for (index_t c = 0; c < heads * D; ++c) {
        u[c] = 0.1f * static_cast<float>(c % 5) - 0.2f;
        rv[c] = 0.05f * static_cast<float>(c % 7);
    }
    // R = r_net(pos_emb): sinusoids of distances klen-1 .. 0 times a fixed projection.
    rows_t pos_emb(klen, 16);
    ctt::xl_relative_positions(pos_emb.view(), static_cast<std::ptrdiff_t>(klen) - 1);
    rows_t r(klen, heads * D);
    for (index_t i = 0; i < klen; ++i) {
        for (index_t c = 0; c < heads * D; ++c) {
            float s = 0;
            for (index_t e = 0; e < 16; ++e) {
                s += pos_emb(i, e) * std::cos(0.1f * static_cast<float>(c * 16 + e));
            }
            r(i, c) = s;
        }
    }
    const float scale = 1.0f / std::sqrt(static_cast<float>(D));
    const ctt::xl_relative_bias bias(ctt::make_matrix_ref(q), rv, ctt::make_matrix_ref(r), heads,
                                     scale, mlen);
    rows_t qu = q;
    ctt::xl_add_content_bias(qu.view(), u);
    const auto params = ctt::attention_params{}.with_scale(scale);
    for (index_t h = 0; h < heads; ++h) {
        ctt::reference_attention(head_view(qu, h), head_view(k, h), head_view(v, h),
                                 head_view(out, h), ctt::causal_mask{}, bias, ctt::no_transform{},
                                 params, h);
        ctt::flash_attention(head_view(qu, h), head_view(k, h), head_view(v, h), head_view(fast, h),
                             ctt::causal_mask{}, bias, ctt::no_transform{}, params, h);
        // The reference: AC[i][j] = (q_i + u).k_j; BD = (q_i + v).R_r shifted so that (i, j)
        // reads r = j + qlen - 1 - i; masked where j > i + mlen.
        const auto expect = direct_attention(qlen, klen, v, h, [&](index_t i, index_t j) {
            if (j > i + mlen) {
                return -inf;
            }
            double ac = 0, bd = 0;
            const index_t rr = j + qlen - 1 - i;
            for (index_t c = 0; c < D; ++c) {
                const double qc = q(i, h * D + c);
                ac += (qc + u[h * D + c]) * k(j, h * D + c);
                bd += (qc + rv[h * D + c]) * r(rr, h * D + c);
            }
            return (ac + bd) * static_cast<double>(scale);
        });
        check_close(out, h, expect, 1e-5);
        check_close(fast, h, expect, 1e-5);
    }
}

TEST_CASE("DeBERTa-v2 disentangled attention: (q.k + c2p + p2c) / sqrt(3 d)") {
    const index_t heads = 2;
    const index_t L = 21;
    const index_t span = 4; // position_buckets
    rows_t q(L, heads * D), k(L, heads * D), v(L, heads * D), out(L, heads * D), fast(L, heads * D),
        kr(2 * span, heads * D), qr(2 * span, heads * D);
    fill(q, 0.13f);
    fill(k, 0.29f);
    fill(v, 0.61f);
    fill(kr, 0.77f);
    fill(qr, 0.87f);
    ctt::deberta_bias_options opt;
    opt.num_heads = heads;
    opt.span = span;
    opt.position_buckets = static_cast<std::ptrdiff_t>(span);
    opt.max_relative_positions = 16;
    opt.scale = ctt::deberta_scale(D, 2);
    const ctt::deberta_relative_bias bias(ctt::make_matrix_ref(q), ctt::make_matrix_ref(k),
                                          ctt::make_matrix_ref(kr), ctt::make_matrix_ref(qr), opt);
    const auto params = ctt::attention_params{}.with_scale(opt.scale);
    const auto sp = static_cast<std::ptrdiff_t>(span);
    for (index_t h = 0; h < heads; ++h) {
        ctt::reference_attention(head_view(q, h), head_view(k, h), head_view(v, h),
                                 head_view(out, h), ctt::no_mask{}, bias, ctt::no_transform{},
                                 params, h);
        ctt::flash_attention(head_view(q, h), head_view(k, h), head_view(v, h), head_view(fast, h),
                             ctt::no_mask{}, bias, ctt::no_transform{}, params, h);
        const auto expect = direct_attention(L, L, v, h, [&](index_t i, index_t j) {
            const auto ii = static_cast<std::ptrdiff_t>(i);
            const auto jj = static_cast<std::ptrdiff_t>(j);
            const auto rel_ij = ctt::deberta_log_bucket_position(ii - jj, sp, 16);
            const auto rel_ji = ctt::deberta_log_bucket_position(jj - ii, sp, 16);
            const auto c2p =
                static_cast<index_t>(std::clamp<std::ptrdiff_t>(rel_ij + sp, 0, 2 * sp - 1));
            const auto p2c =
                static_cast<index_t>(std::clamp<std::ptrdiff_t>(-rel_ji + sp, 0, 2 * sp - 1));
            return (dot(q, i, k, j, h) + dot(q, i, kr, c2p, h) + dot(k, j, qr, p2c, h)) *
                   static_cast<double>(opt.scale);
        });
        check_close(out, h, expect, 1e-5);
        check_close(fast, h, expect, 1e-5);
    }
}
