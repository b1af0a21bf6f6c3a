#pragma once
/**
 * @file
 * @brief Reference attention: the plain scalar twin of `flash_attention`. It materialises each
 *        full score row in double precision, so it is the definition every fast path is tested
 *        against (never used for speed).
 */

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ctt/attention/attention_concepts.hpp"
#include "ctt/attention/attention_params.hpp"
#include "ctt/attention/detail/attention_views.hpp"

namespace ctt {

/**
 * @brief `out = softmax(scale * T_q(q) T_k(k)^T + bias, masked) v` for one head, in double.
 *
 * Same arguments as `flash_attention`, plus the key transform, which the reference applies
 * itself (the fast paths expect K already transformed, as a KV cache holds it). Query row i
 * sits at position `params.offset_for(Lq, Lk) + i`, key j at j. A row whose keys are all
 * masked gives zeros. The mask is read through `visible` only, so that `classify` and `apply`
 * of the fast paths are checked against it independently.
 */
template <detail::float_matrix_view Q, detail::float_matrix_view K, detail::float_matrix_view V,
          detail::mutable_float_matrix_view O, attention_mask M = no_mask, score_bias B = no_bias,
          qk_transform QT = no_transform, qk_transform KT = no_transform>
void reference_attention(const Q& q, const K& k, const V& v, const O& out, const M& mask = {},
                         const B& bias = {}, const QT& q_transform = {},
                         const attention_params& params = {}, index_t head = 0,
                         const KT& k_transform = {}) {
    detail::check_head_operands(q, k, v, out);
    const index_t lq = q.rows();
    const index_t lk = k.rows();
    const index_t d = q.cols();
    const index_t offset = params.offset_for(lq, lk);
    const double scale = params.scale_for(d);

    std::vector<float> kt(lk * d);
    for (index_t j = 0; j < lk; ++j) {
        for (index_t c = 0; c < d; ++c) {
            kt[j * d + c] = k(j, c);
        }
        k_transform.apply(j, kt.data() + j * d, d);
    }
    std::vector<float> qt(d);
    std::vector<float> bias_row(lk);
    std::vector<double> score(lk);
    std::vector<double> acc(d);
    for (index_t i = 0; i < lq; ++i) {
        const index_t pos = offset + i;
        for (index_t c = 0; c < d; ++c) {
            qt[c] = q(i, c);
        }
        q_transform.apply(pos, qt.data(), d);
        std::fill(bias_row.begin(), bias_row.end(), 0.0f);
        bias.add(head, pos, 0, lk, bias_row.data());

        double max_score = -std::numeric_limits<double>::infinity();
        for (index_t j = 0; j < lk; ++j) {
            if (!mask.visible(pos, j)) {
                score[j] = -std::numeric_limits<double>::infinity();
                continue;
            }
            double dot = 0;
            for (index_t c = 0; c < d; ++c) {
                dot += static_cast<double>(qt[c]) * kt[j * d + c];
            }
            score[j] = scale * dot + bias_row[j];
            max_score = std::max(max_score, score[j]);
        }
        std::fill(acc.begin(), acc.end(), 0.0);
        double total = 0;
        if (max_score > -std::numeric_limits<double>::infinity()) {
            for (index_t j = 0; j < lk; ++j) {
                if (score[j] == -std::numeric_limits<double>::infinity()) {
                    continue;
                }
                const double p = std::exp(score[j] - max_score);
                total += p;
                for (index_t c = 0; c < d; ++c) {
                    acc[c] += p * v(j, c);
                }
            }
        }
        for (index_t c = 0; c < d; ++c) {
            out(i, c) = total > 0 ? static_cast<float>(acc[c] / total) : 0.0f;
        }
    }
}

} // namespace ctt
