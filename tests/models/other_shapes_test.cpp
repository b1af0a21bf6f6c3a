// The model families at widths, head counts, GQA ratios, layer counts, lengths and bucket
// settings unlike the shipped reference cases, with random weights. Without a reference
// implementation at hand, these check what must hold whatever the weights:
// - decoding token by token through the KV cache equals processing the whole sequence;
// - a padded sequence gives its real tokens the outputs the unpadded sequence gives;
// - sampling with a seed repeats, and greedy decoding equals temperature 0.
#include <ctt/models/bert.hpp>
#include <ctt/models/generation.hpp>
#include <ctt/models/gpt2.hpp>
#include <ctt/models/llama.hpp>
#include <ctt/models/t5.hpp>

#include <doctest/doctest.h>

#include "../support/random_model.hpp"

#include <vector>

namespace {

using namespace ctt;

using test::check_generation;
using test::check_incremental_decoding;
using test::max_diff;
using test::random_model;
using test::random_tokens;

// LLaMA with 5 query heads over 1 KV head (MQA), head_dim 12, 3 layers, a tied head.
struct llama_mqa {
    static constexpr index_t vocab_size = 97;
    static constexpr index_t hidden_size = 40;
    static constexpr index_t num_heads = 5;
    static constexpr index_t num_kv_heads = 1;
    static constexpr index_t head_dim = 12;
    static constexpr index_t intermediate_size = 72;
    static constexpr index_t num_layers = 3;
    static constexpr index_t max_positions = 80;
    static constexpr activation hidden_act = activation::silu;
    static constexpr float norm_eps = 1e-5f;
    static constexpr double rope_theta = 500000.0;
    static constexpr bool qkv_bias = true;
    static constexpr bool out_bias = true;
    static constexpr bool ffn_bias = false;
    static constexpr bool tie_word_embeddings = true;
};

// LLaMA with GQA 6:3 and a long prompt (over several attention tiles).
struct llama_gqa {
    static constexpr index_t vocab_size = 64;
    static constexpr index_t hidden_size = 48;
    static constexpr index_t num_heads = 6;
    static constexpr index_t num_kv_heads = 3;
    static constexpr index_t head_dim = 8;
    static constexpr index_t intermediate_size = 40;
    static constexpr index_t num_layers = 1;
    static constexpr index_t max_positions = 300;
    static constexpr activation hidden_act = activation::silu;
    static constexpr float norm_eps = 1e-6f;
    static constexpr double rope_theta = 10000.0;
    static constexpr bool qkv_bias = false;
    static constexpr bool out_bias = false;
    static constexpr bool ffn_bias = true;
    static constexpr bool tie_word_embeddings = false;
};

// GPT-2 with 3 heads of 16 and one layer, unscaled attention (scale_attn_weights = false).
struct gpt2_three_heads {
    static constexpr index_t vocab_size = 50;
    static constexpr index_t hidden_size = 48;
    static constexpr index_t num_heads = 3;
    static constexpr index_t intermediate_size = 100;
    static constexpr index_t num_layers = 1;
    static constexpr index_t max_positions = 40;
    static constexpr activation hidden_act = activation::gelu_tanh;
    static constexpr float norm_eps = 1e-5f;
    static constexpr float attention_scale = 1.0f;
};

// BERT with 6 heads of 6, 3 layers, 3 token types.
struct bert_six_heads {
    static constexpr index_t vocab_size = 70;
    static constexpr index_t hidden_size = 36;
    static constexpr index_t num_heads = 6;
    static constexpr index_t intermediate_size = 50;
    static constexpr index_t num_layers = 3;
    static constexpr index_t max_positions = 32;
    static constexpr index_t type_vocab_size = 3;
    static constexpr activation hidden_act = activation::gelu_erf;
    static constexpr float layer_norm_eps = 1e-12f;
};

// T5 v1.1 style: gated GELU, 3 heads of 8 over d_model 20, 8 buckets up to distance 20,
// 3 encoder and 1 decoder layer, untied head.
struct t5_gated {
    static constexpr index_t vocab_size = 60;
    static constexpr index_t d_model = 20;
    static constexpr index_t d_kv = 8;
    static constexpr index_t num_heads = 3;
    static constexpr index_t d_ff = 28;
    static constexpr index_t num_layers = 3;
    static constexpr index_t num_decoder_layers = 1;
    static constexpr index_t num_buckets = 8;
    static constexpr index_t max_distance = 20;
    static constexpr float layer_norm_eps = 1e-6f;
    static constexpr activation dense_act = activation::gelu_tanh;
    static constexpr bool gated = true;
    static constexpr bool tie_word_embeddings = false;
    static constexpr bool scale_decoder_outputs = false;
    static constexpr int decoder_start_token_id = 0;
};

// A configuration that satisfies `t5_config` and leaves out the optional scale_decoder_outputs:
// it compiles, and the scale follows the tied head.
struct t5_without_scale_setting {
    static constexpr index_t vocab_size = 60;
    static constexpr index_t d_model = 20;
    static constexpr index_t d_kv = 8;
    static constexpr index_t num_heads = 3;
    static constexpr index_t d_ff = 28;
    static constexpr index_t num_layers = 1;
    static constexpr index_t num_decoder_layers = 1;
    static constexpr index_t num_buckets = 8;
    static constexpr index_t max_distance = 20;
    static constexpr float layer_norm_eps = 1e-6f;
    static constexpr activation dense_act = activation::relu;
    static constexpr bool gated = false;
    static constexpr bool tie_word_embeddings = true;
    static constexpr int decoder_start_token_id = 0;
};
static_assert(t5_config<t5_without_scale_setting>);
static_assert(t5<t5_without_scale_setting>::scale_decoder_outputs);
static_assert(!t5<t5_gated>::scale_decoder_outputs);

} // namespace

TEST_CASE("llama with MQA, odd head_dim and tied head: cache equals whole sequence") {
    const auto model = random_model<llama<llama_mqa>>();
    check_incremental_decoding(*model, 23, 6);
    check_generation(*model);
}

TEST_CASE("llama with GQA 6:3 over a long prompt: cache equals whole sequence") {
    const auto model = random_model<llama<llama_gqa>>();
    check_incremental_decoding(*model, 290, 200);
}

TEST_CASE("gpt2 with 3 heads and unscaled attention: cache equals whole sequence") {
    const auto model = random_model<gpt2<gpt2_three_heads>>();
    check_incremental_decoding(*model, 37, 1);
    check_generation(*model);
    auto session = model->new_session(40);
    tensor<float, shape<dyn, 50>> logits(41);
    const auto too_long = random_tokens(41, 50, 1);
    CHECK_THROWS_AS(model->step(session, too_long, logits.view()), shape_error);
}

TEST_CASE("bert with 6 heads: padding does not change the real tokens") {
    const auto model = random_model<bert<bert_six_heads>>();
    const index_t length = 11;
    const index_t real = 7;
    auto ids = random_tokens(2 * length, 70, 5);
    std::vector<std::int32_t> types(2 * length, 0);
    std::vector<std::int32_t> mask(2 * length, 1);
    for (index_t t = 0; t < length; ++t) {
        ids[length + t] = t < real ? ids[t] : 0; // row 1: row 0's first 7 tokens, then padding
        types[t] = types[length + t] = t < 4 ? 0 : 2;
        mask[length + t] = t < real ? 1 : 0;
    }
    const token_ids ids_v(ids.data(), shape<dyn, dyn>(2, length));
    const token_ids types_v(types.data(), shape<dyn, dyn>(2, length));
    const token_ids mask_v(mask.data(), shape<dyn, dyn>(2, length));
    const auto padded = model->forward(ids_v, &types_v, &mask_v);

    const token_ids short_ids(ids.data(), shape<dyn, dyn>(1, real));
    const token_ids short_types(types.data(), shape<dyn, dyn>(1, real));
    const auto alone = model->forward(short_ids, &short_types);
    const auto& a = padded.hidden_states.back();
    const auto& b = alone.hidden_states.back();
    CHECK(max_diff({a.data() + length * 36, real * 36}, {b.data(), real * 36}) < 1e-4);
    CHECK(max_diff({padded.seq_relationship_logits.data() + 2, 2},
                   {alone.seq_relationship_logits.data(), 2}) < 1e-4);
    // Row 0 has no padding but the same first 7 tokens: its outputs differ (it sees more).
    CHECK(max_diff({a.data(), real * 36}, {b.data(), real * 36}) > 1e-3);
}

TEST_CASE("t5 gated, 3 heads, 8 buckets: padding and incremental decoding") {
    using model_type = t5<t5_gated>;
    const auto model = random_model<model_type>();
    const index_t length = 9;
    const index_t real = 6;
    auto ids = random_tokens(2 * length, 60, 11);
    std::vector<std::int32_t> mask(2 * length, 1);
    for (index_t t = 0; t < length; ++t) {
        ids[length + t] = t < real ? ids[t] : 0;
        mask[length + t] = t < real ? 1 : 0;
    }
    const token_ids ids_v(ids.data(), shape<dyn, dyn>(2, length));
    const token_ids mask_v(mask.data(), shape<dyn, dyn>(2, length));
    const auto enc = model->encode(ids_v, &mask_v);
    const auto alone = model->encode(token_ids(ids.data(), shape<dyn, dyn>(1, real)));
    CHECK(max_diff({enc.states.data() + length * 20, real * 20}, {alone.states.data(), real * 20}) <
          1e-4);

    const auto dec = random_tokens(12, 60, 13);
    auto whole = model->new_session(enc, 1, 12);
    tensor<float, shape<dyn, 60>> all(12);
    model->step(whole, dec, all.view());
    auto steps = model->new_session(alone, 0, 12);
    tensor<float, shape<dyn, 60>> part(12);
    for (index_t t = 0; t < 12; ++t) {
        model->step(steps, std::span(dec).subspan(t, 1), part.view().rows(t, 1));
    }
    CHECK(max_diff({all.data(), all.size()}, {part.data(), part.size()}) < 2e-4);
}
