#include <ctt/io/parameter_loader.hpp>
#include <ctt/models/generation.hpp>
#include <ctt/models/gpt2.hpp>
#include <ctt/models/llama.hpp>

#include <doctest/doctest.h>

#include "../support/golden_case.hpp"
#include "../support/tiny_models.hpp"

namespace {

using ctt::test::tiny_gpt2;
using ctt::test::tiny_llama;

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
