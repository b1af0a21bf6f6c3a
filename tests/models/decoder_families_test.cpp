// Decoder families at sizes unlike the shipped reference cases (head counts that are not
// powers of two, GQA ratios, partial rotary widths, variants of wiring), with random weights:
// the KV cache equals the whole sequence, and sampling repeats. The shipped cases
// (tests/conformance) hold each family to HF's numbers; these hold the layouts that the cases
// do not reach: Falcon's grouped QKV, NeoX without the parallel residual, ...
#include <ctt/models/bloom.hpp>
#include <ctt/models/ctrl.hpp>
#include <ctt/models/falcon.hpp>
#include <ctt/models/gpt_neox.hpp>
#include <ctt/models/gptj.hpp>

#include <doctest/doctest.h>

#include "../support/random_model.hpp"

namespace {

using namespace ctt;

// The sizes every config below shares unless it says otherwise.
struct base_sizes {
    static constexpr index_t vocab_size = 61;
    static constexpr index_t num_layers = 2;
    static constexpr index_t max_positions = 48;
    static constexpr activation hidden_act = activation::gelu_tanh;
    static constexpr float norm_eps = 1e-5f;
};

// BLOOM with 5 heads (ALiBi's slopes for a head count that is not a power of two).
struct bloom_5 : base_sizes {
    static constexpr index_t hidden_size = 40;
    static constexpr index_t num_heads = 5;
    static constexpr index_t intermediate_size = 160;
    static constexpr index_t max_positions = 0; // ALiBi: unbounded
};

// NeoX with 6 heads of 6, half of each rotated, sequential residual.
struct neox_sequential : base_sizes {
    static constexpr index_t hidden_size = 36;
    static constexpr index_t num_heads = 6;
    static constexpr index_t intermediate_size = 50;
    static constexpr index_t rotary_dim = 4;
    static constexpr double rope_theta = 1000.0;
    static constexpr auto placement = norm_placement::pre;
};

// Falcon's new decoder architecture: 6 query heads in 2 groups, two norms.
struct falcon_grouped : base_sizes {
    static constexpr index_t hidden_size = 48;
    static constexpr index_t num_heads = 6;
    static constexpr index_t num_kv_heads = 2;
    static constexpr index_t intermediate_size = 72;
    static constexpr index_t num_layers = 3;
    static constexpr auto qkv = qkv_layout::fused_grouped;
    static constexpr bool shared_norm = false;
};

// GPT-J with 3 heads of 10, 4 of them rotated.
struct gptj_partial : base_sizes {
    static constexpr index_t hidden_size = 30;
    static constexpr index_t num_heads = 3;
    static constexpr index_t intermediate_size = 44;
    static constexpr index_t rotary_dim = 4;
};

// CTRL with 5 heads of 6.
struct ctrl_5 : base_sizes {
    static constexpr index_t hidden_size = 30;
    static constexpr index_t num_heads = 5;
    static constexpr index_t intermediate_size = 28;
    static constexpr activation hidden_act = activation::relu;
};

} // namespace

TEST_CASE("grouped QKV rows: [group][its query heads, k, v] become [q | k | v]") {
    // 6 query heads in 2 groups of 3, head_dim 2: a group is q0 q1 q2 k v (10 rows).
    std::vector<index_t> expected;
    for (index_t h = 0; h < 6; ++h) { // query head h sits at (h / 3) * 10 + (h % 3) * 2
        expected.push_back((h / 3) * 10 + (h % 3) * 2);
        expected.push_back((h / 3) * 10 + (h % 3) * 2 + 1);
    }
    for (index_t g = 0; g < 2; ++g) { // keys
        expected.push_back(g * 10 + 6);
        expected.push_back(g * 10 + 7);
    }
    for (index_t g = 0; g < 2; ++g) { // values
        expected.push_back(g * 10 + 8);
        expected.push_back(g * 10 + 9);
    }
    for (index_t r = 0; r < expected.size(); ++r) {
        CAPTURE(r);
        CHECK(detail::grouped_qkv_source_row(r, 6, 2, 2) == expected[r]);
    }
    // One query head per group is NeoX's and BLOOM's [heads][q, k, v].
    CHECK(detail::grouped_qkv_source_row(0, 4, 4, 3) == 0);
    CHECK(detail::grouped_qkv_source_row(3, 4, 4, 3) == 9);  // q of head 1
    CHECK(detail::grouped_qkv_source_row(12, 4, 4, 3) == 3); // k of head 0
    CHECK(detail::grouped_qkv_source_row(24, 4, 4, 3) == 6); // v of head 0
}

TEST_CASE("bloom with 5 heads: cache equals whole sequence past any table") {
    const auto model = test::random_model<bloom<bloom_5>>();
    test::check_incremental_decoding(*model, 70, 9);
    test::check_generation(*model);
}

TEST_CASE("gpt_neox, sequential residual, partial rotary: cache equals whole sequence") {
    const auto model = test::random_model<gpt_neox<neox_sequential>>();
    test::check_incremental_decoding(*model, 29, 4);
}

TEST_CASE("falcon with grouped KV and two norms: cache equals whole sequence") {
    const auto model = test::random_model<falcon<falcon_grouped>>();
    test::check_incremental_decoding(*model, 31, 1);
    test::check_generation(*model);
}

TEST_CASE("gptj with a partial interleaved rotary: cache equals whole sequence") {
    const auto model = test::random_model<gptj<gptj_partial>>();
    test::check_incremental_decoding(*model, 17, 5);
}

TEST_CASE("ctrl with 5 heads: cache equals whole sequence; positions are bounded") {
    const auto model = test::random_model<ctrl<ctrl_5>>();
    test::check_incremental_decoding(*model, 48, 20);
    CHECK_THROWS_AS((void)model->new_session(49), shape_error);
}
