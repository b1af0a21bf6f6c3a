// DeBERTa, ViT and CLIP at sizes unlike the shipped reference cases: spans shorter than the
// sequence (clamped relative positions), log buckets, head counts that are not powers of two,
// patch grids of 3 x 3 over 2 channels, and CLIP's causal text tower.
#include <ctt/models/clip.hpp>
#include <ctt/models/deberta.hpp>
#include <ctt/models/vit.hpp>

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "../support/encoder_checks.hpp"
#include "../support/tiny_models.hpp"

namespace {

using namespace ctt;
using test::check_batch_invariance;
using test::random_model;

struct deberta_v1_short_span {
    static constexpr index_t vocab_size = 53;
    static constexpr index_t hidden_size = 28;
    static constexpr index_t num_heads = 7; // head_dim 4
    static constexpr index_t intermediate_size = 36;
    static constexpr index_t num_layers = 2;
    static constexpr index_t max_positions = 24;
    static constexpr index_t type_vocab_size = 0;
    static constexpr activation hidden_act = activation::gelu_erf;
    static constexpr float norm_eps = 1e-7f;
    static constexpr int max_relative_positions = 5; // shorter than the sequences: clamped
    static constexpr encoder_heads heads = encoder_heads::masked_lm;
};

struct deberta_v2_buckets {
    static constexpr index_t vocab_size = 53;
    static constexpr index_t hidden_size = 36;
    static constexpr index_t num_heads = 6;
    static constexpr index_t intermediate_size = 30;
    static constexpr index_t num_layers = 2;
    static constexpr index_t max_positions = 40;
    static constexpr index_t type_vocab_size = 2;
    static constexpr activation hidden_act = activation::gelu_tanh;
    static constexpr float norm_eps = 1e-7f;
    static constexpr position_embedding positions = position_embedding::learned;
    static constexpr int position_buckets = 6;
    static constexpr int max_relative_positions = 20;
    static constexpr bool share_att_key = false;
    static constexpr bool norm_rel_ebd = false;
    static constexpr bool pos_att_c2p = true;
    static constexpr bool pos_att_p2c = false;
    static constexpr encoder_heads heads = encoder_heads::masked_lm;
};

using test::vit_small_grid;

struct clip_odd {
    struct text {
        static constexpr index_t vocab_size = 40;
        static constexpr index_t hidden_size = 20;
        static constexpr index_t num_heads = 5;
        static constexpr index_t intermediate_size = 24;
        static constexpr index_t num_layers = 2;
        static constexpr index_t max_positions = 12;
        static constexpr activation hidden_act = activation::quick_gelu;
        static constexpr float norm_eps = 1e-5f;
        static constexpr int eos_token_id = 39;
    };
    struct vision {
        static constexpr index_t hidden_size = 18;
        static constexpr index_t num_heads = 3;
        static constexpr index_t intermediate_size = 22;
        static constexpr index_t num_layers = 1;
        static constexpr index_t image_size = 12;
        static constexpr index_t patch_size = 4;
        static constexpr index_t num_channels = 3;
        static constexpr activation hidden_act = activation::quick_gelu;
        static constexpr float norm_eps = 1e-5f;
    };
    static constexpr index_t projection_dim = 7;
};

// A config from before eos_token_id was set: HF pools at the largest id.
struct clip_legacy_eos : clip_odd {
    struct text : clip_odd::text {
        static constexpr int eos_token_id = 2;
    };
};

std::vector<float> random_pixels(index_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> p(n);
    for (auto& x : p) {
        x = normal(rng);
    }
    return p;
}

/// Copies the patch convolution, its bias and the position table out of a model.
struct weight_grabber {
    std::vector<float> conv, bias, pos;
    template <class T, tensor_shape S>
    void parameter(const std::string& name, tensor_view<T, S> v) {
        auto* target = name.ends_with("projection.weight")     ? &conv
                       : name.ends_with("projection.bias")     ? &bias
                       : name.ends_with("position_embeddings") ? &pos
                                                               : nullptr;
        if (target != nullptr) {
            target->assign(v.data(), v.data() + v.size());
        }
    }
    void ignore(const std::string&) {}
};

} // namespace

TEST_CASE("deberta v1: a span shorter than the sequence, 7 heads of 4") {
    using model_type = deberta<deberta_v1_short_span>;
    static_assert(model_type::relative_span() == 5);
    const auto model = random_model<model_type>();
    check_batch_invariance(*model, 16, {16, 11, 3}, 21);
}

TEST_CASE("deberta v2: log buckets, c2p only, learned positions in the input") {
    using model_type = deberta_v2<deberta_v2_buckets>;
    static_assert(model_type::relative_span() == 6);
    const auto model = random_model<model_type>();
    check_batch_invariance(*model, 19, {19, 8}, 23, 2);
}

TEST_CASE("vit on a 3 x 3 grid of 2 channels: images of a batch are independent") {
    using model_type = vit<vit_small_grid>;
    const auto model = random_model<model_type>();
    const auto pixels = random_pixels(3 * 2 * 15 * 15, 5);
    const pixel_values all(pixels.data(), shape<dyn, dyn, dyn, dyn>(3, 2, 15, 15));
    const auto together = model->forward_pixels(all, true);
    CHECK(together.last_hidden_state.rows() == 3 * 10);
    CHECK(together.hidden_states.size() == 3);
    for (index_t b = 0; b < 3; ++b) {
        CAPTURE(b);
        const pixel_values one(pixels.data() + b * 2 * 15 * 15,
                               shape<dyn, dyn, dyn, dyn>(1, 2, 15, 15));
        const auto alone = model->forward_pixels(one, true);
        test::check_same_bits<model_type>(together, b, alone, 10);
    }
    // Sizes that do not fit are refused, by name.
    const pixel_values odd(pixels.data(), shape<dyn, dyn, dyn, dyn>(1, 2, 14, 15));
    CHECK_THROWS_WITH_AS((void)model->forward_pixels(odd), doctest::Contains("patches of 5"),
                         shape_error);
    const pixel_values bigger(pixels.data(), shape<dyn, dyn, dyn, dyn>(1, 2, 10, 10));
    CHECK_THROWS_WITH_AS((void)model->forward_pixels(bigger), doctest::Contains("image_size"),
                         shape_error);
    const pixel_values channels(pixels.data(), shape<dyn, dyn, dyn, dyn>(1, 3, 15, 15));
    CHECK_THROWS_WITH_AS((void)model->forward_pixels(channels), doctest::Contains("num_channels"),
                         shape_error);
}

TEST_CASE("vit: the patch embedding is the convolution of each patch") {
    using model_type = vit<vit_small_grid>;
    auto model = std::make_unique<model_type>();
    test::random_filler filler;
    model->visit_parameters(filler, "");
    const auto pixels = random_pixels(2 * 15 * 15, 9);
    const pixel_values one(pixels.data(), shape<dyn, dyn, dyn, dyn>(1, 2, 15, 15));
    const auto out = model->forward_pixels(one, true);
    // hidden_states[0] is the embedding output; recompute patch 4 (gy 1, gx 1) by hand.
    weight_grabber weights;
    model->visit_parameters(weights, "");
    for (index_t h = 0; h < 30; ++h) {
        double s = weights.bias[h];
        for (index_t c = 0; c < 2; ++c) {
            for (index_t ky = 0; ky < 5; ++ky) {
                for (index_t kx = 0; kx < 5; ++kx) {
                    s += static_cast<double>(weights.conv[((h * 2 + c) * 5 + ky) * 5 + kx]) *
                         pixels[(c * 15 + 5 + ky) * 15 + 5 + kx];
                }
            }
        }
        s += weights.pos[(1 + 4) * 30 + h];
        CHECK(out.hidden_states[0](1 + 4, h) == doctest::Approx(s).epsilon(1e-4));
    }
}

TEST_CASE("clip: causal text pooled at EOS, contrastive logits of any batch sizes") {
    using model_type = clip<clip_odd>;
    const auto model = random_model<model_type>();
    // Causal: a token's state does not depend on the tokens after it.
    auto ids = test::random_tokens(2 * 9, 39, 4); // ids < 39: no EOS yet
    ids[6] = 39;                                  // row 0: EOS at 6
    ids[9 + 3] = 39;                              // row 1: EOS at 3
    const token_ids v(ids.data(), shape<dyn, dyn>(2, 9));
    CHECK(model_type::eos_position({ids.data(), 9}) == 6);
    CHECK(model_type::eos_position({ids.data() + 9, 9}) == 3);
    const std::vector<std::int32_t> legacy = {4, 2, 30, 7, 30};
    CHECK(clip<clip_legacy_eos>::eos_position(legacy) == 2); // the first largest id, not id 2
    tensor<float, shape<dyn, 20>> states;
    const auto text = model->text_embeddings(v, nullptr, &states);
    const token_ids prefix(ids.data(), shape<dyn, dyn>(1, 7));
    tensor<float, shape<dyn, 20>> prefix_states;
    const auto text0 = model->text_embeddings(prefix, nullptr, &prefix_states);
    CHECK(test::max_diff(test::rows_of(states, 0, 7), test::rows_of(prefix_states, 0, 7)) < 1e-5);
    CHECK(test::max_diff(test::rows_of(text, 0, 1), test::rows_of(text0, 0, 1)) < 1e-5);
    // Unit embeddings; logits_per_image = exp(logit_scale) * cosine.
    const auto pixels = random_pixels(3 * 3 * 12 * 12, 8);
    const pixel_values images(pixels.data(), shape<dyn, dyn, dyn, dyn>(3, 3, 12, 12));
    const auto out = model->forward(v, images);
    CHECK(out.logits_per_image.rows() == 3);
    CHECK(out.logits_per_image.cols() == 2);
    const auto cos = cosine_similarity(out.image_embeds.view(), out.text_embeds.view());
    const double ratio = out.logits_per_image(0, 0) / cos(0, 0);
    for (index_t i = 0; i < 3; ++i) {
        for (index_t j = 0; j < 2; ++j) {
            CHECK(out.logits_per_image(i, j) == doctest::Approx(ratio * cos(i, j)).epsilon(1e-4));
        }
    }
}
