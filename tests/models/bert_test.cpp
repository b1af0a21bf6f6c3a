#include <ctt/io/parameter_loader.hpp>
#include <ctt/models/bert.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <utility>
#include <vector>

#include "../support/golden_case.hpp"
#include "../support/tiny_models.hpp"

namespace {

// The shipped tests/data/hf/bert case: BertForPreTraining, 2 layers of width 64, 4 heads.
using ctt::test::tiny_bert;

template <class T>
std::span<const T> all(const std::vector<T>& v) {
    return {v.data(), v.size()};
}

} // namespace

TEST_CASE("bert reproduces HF BertForPreTraining") {
    using namespace ctt;
    const auto c = test::golden_case::hf("bert");
    auto model = std::make_unique<bert<tiny_bert>>();
    load_parameters(*model, c.model);

    const auto ids = c.io.load_ints("input_ids");
    const auto types = c.io.load_ints("token_type_ids");
    const auto mask = c.io.load_ints("attention_mask");
    const index_t batch = c.dim("B");
    const index_t length = c.dim("S");
    const token_ids ids_v(ids.data(), shape<dyn, dyn>(batch, length));
    const token_ids types_v(types.data(), shape<dyn, dyn>(batch, length));
    const token_ids mask_v(mask.data(), shape<dyn, dyn>(batch, length));
    const auto out = model->forward(ids_v, &types_v, &mask_v);

    const auto ref_hidden = c.io.load_floats("hidden_states");
    std::vector<float> ours;
    for (const auto& h : out.hidden_states) {
        ours.insert(ours.end(), h.begin(), h.end());
    }
    CHECK(test::within_tolerance_masked(all(ours), all(ref_hidden), all(mask), 64));

    const auto ref_logits = c.io.load_floats("prediction_logits");
    CHECK(
        test::within_tolerance_masked({out.prediction_logits.data(), out.prediction_logits.size()},
                                      all(ref_logits), all(mask), 256));
    const auto ref_nsp = c.io.load_floats("seq_relationship_logits");
    CHECK(test::within_tolerance(
        {out.seq_relationship_logits.data(), out.seq_relationship_logits.size()}, all(ref_nsp)));
}

// LaBSE and sentence embeddings: `embed` against compositions of the reference's own outputs
// (its last hidden states) with the checkpoint's pooler and next-sentence weights.
TEST_CASE("embed: CLS, mean and pooler (LaBSE) pooling against the reference's hidden states") {
    using namespace ctt;
    const auto c = test::golden_case::hf("bert");
    auto model = std::make_unique<bert<tiny_bert>>();
    load_parameters(*model, c.model);
    const auto ids = c.io.load_ints("input_ids");
    const auto mask = c.io.load_ints("attention_mask");
    const auto types = c.io.load_ints("token_type_ids");
    const index_t batch = c.dim("B");
    const index_t length = c.dim("S");
    constexpr index_t H = 64;
    const token_ids ids_v(ids.data(), shape<dyn, dyn>(batch, length));
    const token_ids mask_v(mask.data(), shape<dyn, dyn>(batch, length));
    const token_ids types_v(types.data(), shape<dyn, dyn>(batch, length));
    const encoder_inputs in{&types_v, &mask_v};
    // The reference's last layer: hidden_states[-1] (BERT is post-norm: no final norm).
    const auto stacked = c.io.load_floats("hidden_states");
    const float* last =
        stacked.data() + (stacked.size() / (batch * length * H) - 1) * batch * length * H;
    const auto dense_w = c.model.load<float>("bert.pooler.dense.weight", shape<H, H>{});
    const auto dense_b = c.model.load<float>("bert.pooler.dense.bias", shape<H>{});

    std::vector<double> ref_mean(batch * H, 0.0);
    std::vector<double> ref_cls(batch * H);
    std::vector<double> ref_pooled(batch * H);
    for (index_t b = 0; b < batch; ++b) {
        index_t count = 0;
        for (index_t t = 0; t < length; ++t) {
            if (mask[b * length + t] == 0) {
                continue;
            }
            ++count;
            for (index_t h = 0; h < H; ++h) {
                ref_mean[b * H + h] += last[(b * length + t) * H + h];
            }
        }
        for (index_t h = 0; h < H; ++h) {
            ref_mean[b * H + h] /= static_cast<double>(count);
            ref_cls[b * H + h] = last[b * length * H + h];
        }
        for (index_t o = 0; o < H; ++o) {
            double s = dense_b(o);
            for (index_t h = 0; h < H; ++h) {
                s += static_cast<double>(dense_w(o, h)) * last[b * length * H + h];
            }
            ref_pooled[b * H + o] = std::tanh(s);
        }
    }
    const auto normalized = [&](const std::vector<double>& v, index_t b) {
        double n = 0;
        for (index_t h = 0; h < H; ++h) {
            n += v[b * H + h] * v[b * H + h];
        }
        std::vector<float> out(H);
        for (index_t h = 0; h < H; ++h) {
            out[h] = static_cast<float>(v[b * H + h] / std::sqrt(n));
        }
        return out;
    };
    const std::pair<pooling, const std::vector<double>*> cases[] = {
        {pooling::cls, &ref_cls}, {pooling::mean, &ref_mean}, {pooling::pooler, &ref_pooled}};
    for (const auto& [how, ref] : cases) {
        const auto raw = model->embed(ids_v, in, how, false);
        const auto unit = model->embed(ids_v, in, how, true);
        for (index_t b = 0; b < batch; ++b) {
            std::vector<float> r(ref->begin() + b * H, ref->begin() + (b + 1) * H);
            CHECK(test::within_tolerance({raw[b].data(), H}, all(r)));
            CHECK(test::within_tolerance({unit[b].data(), H}, all(normalized(*ref, b))));
        }
        // Unit rows: each row's cosine with itself is 1, and cosines are dot products.
        const auto sim = cosine_similarity(unit.view(), unit.view());
        for (index_t b = 0; b < batch; ++b) {
            CHECK(sim(b, b) == doctest::Approx(1.0).epsilon(1e-6));
        }
        double dot = 0;
        for (index_t h = 0; h < H; ++h) {
            dot += static_cast<double>(unit(0, h)) * unit(1, h);
        }
        CHECK(sim(0, 1) == doctest::Approx(dot).epsilon(1e-5));
    }
}

TEST_CASE("encoder inputs that do not fit are refused by name") {
    using namespace ctt;
    auto model = std::make_unique<bert<tiny_bert>>();
    std::vector<std::int32_t> ids(2 * 5, 7);
    std::vector<std::int32_t> bad_types(2 * 4, 0);
    const token_ids ids_v(ids.data(), shape<dyn, dyn>(2, 5));
    const token_ids types_v(bad_types.data(), shape<dyn, dyn>(2, 4));
    CHECK_THROWS_WITH_AS((void)model->forward(ids_v, encoder_inputs{&types_v}),
                         doctest::Contains("token_type_ids: columns and length differ"),
                         shape_error);
    CHECK_THROWS_WITH_AS((void)model->forward(ids_v, encoder_inputs{nullptr, &types_v}),
                         doctest::Contains("attention_mask"), shape_error);
    ids[3] = 256;
    CHECK_THROWS_WITH_AS((void)model->forward(ids_v), doctest::Contains("id 256"), value_error);
    std::vector<std::int32_t> long_ids(65, 7);
    const token_ids too_long(long_ids.data(), shape<dyn, dyn>(1, 65));
    CHECK_THROWS_AS((void)model->forward(too_long), shape_error);
}
