#include <ctt/io/parameter_loader.hpp>
#include <ctt/models/generation.hpp>
#include <ctt/models/t5.hpp>

#include <doctest/doctest.h>

#include "../support/golden_case.hpp"

namespace {

struct tiny_t5 {
    static constexpr ctt::index_t vocab_size = 256;
    static constexpr ctt::index_t d_model = 64;
    static constexpr ctt::index_t d_kv = 16;
    static constexpr ctt::index_t num_heads = 4;
    static constexpr ctt::index_t d_ff = 128;
    static constexpr ctt::index_t num_layers = 2;
    static constexpr ctt::index_t num_decoder_layers = 2;
    static constexpr ctt::index_t num_buckets = 16;
    static constexpr ctt::index_t max_distance = 12;
    static constexpr float layer_norm_eps = 1e-6f;
    static constexpr ctt::activation dense_act = ctt::activation::relu;
    static constexpr bool gated = false;
    static constexpr bool tie_word_embeddings = true;
    static constexpr bool scale_decoder_outputs = true;
    static constexpr int decoder_start_token_id = 0;
};

template <class T>
std::span<const T> all(const std::vector<T>& v) {
    return {v.data(), v.size()};
}

} // namespace

TEST_CASE("t5 reproduces HF T5ForConditionalGeneration, greedy generation through the caches") {
    using namespace ctt;
    using model_type = t5<tiny_t5>;
    const auto c = test::golden_case::hf("t5");
    auto model = std::make_unique<model_type>();
    load_parameters(*model, c.model);
    const index_t batch = c.dim("B");
    const index_t length = c.dim("S");
    constexpr index_t H = model_type::hidden;
    constexpr index_t V = model_type::vocab;
    const auto ids = c.io.load_ints("input_ids");
    const auto mask = c.io.load_ints("attention_mask");
    const token_ids ids_v(ids.data(), shape<dyn, dyn>(batch, length));
    const token_ids mask_v(mask.data(), shape<dyn, dyn>(batch, length));
    const auto enc = model->encode(ids_v, &mask_v);
    CHECK(test::within_tolerance_masked({enc.states.data(), enc.states.size()},
                                        all(c.io.load_floats("encoder_last_hidden_state")),
                                        all(mask), H));

    const auto dec_ids = c.io.load_ints("decoder_input_ids");
    const index_t dec_length = dec_ids.size() / batch;
    const auto ref_logits = c.io.load_floats("logits");
    const auto ref_hidden = c.io.load_floats("decoder_hidden_states");
    const auto ref_generated = c.io.load_ints("generated_ids");
    const index_t generated_length = ref_generated.size() / batch;
    for (index_t b = 0; b < batch; ++b) {
        CAPTURE(b);
        auto session = model->new_session(enc, b, dec_length);
        tensor<float, shape<dyn, V>> logits(dec_length);
        std::vector<tensor<float, shape<dyn, H>>> hidden;
        model->step(session, {dec_ids.data() + b * dec_length, dec_length}, logits.view(), &hidden);
        CHECK(test::within_tolerance({logits.data(), logits.size()},
                                     {ref_logits.data() + b * dec_length * V, dec_length * V}));
        const index_t layers = ref_hidden.size() / (batch * dec_length * H);
        REQUIRE(hidden.size() == layers);
        for (index_t l = 0; l < layers; ++l) {
            CAPTURE(l);
            CHECK(test::within_tolerance(
                {hidden[l].data(), hidden[l].size()},
                {ref_hidden.data() + (l * batch + b) * dec_length * H, dec_length * H}));
        }
        auto gen_session = model->new_session(enc, b, generated_length);
        const std::int32_t start = tiny_t5::decoder_start_token_id;
        const auto generated =
            generate_with(*model, gen_session, std::span(&start, 1), generated_length - 1);
        const std::vector<std::int32_t> expected(ref_generated.begin() + b * generated_length,
                                                 ref_generated.begin() +
                                                     (b + 1) * generated_length);
        CHECK(generated == expected);
    }
}
