// segment_bias (XLNet's relative segment term), bias_sum and permutation_mask: the row and
// column forms against the definition, element by element.
#include <ctt/attention/permutation_mask.hpp>
#include <ctt/position/bias_sum.hpp>
#include <ctt/position/segment_bias.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace {

using namespace ctt;

struct fixture {
    static constexpr index_t heads = 2, head_dim = 3, width = heads * head_dim;
    static constexpr index_t q_len = 4, memory = 3, k_len = memory + q_len;
    std::vector<float> q, r_s, seg;
    std::vector<std::int32_t> q_types{1, 0, 1, 1};
    std::vector<std::int32_t> k_types{0, 0, 0, 1, 0, 1, 1};
    fixture() {
        std::mt19937 rng(7);
        std::normal_distribution<float> n(0.f, 1.f);
        for (index_t i = 0; i < q_len * width; ++i) {
            q.push_back(n(rng));
        }
        for (index_t i = 0; i < width; ++i) {
            r_s.push_back(n(rng));
        }
        for (index_t i = 0; i < 2 * width; ++i) {
            seg.push_back(n(rng));
        }
    }
    [[nodiscard]] segment_bias bias(float scale) const {
        return segment_bias(make_matrix_ref(q.data(), q_len, width, width), r_s,
                            make_matrix_ref(seg.data(), 2, width, width), heads, scale, memory,
                            q_types, k_types);
    }
    /// scale * (q_i + r_s) . seg[same ? 0 : 1] over head h.
    [[nodiscard]] double expected(index_t h, index_t i, index_t j, float scale) const {
        const index_t s = q_types[i] == k_types[j] ? 0 : 1;
        double acc = 0;
        for (index_t e = h * head_dim; e < (h + 1) * head_dim; ++e) {
            acc += (q[i * width + e] + r_s[e]) * seg[s * width + e];
        }
        return scale * acc;
    }
};

} // namespace

TEST_CASE("segment_bias: row and column forms follow the definition") {
    const fixture f;
    const auto b = f.bias(0.5f);
    for (index_t h = 0; h < fixture::heads; ++h) {
        for (index_t i = 0; i < fixture::q_len; ++i) {
            std::vector<float> row(fixture::k_len, 1.0f);
            b.add(h, fixture::memory + i, 0, fixture::k_len, row.data());
            for (index_t j = 0; j < fixture::k_len; ++j) {
                CHECK(row[j] == doctest::Approx(1.0 + f.expected(h, i, j, 0.5f)).epsilon(1e-5));
            }
        }
        for (index_t j = 0; j < fixture::k_len; ++j) {
            std::vector<float> col(fixture::q_len, 0.0f);
            b.add_column(h, j, fixture::memory, fixture::q_len, col.data());
            for (index_t i = 0; i < fixture::q_len; ++i) {
                CHECK(col[i] == doctest::Approx(f.expected(h, i, j, 0.5f)).epsilon(1e-5));
            }
        }
    }
    std::vector<float> row(2, 0.0f);
    CHECK_THROWS_AS(b.add(0, 0, 0, 2, row.data()), shape_error); // before the first query
    CHECK_THROWS_AS(b.add(0, fixture::memory, fixture::k_len - 1, 2, row.data()), shape_error);
}

TEST_CASE("bias_sum adds both terms in the row and the column form") {
    const fixture f;
    const auto sum = add_biases(f.bias(1.0f), f.bias(0.25f));
    static_assert(column_score_bias<decltype(sum)>);
    std::vector<float> row(fixture::k_len, 0.0f);
    sum.add(1, fixture::memory + 2, 0, fixture::k_len, row.data());
    std::vector<float> col(fixture::q_len, 0.0f);
    sum.add_column(1, 5, fixture::memory, fixture::q_len, col.data());
    for (index_t j = 0; j < fixture::k_len; ++j) {
        CHECK(row[j] == doctest::Approx(1.25 * f.expected(1, 2, j, 1.0f)).epsilon(1e-5));
    }
    for (index_t i = 0; i < fixture::q_len; ++i) {
        CHECK(col[i] == doctest::Approx(1.25 * f.expected(1, i, 5, 1.0f)).epsilon(1e-5));
    }
}

TEST_CASE("permutation_mask: memory visible, perm_mask hides, the content stream sees itself") {
    // 3 tokens behind 2 memory slots; token 1 may see only token 0, token 0 nothing.
    const std::vector<float> perm{1, 1, 1, 0, 1, 1, 0, 0, 1};
    const permutation_mask content(perm, 3, 2, true);
    const permutation_mask query(perm, 3, 2, false);
    for (index_t i = 0; i < 3; ++i) {
        for (index_t j = 0; j < 5; ++j) {
            const bool seen = j < 2 || perm[i * 3 + (j - 2)] == 0.0f;
            CHECK(query.visible(2 + i, j) == seen);
            CHECK(content.visible(2 + i, j) == (seen || j == 2 + i));
            float row[1] = {0.0f};
            query.apply(2 + i, j, 1, row);
            CHECK(std::isinf(row[0]) == !seen);
            float col[1] = {0.0f};
            content.apply_column(j, 2 + i, 1, col);
            CHECK(std::isinf(col[0]) == !(seen || j == 2 + i));
        }
    }
    CHECK(query.classify(2, 5, 0, 2) == tile_visibility::visible);
    CHECK(query.classify(2, 5, 0, 3) == tile_visibility::partial);
    CHECK_THROWS_AS(permutation_mask(perm, 2, 0, true), shape_error);
    // Padding alone (no perm_mask): token 2 is padding, hidden from others, not from itself.
    const std::vector<std::uint8_t> flags{1, 1, 0};
    const permutation_mask padded({}, 3, 2, true, flags);
    CHECK(padded.visible(2, 0));
    CHECK(padded.visible(2, 3));
    CHECK_FALSE(padded.visible(2, 4));
    CHECK(padded.visible(4, 4));
    CHECK_FALSE(permutation_mask({}, 3, 2, false, flags).visible(4, 4));
    CHECK_THROWS_AS(permutation_mask({}, 3, 2, true, std::span(flags).first(2)), shape_error);
}
