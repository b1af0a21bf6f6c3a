// The compile-time configurations of the small GPT-2 and LLaMA models that several tests and
// fuzz targets build: one definition, so that the same sizes mean the same type everywhere.
#pragma once

#include <ctt/core/shape.hpp>
#include <ctt/kernels/activations.hpp>

namespace ctt::test {

/// A GPT-2 configuration (`ctt::gpt2<gpt2_sizes<...>>`) of the given sizes.
template <index_t Vocab, index_t Hidden, index_t Heads, index_t Inner, index_t Layers,
          index_t Positions>
struct gpt2_sizes {
    static constexpr index_t vocab_size = Vocab;
    static constexpr index_t hidden_size = Hidden;
    static constexpr index_t num_heads = Heads;
    static constexpr index_t intermediate_size = Inner;
    static constexpr index_t num_layers = Layers;
    static constexpr index_t max_positions = Positions;
    static constexpr activation hidden_act = activation::gelu_tanh;
    static constexpr float norm_eps = 1e-5f;
};

/// The shipped `tests/data/hf/gpt2` case.
using tiny_gpt2 = gpt2_sizes<256, 64, 4, 128, 2, 64>;

/// The shipped `tests/data/hf/llama` case.
struct tiny_llama {
    static constexpr index_t vocab_size = 256;
    static constexpr index_t hidden_size = 64;
    static constexpr index_t num_heads = 4;
    static constexpr index_t num_kv_heads = 2;
    static constexpr index_t head_dim = 16;
    static constexpr index_t intermediate_size = 128;
    static constexpr index_t num_layers = 2;
    static constexpr index_t max_positions = 64;
    static constexpr activation hidden_act = activation::silu;
    static constexpr float norm_eps = 1e-6f;
    static constexpr double rope_theta = 10000.0;
    static constexpr bool qkv_bias = false;
    static constexpr bool out_bias = false;
    static constexpr bool ffn_bias = false;
    static constexpr bool tie_word_embeddings = false;
};

/// The BERT of tests/models/bert_test.cpp (the shipped `tests/data/hf/bert` case).
struct tiny_bert {
    static constexpr index_t vocab_size = 256;
    static constexpr index_t hidden_size = 64;
    static constexpr index_t num_heads = 4;
    static constexpr index_t intermediate_size = 128;
    static constexpr index_t num_layers = 2;
    static constexpr index_t max_positions = 64;
    static constexpr index_t type_vocab_size = 2;
    static constexpr activation hidden_act = activation::gelu_erf;
    static constexpr float layer_norm_eps = 1e-12f;
};

/// A ViT on a 3 x 3 grid of 5 x 5 patches of 2 channels.
struct vit_small_grid {
    static constexpr index_t hidden_size = 30;
    static constexpr index_t num_heads = 3;
    static constexpr index_t intermediate_size = 26;
    static constexpr index_t num_layers = 2;
    static constexpr index_t image_size = 15;
    static constexpr index_t patch_size = 5;
    static constexpr index_t num_channels = 2;
    static constexpr activation hidden_act = activation::gelu_erf;
    static constexpr float norm_eps = 1e-12f;
};

} // namespace ctt::test
