#pragma once
/**
 * @file
 * @brief Random-weight checkpoints in Hugging Face layout (`config.json` + `model.safetensors`)
 *        for a LLaMA or a GPT-2 of any size, so that benchmarks need no download:
 *        `ctt-random-checkpoint` writes one from the command line, `ctt_add_hf_model` builds it.
 *
 * Weights are N(0, 0.02^2) (norm scales 1, biases 0), each tensor from its own seed (the
 * checkpoint's seed and the tensor's name), streamed to disk one tensor at a time, so a 4 GB
 * checkpoint never sits in memory. F32, F16 and BF16 storage.
 */

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctt/core/errors.hpp"
#include "ctt/io/safetensors_writer.hpp"

namespace ctt {

/// The sizes of a random checkpoint (HF config names in comments).
struct random_checkpoint_spec {
    std::string family = "llama"; ///< "llama" or "gpt2"
    index_t hidden = 768;         ///< hidden_size / n_embd
    index_t intermediate = 2048;  ///< intermediate_size / n_inner
    index_t heads = 12;           ///< num_attention_heads / n_head
    index_t kv_heads = 0;         ///< num_key_value_heads (LLaMA; 0: as many as heads)
    index_t layers = 12;          ///< num_hidden_layers / n_layer
    index_t vocab = 32000;        ///< vocab_size
    index_t max_positions = 2048; ///< max_position_embeddings / n_positions
    dtype storage = dtype::f32;   ///< F32, F16 or BF16
    std::uint64_t seed = 1;
};

namespace detail {

inline const char* torch_dtype_name(dtype t) {
    switch (t) {
    case dtype::f16:
        return "float16";
    case dtype::bf16:
        return "bfloat16";
    default:
        return "float32";
    }
}

/// Adds a tensor of N(0, 0.02^2) (or the constant `fill`) seeded by the spec and its name.
inline void add_random(safetensors_writer& w, const random_checkpoint_spec& s, std::string name,
                       std::vector<index_t> shape, float fill = 0.f, bool constant = false) {
    const std::uint64_t seed = s.seed * 0x9E3779B97F4A7C15ull ^ std::hash<std::string>{}(name);
    w.add_floats(std::move(name), std::move(shape), s.storage,
                 [seed, fill, constant](std::span<float> out) {
                     if (constant) {
                         std::fill(out.begin(), out.end(), fill);
                         return;
                     }
                     std::mt19937_64 rng(seed);
                     std::normal_distribution<float> normal(0.f, 0.02f);
                     for (auto& x : out) {
                         x = normal(rng);
                     }
                 });
}

} // namespace detail

/**
 * @brief Writes `dir/config.json` and `dir/model.safetensors` for `spec` (the directory is
 *        created). Returns the bytes of weights written.
 * @throws value_error for sizes the family cannot have, io_error when writing fails.
 */
inline std::uint64_t write_random_checkpoint(const std::filesystem::path& dir,
                                             const random_checkpoint_spec& spec) {
    const auto& s = spec;
    const index_t kv_heads = s.kv_heads == 0 ? s.heads : s.kv_heads;
    if (s.hidden == 0 || s.heads == 0 || s.hidden % s.heads != 0 || s.heads % kv_heads != 0 ||
        s.layers == 0 || s.vocab == 0 || s.intermediate == 0 || s.max_positions == 0) {
        throw value_error("random checkpoint: the hidden size must divide into the heads, the "
                          "heads into the key/value heads, and every size must be positive");
    }
    if (s.storage != dtype::f32 && s.storage != dtype::f16 && s.storage != dtype::bf16) {
        throw value_error("random checkpoint: weights are stored as F32, F16 or BF16");
    }
    const index_t head_dim = s.hidden / s.heads;
    nlohmann::ordered_json config;
    safetensors_writer w;
    w.set_metadata("format", "pt");
    if (s.family == "llama") {
        config = {{"architectures", {"LlamaForCausalLM"}},
                  {"model_type", "llama"},
                  {"hidden_size", s.hidden},
                  {"intermediate_size", s.intermediate},
                  {"num_attention_heads", s.heads},
                  {"num_key_value_heads", kv_heads},
                  {"num_hidden_layers", s.layers},
                  {"vocab_size", s.vocab},
                  {"max_position_embeddings", s.max_positions},
                  {"hidden_act", "silu"},
                  {"rms_norm_eps", 1e-5},
                  {"rope_theta", 10000.0},
                  {"tie_word_embeddings", false},
                  {"torch_dtype", detail::torch_dtype_name(s.storage)}};
        detail::add_random(w, s, "model.embed_tokens.weight", {s.vocab, s.hidden});
        for (index_t i = 0; i < s.layers; ++i) {
            const std::string p = "model.layers." + std::to_string(i) + ".";
            detail::add_random(w, s, p + "input_layernorm.weight", {s.hidden}, 1.f, true);
            detail::add_random(w, s, p + "self_attn.q_proj.weight", {s.hidden, s.hidden});
            detail::add_random(w, s, p + "self_attn.k_proj.weight",
                               {kv_heads * head_dim, s.hidden});
            detail::add_random(w, s, p + "self_attn.v_proj.weight",
                               {kv_heads * head_dim, s.hidden});
            detail::add_random(w, s, p + "self_attn.o_proj.weight", {s.hidden, s.hidden});
            detail::add_random(w, s, p + "post_attention_layernorm.weight", {s.hidden}, 1.f, true);
            detail::add_random(w, s, p + "mlp.gate_proj.weight", {s.intermediate, s.hidden});
            detail::add_random(w, s, p + "mlp.up_proj.weight", {s.intermediate, s.hidden});
            detail::add_random(w, s, p + "mlp.down_proj.weight", {s.hidden, s.intermediate});
        }
        detail::add_random(w, s, "model.norm.weight", {s.hidden}, 1.f, true);
        detail::add_random(w, s, "lm_head.weight", {s.vocab, s.hidden});
    } else if (s.family == "gpt2") {
        if (kv_heads != s.heads) {
            throw value_error("random checkpoint: GPT-2 has no grouped key/value heads");
        }
        config = {{"architectures", {"GPT2LMHeadModel"}},
                  {"model_type", "gpt2"},
                  {"n_embd", s.hidden},
                  {"n_inner", s.intermediate},
                  {"n_head", s.heads},
                  {"n_layer", s.layers},
                  {"vocab_size", s.vocab},
                  {"n_positions", s.max_positions},
                  {"activation_function", "gelu_new"},
                  {"layer_norm_epsilon", 1e-5},
                  {"tie_word_embeddings", true},
                  {"torch_dtype", detail::torch_dtype_name(s.storage)}};
        detail::add_random(w, s, "transformer.wte.weight", {s.vocab, s.hidden});
        detail::add_random(w, s, "transformer.wpe.weight", {s.max_positions, s.hidden});
        for (index_t i = 0; i < s.layers; ++i) {
            const std::string p = "transformer.h." + std::to_string(i) + ".";
            for (const char* ln : {"ln_1.", "ln_2."}) {
                detail::add_random(w, s, p + ln + "weight", {s.hidden}, 1.f, true);
                detail::add_random(w, s, p + ln + "bias", {s.hidden}, 0.f, true);
            }
            // Conv1D: [in, out].
            detail::add_random(w, s, p + "attn.c_attn.weight", {s.hidden, 3 * s.hidden});
            detail::add_random(w, s, p + "attn.c_attn.bias", {3 * s.hidden}, 0.f, true);
            detail::add_random(w, s, p + "attn.c_proj.weight", {s.hidden, s.hidden});
            detail::add_random(w, s, p + "attn.c_proj.bias", {s.hidden}, 0.f, true);
            detail::add_random(w, s, p + "mlp.c_fc.weight", {s.hidden, s.intermediate});
            detail::add_random(w, s, p + "mlp.c_fc.bias", {s.intermediate}, 0.f, true);
            detail::add_random(w, s, p + "mlp.c_proj.weight", {s.intermediate, s.hidden});
            detail::add_random(w, s, p + "mlp.c_proj.bias", {s.hidden}, 0.f, true);
        }
        detail::add_random(w, s, "transformer.ln_f.weight", {s.hidden}, 1.f, true);
        detail::add_random(w, s, "transformer.ln_f.bias", {s.hidden}, 0.f, true);
    } else {
        throw value_error("random checkpoint: the family is \"llama\" or \"gpt2\", not \"" +
                          s.family + "\"");
    }
    std::filesystem::create_directories(dir);
    {
        std::ofstream out(dir / "config.json");
        out << config.dump(1) << "\n";
        if (!out) {
            throw io_error("random checkpoint: cannot write " + (dir / "config.json").string());
        }
    }
    w.write(dir / "model.safetensors");
    return w.data_bytes();
}

} // namespace ctt
