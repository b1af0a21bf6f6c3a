#include <ctt/io/parameter_loader.hpp>
#include <ctt/models/generation.hpp>
#include <ctt/models/gpt2.hpp>
#include <ctt/models/llama.hpp>

#include <doctest/doctest.h>

#include "../support/golden_case.hpp"

namespace {

struct tiny_gpt2 {
    static constexpr ctt::index_t vocab_size = 256;
    static constexpr ctt::index_t hidden_size = 64;
    static constexpr ctt::index_t num_heads = 4;
    static constexpr ctt::index_t intermediate_size = 128;
    static constexpr ctt::index_t num_layers = 2;
    static constexpr ctt::index_t max_positions = 64;
    static constexpr ctt::activation hidden_act = ctt::activation::gelu_tanh;
    static constexpr float norm_eps = 1e-5f;
};

struct tiny_llama {
    static constexpr ctt::index_t vocab_size = 256;
    static constexpr ctt::index_t hidden_size = 64;
    static constexpr ctt::index_t num_heads = 4;
    static constexpr ctt::index_t num_kv_heads = 2;
    static constexpr ctt::index_t head_dim = 16;
    static constexpr ctt::index_t intermediate_size = 128;
    static constexpr ctt::index_t num_layers = 2;
    static constexpr ctt::index_t max_positions = 64;
    static constexpr ctt::activation hidden_act = ctt::activation::silu;
    static constexpr float norm_eps = 1e-6f;
    static constexpr double rope_theta = 10000.0;
    static constexpr bool qkv_bias = false;
    static constexpr bool out_bias = false;
    static constexpr bool ffn_bias = false;
    static constexpr bool tie_word_embeddings = false;
};

template <class T>
std::span<const T> all(const std::vector<T>& v) {
    return {v.data(), v.size()};
}

template <class Model>
void check_decoder_case(const char* name) {
    using namespace ctt;
    const auto c = test::golden_case::hf(name);
    auto model = std::make_unique<Model>();
    load_parameters(*model, c.model);
    const auto ids = c.io.load_ints("input_ids");
    const index_t batch = c.dim("B");
    const index_t length = c.dim("S");
    const auto ref_logits = c.io.load_floats("logits");
    const auto ref_hidden = c.io.load_floats("hidden_states");
    const auto ref_generated = c.io.load_ints("generated_ids");
    const index_t generated_length = ref_generated.size() / batch;
    constexpr index_t V = Model::vocab;
    constexpr index_t H = Model::hidden;
    const index_t layers = ref_hidden.size() / (batch * length * H);
    for (index_t b = 0; b < batch; ++b) {
        CAPTURE(b);
        const std::span<const std::int32_t> prompt(ids.data() + b * length, length);
        auto session = model->new_session(length);
        tensor<float, shape<dyn, V>> logits(length);
        std::vector<tensor<float, shape<dyn, H>>> hidden;
        model->step(session, prompt, logits.view(), &hidden);
        CHECK(test::within_tolerance({logits.data(), logits.size()},
                                     {ref_logits.data() + b * length * V, length * V}));
        REQUIRE(hidden.size() == layers);
        for (index_t l = 0; l < layers; ++l) {
            CAPTURE(l);
            CHECK(test::within_tolerance(
                {hidden[l].data(), hidden[l].size()},
                {ref_hidden.data() + (l * batch + b) * length * H, length * H}));
        }
        const auto generated = generate(*model, prompt, generated_length - length);
        const std::vector<std::int32_t> expected(ref_generated.begin() + b * generated_length,
                                                 ref_generated.begin() +
                                                     (b + 1) * generated_length);
        CHECK(generated == expected);
    }
}

} // namespace

TEST_CASE("gpt2 reproduces HF GPT2LMHeadModel, greedy generation through the KV cache") {
    check_decoder_case<ctt::gpt2<tiny_gpt2>>("gpt2");
}

TEST_CASE("llama reproduces HF LlamaForCausalLM, greedy generation through the KV cache") {
    check_decoder_case<ctt::llama<tiny_llama>>("llama");
}
