// CoCa at sizes unlike the shipped case (tests/conformance holds open_clip's numbers): a vision
// tower wider than the embedding (the pooler's separate projections), odd head counts and grids,
// decoder and towers of different depths; batch invariance, unit embeddings, open_clip's pad
// mask in both layouts, and the refusals.
#include <ctt/models/coca.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "../support/random_model.hpp"

namespace {

using namespace ctt;

struct coca_small {
    static constexpr index_t embed_dim = 20;
    static constexpr activation hidden_act = activation::gelu_erf;
    static constexpr float norm_eps = 1e-5f;
    struct vision {
        static constexpr index_t image_size = 12;
        static constexpr index_t patch_size = 4;
        static constexpr index_t width = 24;
        static constexpr index_t layers = 1;
        static constexpr index_t heads = 4;
        static constexpr index_t intermediate_size = 40;
        static constexpr index_t pooler_queries = 4;
        static constexpr index_t pooler_heads = 2;
    };
    struct text {
        static constexpr index_t vocab_size = 37;
        static constexpr index_t context_length = 9;
        static constexpr index_t width = 20;
        static constexpr index_t layers = 2;
        static constexpr index_t heads = 5;
        static constexpr index_t intermediate_size = 30;
        static constexpr int pad_id = 0;
    };
    struct multimodal {
        static constexpr index_t context_length = 9;
        static constexpr index_t layers = 3;
        static constexpr index_t heads = 4;
        static constexpr index_t intermediate_size = 36;
    };
};

struct coca_correct_mask : coca_small {
    struct text : coca_small::text {
        static constexpr bool correct_cls_mask = true;
    };
};

std::vector<float> random_pixels(index_t batch, index_t size, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> p(batch * 3 * size * size);
    for (auto& x : p) {
        x = normal(rng);
    }
    return p;
}

pixel_values pixels_of(const std::vector<float>& p, index_t batch, index_t size) {
    return pixel_values(p.data(), shape<dyn, dyn, dyn, dyn>(batch, 3, size, size));
}

} // namespace

TEST_CASE("coca at other sizes: each row alone equals the batch, embeddings are unit vectors") {
    using model_type = coca<coca_small>;
    static_assert(model_type::image_tokens == 3);
    const auto model = test::random_model<model_type>();
    const index_t length = 6;
    auto ids = test::random_tokens(2 * length, model_type::vocab, 3);
    for (auto& t : ids) {
        t = t == 0 ? 1 : t; // no padding here
    }
    const auto pixels = random_pixels(2, 12, 4);
    const auto both =
        model->forward(token_ids(ids.data(), shape<dyn, dyn>(2, length)), pixels_of(pixels, 2, 12));
    CHECK(both.logits.rows() == 2 * length);
    for (index_t b = 0; b < 2; ++b) {
        CAPTURE(b);
        const std::vector<float> one_image(pixels.begin() + b * 3 * 144,
                                           pixels.begin() + (b + 1) * 3 * 144);
        const auto alone =
            model->forward(token_ids(ids.data() + b * length, shape<dyn, dyn>(1, length)),
                           pixels_of(one_image, 1, 12));
        CHECK(test::max_diff({alone.image_features.data(), 20},
                             {both.image_features.data() + b * 20, 20}) < 1e-5);
        CHECK(test::max_diff({alone.text_features.data(), 20},
                             {both.text_features.data() + b * 20, 20}) < 1e-5);
        CHECK(test::max_diff({alone.logits.data(), length * 37},
                             {both.logits.data() + b * length * 37, length * 37}) < 1e-4);
        double image_norm = 0, text_norm = 0;
        for (index_t c = 0; c < 20; ++c) {
            image_norm += both.image_features(b, c) * both.image_features(b, c);
            text_norm += both.text_features(b, c) * both.text_features(b, c);
        }
        CHECK(image_norm == doctest::Approx(1.0).epsilon(1e-5));
        CHECK(text_norm == doctest::Approx(1.0).epsilon(1e-5));
    }
    // The caption logits at a position see only the text before it: changing the last token
    // leaves every earlier position's logits as they were.
    auto changed = ids;
    changed[length - 1] = changed[length - 1] % 36 + 1;
    const auto other = model->forward(token_ids(changed.data(), shape<dyn, dyn>(2, length)),
                                      pixels_of(pixels, 2, 12));
    CHECK(test::max_diff({other.logits.data(), (length - 1) * 37},
                         {both.logits.data(), (length - 1) * 37}) < 1e-5);
    CHECK(test::max_diff({other.logits.data() + (length - 1) * 37, 37},
                         {both.logits.data() + (length - 1) * 37, 37}) > 1e-4);
}

TEST_CASE("coca pad mask: open_clip's legacy layout shifts the flags by one, the corrected one "
          "does not") {
    const std::vector<std::int32_t> ids{5, 0, 7, 0};
    // Keys: 4 tokens, then CLS.
    CHECK(coca<coca_small>::text_key_flags(ids) == std::vector<std::uint8_t>{1, 1, 0, 1, 0});
    CHECK(coca<coca_correct_mask>::text_key_flags(ids) == std::vector<std::uint8_t>{1, 0, 1, 0, 1});
    // Padding changes what the text tower computes, differently in the two layouts.
    const auto legacy = test::random_model<coca<coca_small>>();
    const auto corrected = test::random_model<coca<coca_correct_mask>>();
    const auto pixels = random_pixels(1, 12, 9);
    const std::vector<std::int32_t> padded{5, 9, 7, 0};
    const token_ids v(padded.data(), shape<dyn, dyn>(1, 4));
    const auto a = legacy->forward(v, pixels_of(pixels, 1, 12));
    const auto b = corrected->forward(v, pixels_of(pixels, 1, 12));
    CHECK(test::max_diff({a.text_features.data(), 20}, {b.text_features.data(), 20}) > 1e-4);
    const std::vector<std::int32_t> unpadded{5, 9, 7, 2};
    const token_ids u(unpadded.data(), shape<dyn, dyn>(1, 4));
    CHECK(test::max_diff(
              {legacy->forward(u, pixels_of(pixels, 1, 12)).text_features.data(), 20},
              {corrected->forward(u, pixels_of(pixels, 1, 12)).text_features.data(), 20}) < 1e-6);
}

TEST_CASE("coca refuses images of the wrong size, text past its context, mismatched batches") {
    using model_type = coca<coca_small>;
    const auto model = test::random_model<model_type>();
    const std::vector<std::int32_t> ids(10, 3);
    const auto pixels = random_pixels(2, 16, 1);
    CHECK_THROWS_WITH_AS((void)model->image_features(pixels_of(pixels, 1, 16)),
                         doctest::Contains("image_size"), shape_error);
    const auto good = random_pixels(2, 12, 1);
    CHECK_THROWS_WITH_AS(
        (void)model->forward(token_ids(ids.data(), shape<dyn, dyn>(1, 10)), pixels_of(good, 1, 12)),
        doctest::Contains("context_length"), shape_error);
    CHECK_THROWS_WITH_AS(
        (void)model->forward(token_ids(ids.data(), shape<dyn, dyn>(1, 4)), pixels_of(good, 2, 12)),
        doctest::Contains("batches differ"), shape_error);
}
