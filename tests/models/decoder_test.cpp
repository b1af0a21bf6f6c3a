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

namespace {
/// The golden LLaMA, its sessions holding keys and values in bfloat16.
struct tiny_llama_bf16_cache : tiny_llama {
    static constexpr ctt::weight_type kv_cache_storage = ctt::weight_type::bf16;
};
} // namespace

TEST_CASE("llama with a bf16 KV cache: HF's logits within bf16's precision, its greedy ids, and "
          "the prompt at once as token by token") {
    using namespace ctt;
    using model_type = llama<tiny_llama_bf16_cache>;
    static_assert(model_type::session_type::storage == weight_type::bf16);
    static_assert(llama<tiny_llama>::session_type::storage == weight_type::f32);
    constexpr index_t V = model_type::vocab;
    const auto c = test::golden_case::hf("llama");
    auto model = std::make_unique<model_type>();
    load_parameters(*model, c.model);
    const auto ids = c.io.load_ints("input_ids");
    const index_t batch = c.dim("B");
    const index_t length = c.dim("S");
    const auto ref_logits = c.io.load_floats("logits");
    const auto ref_generated = c.io.load_ints("generated_ids");
    const index_t generated_length = ref_generated.size() / batch;
    for (index_t b = 0; b < batch; ++b) {
        CAPTURE(b);
        const std::span<const std::int32_t> prompt(ids.data() + b * length, length);
        auto session = model->new_session(length);
        tensor<float, shape<dyn, V>> logits(length);
        model->step(session, prompt, logits.view());
        const std::span<const float> ref(ref_logits.data() + b * length * V, length * V);
        // Keys and values rounded once (relative error up to 2^-9): the logits move by up to
        // 0.014 here (0.35% of the largest), beyond the f32 tolerance (2e-4).
        const auto report = test::within_tolerance({logits.data(), logits.size()}, ref, 1e-2);
        CHECK_MESSAGE(report, report.message());
        MESSAGE("bf16 KV cache, sequence " << b << ": " << report.message());
        CHECK_FALSE(test::within_tolerance({logits.data(), logits.size()}, ref));

        // Token by token, the decode kernel reads the same rounded keys and values as the
        // prompt's kernel did: only the order of float sums differs.
        auto stepped = model->new_session(length);
        tensor<float, shape<dyn, V>> last(1);
        for (index_t t = 0; t < length; ++t) {
            model->step(stepped, prompt.subspan(t, 1), last.view());
            CAPTURE(t);
            const auto same = test::within_tolerance(
                {last.data(), V}, {logits.data() + t * V, static_cast<std::size_t>(V)}, 1e-5);
            CHECK_MESSAGE(same, same.message());
        }

        const auto generated = generate(*model, prompt, generated_length - length);
        const std::vector<std::int32_t> expected(ref_generated.begin() + b * generated_length,
                                                 ref_generated.begin() +
                                                     (b + 1) * generated_length);
        CHECK(generated == expected);
    }
}
