// Bad input at run time: each case expects its exception and message, and the call leaves
// nothing half-written (sessions keep their length; the sanitizer builds check the bounds).
// NaN and Inf in weights or inputs are values: they propagate to the outputs, never crash.
// The models are the small ones of the other model tests (tests/support/tiny_models.hpp).
#include <ctt/io/parameter_loader.hpp>
#include <ctt/models/bert.hpp>
#include <ctt/models/generation.hpp>
#include <ctt/models/gpt2.hpp>
#include <ctt/models/vit.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "../support/random_model.hpp"
#include "../support/tiny_models.hpp"

namespace {

using namespace ctt;
using gpt2_type = gpt2<test::tiny_gpt2>;
using bert_type = bert<test::tiny_bert>;
using vit_type = vit<test::vit_small_grid>;
constexpr index_t V = gpt2_type::vocab;
constexpr float quiet_nan = std::numeric_limits<float>::quiet_NaN();
constexpr float infinity = std::numeric_limits<float>::infinity();

/// Sets element `at` of parameter `target` to `value` (after the random fill).
struct poisoner {
    std::string target;
    float value;
    index_t at = 0;
    template <class T, tensor_shape S>
    void parameter(const std::string& name, tensor_view<T, S> v) {
        if (name == target) {
            v.data()[at] = value;
        }
    }
    void ignore(const std::string&) {}
};

/// A GPT-2 with random weights, one of them replaced by `value`.
std::unique_ptr<gpt2_type> poisoned_gpt2(const std::string& name, float value, index_t at = 0) {
    auto m = std::make_unique<gpt2_type>();
    test::random_filler filler;
    m->visit_parameters(filler, "");
    poisoner p{name, value, at};
    m->visit_parameters(p, "");
    pack_weights(*m);
    return m;
}

std::size_t count_non_finite(const float* p, std::size_t n) {
    std::size_t c = 0;
    for (std::size_t i = 0; i < n; ++i) {
        c += std::isfinite(p[i]) ? 0 : 1;
    }
    return c;
}

} // namespace

TEST_CASE("decoder: token ids outside the vocabulary are refused by value") {
    const auto model = test::random_model<gpt2_type>();
    auto session = model->new_session(8);
    tensor<float, shape<dyn, V>> logits(1);
    const std::vector<std::int32_t> negative{3, -1, 4};
    CHECK_THROWS_WITH_AS(model->step(session, negative, logits.view()),
                         "embedding_lookup: id -1 is outside the vocabulary of size 256",
                         value_error);
    const std::vector<std::int32_t> past_end{256};
    CHECK_THROWS_WITH_AS(model->step(session, past_end, logits.view()),
                         "embedding_lookup: id 256 is outside the vocabulary of size 256",
                         value_error);
    const std::vector<std::int32_t> huge{std::numeric_limits<std::int32_t>::max()};
    CHECK_THROWS_AS(model->step(session, huge, logits.view()), value_error);
    CHECK(session.length() == 0);
    CHECK_THROWS_WITH_AS((void)generate(*model, std::vector<std::int32_t>{7, -5}, 2),
                         "embedding_lookup: id -5 is outside the vocabulary of size 256",
                         value_error);
    // The session still works after the refusals.
    model->step(session, std::vector<std::int32_t>{3, 4}, logits.view());
    CHECK(session.length() == 2);
}

TEST_CASE("decoder: a sequence past the session's capacity or max_position_embeddings") {
    const auto model = test::random_model<gpt2_type>();
    tensor<float, shape<dyn, V>> logits(1);
    CHECK_THROWS_WITH_AS((void)model->new_session(65),
                         "causal_lm: session capacity and max_position_embeddings differ "
                         "(65 != 64)",
                         shape_error);
    auto small = model->new_session(4);
    CHECK_THROWS_WITH_AS(model->step(small, test::random_tokens(5, V, 1), logits.view()),
                         "kv_cache: length after append and capacity differ (5 != 4)", shape_error);
    CHECK(small.length() == 0);
    model->step(small, test::random_tokens(3, V, 2), logits.view());
    CHECK_THROWS_WITH_AS(model->step(small, test::random_tokens(2, V, 3), logits.view()),
                         "kv_cache: length after append and capacity differ (5 != 4)", shape_error);
    CHECK(small.length() == 3);

    auto full = model->new_session(64);
    model->step(full, test::random_tokens(60, V, 4), logits.view());
    CHECK_THROWS_WITH_AS(model->step(full, test::random_tokens(5, V, 5), logits.view()),
                         "causal_lm: sequence length and max_position_embeddings differ "
                         "(65 != 64)",
                         shape_error);
    CHECK(full.length() == 60);
    CHECK_THROWS_WITH_AS((void)generate(*model, test::random_tokens(60, V, 6), 5),
                         "causal_lm: session capacity and max_position_embeddings differ "
                         "(65 != 64)",
                         shape_error);
}

TEST_CASE("decoder: an empty prompt, an empty step") {
    const auto model = test::random_model<gpt2_type>();
    CHECK_THROWS_WITH_AS((void)generate(*model, std::vector<std::int32_t>{}, 3),
                         "generate: the prompt is empty", value_error);
    auto session = model->new_session(4);
    tensor<float, shape<dyn, V>> logits(1);
    CHECK_THROWS_WITH_AS(model->step(session, std::vector<std::int32_t>{}, logits.view()),
                         "causal_lm: the input is empty (a step needs at least one token)",
                         value_error);
    CHECK(session.length() == 0);
}

TEST_CASE("decoder: a session of one model is refused by another") {
    const auto a = test::random_model<gpt2_type>();
    const auto b = test::random_model<gpt2_type>();
    auto session = a->new_session(8);
    tensor<float, shape<dyn, V>> logits(1);
    a->step(session, test::random_tokens(3, V, 1), logits.view());
    CHECK_THROWS_WITH_AS(b->step(session, test::random_tokens(1, V, 2), logits.view()),
                         "causal_lm: the session was made by another model (each model runs only "
                         "the sessions of its own new_session)",
                         value_error);
    CHECK(session.length() == 3);
    auto other = b->new_session(8);
    CHECK_THROWS_AS((void)generate_with(*a, other, test::random_tokens(2, V, 3), 2), value_error);
    // A model of another configuration cannot take the session at all: its type differs.
    using other_model = gpt2<test::gpt2_sizes<256, 64, 4, 128, 1, 64>>;
    static_assert(!std::is_same_v<other_model::session_type, gpt2_type::session_type>);
}

TEST_CASE("decoder: NaN and Inf in weights or inputs propagate as values") {
    const std::vector<std::int32_t> prompt{5, 9, 17};
    SUBCASE("a NaN in the embedding row of a prompt token") {
        const auto model = poisoned_gpt2("transformer.wte.weight", quiet_nan, 9 * 64 + 3);
        auto session = model->new_session(8);
        tensor<float, shape<dyn, V>> logits(3);
        model->step(session, prompt, logits.view());
        // The tied head carries the NaN into logit 9 of every position; the row of token 9
        // is NaN from its layer norm on.
        for (index_t p = 0; p < 3; ++p) {
            CAPTURE(p);
            CHECK(std::isnan(logits(p, 9)));
        }
        CHECK(count_non_finite(logits.data() + V, V) == V);
        // Token by token, the positions before the NaN token never see it.
        auto steps = model->new_session(8);
        tensor<float, shape<dyn, V>> first(1);
        model->step(steps, std::span(prompt).first(1), first.view());
        CHECK(count_non_finite(first.data(), V) == 1);
        // Generation still chooses ids in the vocabulary, greedy and sampled.
        for (const auto& options :
             {sampling_options{}, sampling_options{.temperature = 0.8f, .top_k = 5, .seed = 1},
              sampling_options{.temperature = 1.f, .top_p = 0.9f}}) {
            const auto out = generate(*model, prompt, 4, options);
            CHECK(out.size() == 7);
            for (auto t : out) {
                CHECK(t >= 0);
                CHECK(t < static_cast<std::int32_t>(V));
            }
        }
    }
    SUBCASE("an Inf in a layer's weights") {
        const auto model = poisoned_gpt2("transformer.h.0.mlp.c_fc.weight", infinity);
        tensor<float, shape<dyn, V>> logits(3);
        auto session = model->new_session(8);
        model->step(session, prompt, logits.view());
        CHECK(count_non_finite(logits.data(), logits.size()) > 0);
        CHECK(generate(*model, prompt, 3, {.temperature = 1.f, .seed = 4}).size() == 6);
    }
    SUBCASE("NaN and Inf input embeddings") {
        const auto model = test::random_model<gpt2_type>();
        tensor<float, shape<dyn, gpt2_type::hidden>> input(2);
        input(0, 0) = quiet_nan;
        input(1, 1) = -infinity;
        tensor<float, shape<dyn, V>> logits(2);
        auto session = model->new_session(4);
        model->step_embeddings(session, input.view(), logits.view());
        CHECK(count_non_finite(logits.data(), logits.size()) == logits.size());
        CHECK(session.length() == 2);
    }
}

TEST_CASE("encoder: mask and type shapes that do not match the batch") {
    const auto model = test::random_model<bert_type>();
    const auto ids = test::random_tokens(2 * 6, bert_type::vocab, 1);
    const token_ids ids_v(ids.data(), shape<dyn, dyn>(2, 6));
    const std::vector<std::int32_t> ones(2 * 7, 1);
    const token_ids one_row(ones.data(), shape<dyn, dyn>(1, 6));
    CHECK_THROWS_WITH_AS((void)model->forward(ids_v, encoder_inputs{nullptr, &one_row}),
                         "attention_mask: rows and batch differ (1 != 2)", shape_error);
    const token_ids long_rows(ones.data(), shape<dyn, dyn>(2, 7));
    CHECK_THROWS_WITH_AS((void)model->forward(ids_v, encoder_inputs{nullptr, &long_rows}),
                         "attention_mask: columns and length differ (7 != 6)", shape_error);
    CHECK_THROWS_WITH_AS((void)model->forward(ids_v, encoder_inputs{&long_rows, nullptr}),
                         "token_type_ids: columns and length differ (7 != 6)", shape_error);
    const std::vector<std::int32_t> types{0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    const token_ids types_v(types.data(), shape<dyn, dyn>(2, 6));
    CHECK_THROWS_WITH_AS((void)model->forward(ids_v, encoder_inputs{&types_v, nullptr}),
                         "embedding_lookup_add: id 2 is outside the vocabulary of size 2",
                         value_error);
    const auto too_long = test::random_tokens(65, bert_type::vocab, 2);
    CHECK_THROWS_WITH_AS(
        (void)model->forward(token_ids(too_long.data(), shape<dyn, dyn>(1, 65))),
        "encoder_model: sequence length and max_position_embeddings differ (65 != 64)",
        shape_error);
    std::vector<std::int32_t> bad_ids = ids;
    bad_ids[7] = -3;
    CHECK_THROWS_WITH_AS((void)model->forward(token_ids(bad_ids.data(), shape<dyn, dyn>(2, 6))),
                         "embedding_lookup: id -3 is outside the vocabulary of size 256",
                         value_error);
}

TEST_CASE("vision: images of the wrong size or channels") {
    const auto model = test::random_model<vit_type>();
    std::vector<float> pixels(2 * 3 * 20 * 20, 0.5f);
    const auto image = [&](index_t b, index_t c, index_t h, index_t w) {
        return pixel_values(pixels.data(), shape<dyn, dyn, dyn, dyn>(b, c, h, w));
    };
    CHECK_THROWS_WITH_AS((void)model->forward_pixels(image(1, 3, 15, 15)),
                         "pixel_values: channels and num_channels differ (3 != 2)", shape_error);
    CHECK_THROWS_WITH_AS((void)model->forward_pixels(image(1, 2, 20, 20)),
                         "pixel_values: height and image_size differ (20 != 15)", shape_error);
    CHECK_THROWS_AS((void)model->forward_pixels(image(1, 2, 15, 14)), shape_error);
    CHECK_THROWS_AS((void)model->forward_pixels(image(1, 2, 15, 20)), shape_error);
    // NaN pixels are values.
    pixels[3] = quiet_nan;
    const auto out = model->forward_pixels(image(2, 2, 15, 15));
    CHECK(count_non_finite(out.last_hidden_state.data(), out.last_hidden_state.size()) > 0);
}
