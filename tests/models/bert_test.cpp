#include <ctt/io/parameter_loader.hpp>
#include <ctt/models/bert.hpp>

#include <doctest/doctest.h>

#include "../support/golden_case.hpp"

namespace {

// The shipped tests/data/hf/bert case: BertForPreTraining, 2 layers of width 64, 4 heads.
struct tiny_bert {
    static constexpr ctt::index_t vocab_size = 256;
    static constexpr ctt::index_t hidden_size = 64;
    static constexpr ctt::index_t num_heads = 4;
    static constexpr ctt::index_t intermediate_size = 128;
    static constexpr ctt::index_t num_layers = 2;
    static constexpr ctt::index_t max_positions = 64;
    static constexpr ctt::index_t type_vocab_size = 2;
    static constexpr ctt::activation hidden_act = ctt::activation::gelu_erf;
    static constexpr float layer_norm_eps = 1e-12f;
};

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
