// The encoder families at sizes unlike the shipped reference cases (odd widths, head counts that
// are not powers of two, shared layer groups, factorised embeddings, several languages, fixed
// sinusoidal positions): batch invariance, padding, and what each slot must do.
#include <ctt/models/albert.hpp>
#include <ctt/models/distilbert.hpp>
#include <ctt/models/electra.hpp>
#include <ctt/models/roberta.hpp>
#include <ctt/models/xlm.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../support/encoder_checks.hpp"

namespace {

using namespace ctt;
using test::check_batch_invariance;
using test::random_model;

struct base_sizes {
    static constexpr index_t vocab_size = 61;
    static constexpr index_t hidden_size = 30;
    static constexpr index_t num_heads = 5; // head_dim 6
    static constexpr index_t intermediate_size = 44;
    static constexpr index_t num_layers = 2;
    static constexpr index_t max_positions = 40;
    static constexpr activation hidden_act = activation::gelu_erf;
    static constexpr float norm_eps = 1e-12f;
};

struct roberta_odd : base_sizes {
    static constexpr index_t type_vocab_size = 1;
    static constexpr int pad_token_id = 1;
};

// ALBERT: 4 layers over 2 groups of 2 inner layers (4 weight layers; layers 0-1 run group 0,
// layers 2-3 group 1, each run being its 2 inner layers), width 24 over embeddings of 14.
struct albert_groups {
    static constexpr index_t vocab_size = 47;
    static constexpr index_t hidden_size = 24;
    static constexpr index_t num_heads = 3;
    static constexpr index_t intermediate_size = 40;
    static constexpr index_t num_layers = 4;
    static constexpr index_t max_positions = 32;
    static constexpr index_t type_vocab_size = 3;
    static constexpr index_t embedding_size = 14;
    static constexpr index_t num_hidden_groups = 2;
    static constexpr index_t inner_group_num = 2;
    static constexpr activation hidden_act = activation::gelu_tanh;
    static constexpr float norm_eps = 1e-12f;
};

struct electra_small : base_sizes {
    static constexpr index_t type_vocab_size = 2;
    static constexpr index_t embedding_size = 10;
};

struct xlm_three_langs : base_sizes {
    static constexpr index_t num_langs = 3;
    static constexpr position_embedding positions = position_embedding::sinusoidal_interleaved;
};

struct distilbert_sinusoidal : base_sizes {
    static constexpr position_embedding positions = position_embedding::sinusoidal_interleaved;
    static constexpr encoder_heads heads = encoder_heads::masked_lm;
};

struct distilbert_untied : distilbert_sinusoidal {
    static constexpr bool tie_word_embeddings = false;
};

struct one_group : albert_groups {
    static constexpr index_t num_hidden_groups = 1;
    static constexpr index_t inner_group_num = 1;
    static constexpr index_t num_layers = 3;
};
struct one_layer : one_group {
    static constexpr index_t num_layers = 1;
};

struct name_recorder {
    std::vector<std::string> seen;
    template <class T, tensor_shape S>
    void parameter(const std::string& n, tensor_view<T, S>) {
        seen.push_back(n);
    }
    void ignore(const std::string&) {}
};

} // namespace

TEST_CASE("roberta: a padded batch is each row alone, bit for bit; positions follow pad ids") {
    const auto model = random_model<roberta<roberta_odd>>();
    check_batch_invariance(*model, 13, {13, 9, 4}, 3);
    // Positions: the pad id keeps position pad_token_id, so a row with pads inside differs from
    // the same tokens with another id there only at that token... but the tokens after it are
    // numbered as if it were absent.
    std::vector<std::int32_t> a = {5, 6, 7, 8, 9};
    std::vector<std::int32_t> b = {5, 6, 1, 7, 8}; // a pad (id 1) in the middle
    const token_ids av(a.data(), shape<dyn, dyn>(1, 5));
    const token_ids bv(b.data(), shape<dyn, dyn>(1, 5));
    std::vector<std::int32_t> mask_b = {1, 1, 0, 1, 1};
    const token_ids mb(mask_b.data(), shape<dyn, dyn>(1, 5));
    std::vector<std::int32_t> c = {5, 6, 7, 8};
    const token_ids cv(c.data(), shape<dyn, dyn>(1, 4));
    const auto with_pad = model->forward(bv, encoder_inputs{nullptr, &mb});
    const auto without = model->forward(cv);
    // Token 7 sits at position 3 + pad in both.
    const auto& x = with_pad.last_hidden_state;
    const auto& y = without.last_hidden_state;
    CHECK(test::max_diff({x[3].data(), 30}, {y[2].data(), 30}) < 1e-4);
    (void)av;
}

TEST_CASE("albert: shared groups, factorised embeddings, sentence order") {
    using model_type = albert<albert_groups>;
    static_assert(model_type::weight_layers == 4);
    static_assert(model_type::embedding_width == 14);
    const auto model = random_model<model_type>();
    CHECK(model->layers().size() == 4);
    check_batch_invariance(*model, 11, {11, 6}, 7, 3);
}

TEST_CASE("albert: one group run by every layer equals that group's layer repeated") {
    const auto shared = random_model<albert<one_group>>();
    const auto single = random_model<albert<one_layer>>(); // the same seed: the same weights
    auto ids = test::random_tokens(9, 47, 2);
    const token_ids v(ids.data(), shape<dyn, dyn>(1, 9));
    const auto three = shared->forward(v, encoder_inputs{nullptr, nullptr, nullptr, true});
    const auto one = single->forward(v, encoder_inputs{nullptr, nullptr, nullptr, true});
    REQUIRE(three.hidden_states.size() == 4);
    CHECK(test::rows_of(three.hidden_states[1], 0, 9) == test::rows_of(one.hidden_states[1], 0, 9));
    CHECK(test::rows_of(three.hidden_states[0], 0, 9) == test::rows_of(one.hidden_states[0], 0, 9));
    CHECK(test::rows_of(three.hidden_states[2], 0, 9) != test::rows_of(one.hidden_states[1], 0, 9));
}

TEST_CASE("electra: the discriminator over projected embeddings") {
    const auto model = random_model<electra<electra_small>>();
    check_batch_invariance(*model, 12, {5, 12}, 11, 2);
}

TEST_CASE("xlm: three languages and fixed sinusoidal positions") {
    const auto model = random_model<xlm<xlm_three_langs>>();
    check_batch_invariance(*model, 10, {10, 3, 7}, 13, 0, 3);
    // The language changes the output.
    std::vector<std::int32_t> ids = {4, 9, 12};
    std::vector<std::int32_t> l0 = {0, 0, 0};
    std::vector<std::int32_t> l2 = {2, 2, 2};
    const token_ids iv(ids.data(), shape<dyn, dyn>(1, 3));
    const token_ids v0(l0.data(), shape<dyn, dyn>(1, 3));
    const token_ids v2(l2.data(), shape<dyn, dyn>(1, 3));
    const auto a = model->forward(iv, encoder_inputs{nullptr, nullptr, &v0});
    const auto b = model->forward(iv, encoder_inputs{nullptr, nullptr, &v2});
    CHECK(test::max_diff(test::rows_of(a.last_hidden_state, 0, 3),
                         test::rows_of(b.last_hidden_state, 0, 3)) > 1e-3);
    // XLM has no token-type table: types are refused, not dropped.
    CHECK_THROWS_WITH_AS((void)model->forward(iv, encoder_inputs{&v0}),
                         doctest::Contains("no token-type embeddings"), value_error);
}

TEST_CASE("distilbert with sinusoidal positions: the interleaved table, never loaded") {
    const auto model = random_model<distilbert<distilbert_sinusoidal>>();
    check_batch_invariance(*model, 9, {9, 2}, 17);
    // The table is the fixed one: a counter of parameters does not see it.
    name_recorder visitor;
    distilbert<distilbert_sinusoidal> fresh;
    fresh.visit_parameters(visitor, "");
    for (const auto& n : visitor.seen) {
        CHECK(n.find("position_embeddings") == std::string::npos);
    }
}

TEST_CASE("an untied masked-LM decoder is a weight of its own") {
    name_recorder tied;
    distilbert<distilbert_sinusoidal>().visit_parameters(tied, "");
    name_recorder untied;
    distilbert<distilbert_untied>().visit_parameters(untied, "");
    const auto has = [](const name_recorder& r, const std::string& n) {
        return std::find(r.seen.begin(), r.seen.end(), n) != r.seen.end();
    };
    CHECK_FALSE(has(tied, "vocab_projector.weight"));
    CHECK(has(untied, "vocab_projector.weight"));
    CHECK(has(untied, "vocab_projector.bias"));
    const auto model = random_model<distilbert<distilbert_untied>>();
    check_batch_invariance(*model, 6, {6, 4}, 19);
}
