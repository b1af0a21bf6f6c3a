#pragma once
// Small Q/K transform and score bias policies shared by the attention tests.
#include <algorithm>
#include <cmath>

#include "ctt/core/shape.hpp"

namespace ctt::test {

/// A rotary-like transform: pairs rotated by an angle growing with the position.
struct pair_rotation {
    float rate = 0.02f;
    void apply(index_t pos, float* vec, index_t dim) const {
        for (index_t i = 0; i + 1 < dim; i += 2) {
            const float a = rate * static_cast<float>(pos) / static_cast<float>(i + 1);
            const float c = std::cos(a);
            const float s = std::sin(a);
            const float x = vec[i];
            vec[i] = c * x - s * vec[i + 1];
            vec[i + 1] = s * x + c * vec[i + 1];
        }
    }
};

/// An ALiBi-like bias, per head.
struct distance_bias {
    void add(index_t head, index_t q_pos, index_t k_begin, index_t n, float* row) const {
        for (index_t t = 0; t < n; ++t) {
            row[t] -= 0.01f * static_cast<float>(head + 1) *
                      static_cast<float>(q_pos - std::min(q_pos, k_begin + t));
        }
    }
};

} // namespace ctt::test
