// One conformance case: the model generated from CTT_CASE_DIR/config.json (case_model.hpp),
// its weights, the inputs of io.safetensors, and every output case.json lists.
#include "case_model.hpp"

#include <ctt/io/parameter_loader.hpp>
#include <ctt/models/bert.hpp>
#include <ctt/models/generation.hpp>
#include <ctt/models/gpt2.hpp>
#include <ctt/models/llama.hpp>
#include <ctt/models/t5.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../support/golden_case.hpp"

namespace {

using namespace ctt;
using model_type = case_model::model;

/// Compares outputs by name and remembers which ones were checked.
class output_checker {
public:
    explicit output_checker(const test::golden_case& c)
        : case_(c) {
        if (c.io.contains("attention_mask")) {
            mask_ = c.io.load_ints("attention_mask");
        }
    }

    [[nodiscard]] bool expects(const std::string& name) const { return case_.io.contains(name); }

    /// Checks `ours` against output `name`; `inner` > 0 restricts the comparison to positions
    /// where the attention mask is 1 (encoder outputs).
    void floats(const std::string& name, const std::vector<float>& ours, index_t inner = 0) {
        if (!expects(name)) {
            return;
        }
        checked_.insert(name);
        const auto ref = case_.io.load_floats(name);
        INFO("output ", name);
        REQUIRE(ours.size() == ref.size());
        if (inner > 0 && !mask_.empty()) {
            CHECK(test::within_tolerance_masked(ours, ref, mask_, inner));
        } else {
            CHECK(test::within_tolerance(ours, ref));
        }
    }

    void ints(const std::string& name, const std::vector<std::int32_t>& ours) {
        if (!expects(name)) {
            return;
        }
        checked_.insert(name);
        INFO("output ", name);
        CHECK(ours == case_.io.load_ints(name));
    }

    /// Every tensor of case.json that is not an input must have been checked.
    void all_outputs_checked() const {
        static const std::set<std::string> inputs = {
            "input_ids", "attention_mask", "token_type_ids", "decoder_input_ids", "prefix_embeds"};
        for (const auto& [name, _] : case_.description.at("tensors").items()) {
            if (!inputs.contains(name) && !checked_.contains(name)) {
                FAIL_CHECK("output '" << name << "' of case.json is not checked by this runner");
            }
        }
    }

    [[nodiscard]] const std::vector<std::int32_t>& mask() const { return mask_; }

private:
    const test::golden_case& case_;
    std::vector<std::int32_t> mask_;
    std::set<std::string> checked_;
};

template <class Tensors>
std::vector<float> flatten(const Tensors& tensors) {
    std::vector<float> out;
    for (const auto& t : tensors) {
        out.insert(out.end(), t.begin(), t.end());
    }
    return out;
}

/// `[layers][batch]` tensors of `[length, H]` flattened as HF stacks them: `[layers, batch, ...]`.
template <class T>
std::vector<float> stack_layers(const std::vector<std::vector<T>>& per_batch) {
    std::vector<float> out;
    const index_t layers = per_batch.front().size();
    for (index_t l = 0; l < layers; ++l) {
        for (const auto& b : per_batch) {
            out.insert(out.end(), b[l].begin(), b[l].end());
        }
    }
    return out;
}

[[maybe_unused]] token_ids ids_view(const std::vector<std::int32_t>& ids, index_t batch) {
    return token_ids(ids.data(), shape<dyn, dyn>(batch, ids.size() / batch));
}

index_t batch_of(const test::golden_case& c, const std::string& input) {
    return c.io.info(input).shape.front();
}

template <class C>
void run(const bert<C>& model, const test::golden_case& c, output_checker& out) {
    const auto ids = c.io.load_ints("input_ids");
    const index_t batch = batch_of(c, "input_ids");
    std::vector<std::int32_t> types;
    const auto ids_v = ids_view(ids, batch);
    token_ids types_v = ids_v;
    if (c.io.contains("token_type_ids")) {
        types = c.io.load_ints("token_type_ids");
        types_v = ids_view(types, batch);
    }
    const token_ids mask_v = out.mask().empty() ? ids_v : ids_view(out.mask(), batch);
    const auto result = model.forward(ids_v, types.empty() ? nullptr : &types_v,
                                      out.mask().empty() ? nullptr : &mask_v);
    constexpr index_t H = bert<C>::hidden;
    constexpr index_t V = bert<C>::vocab;
    out.floats("hidden_states", flatten(result.hidden_states), H);
    out.floats("last_hidden_state", flatten(std::vector{result.hidden_states.back()}), H);
    out.floats("prediction_logits", flatten(std::vector{result.prediction_logits}), V);
    out.floats("seq_relationship_logits", flatten(std::vector{result.seq_relationship_logits}));
    out.floats("pooler_output", flatten(std::vector{result.pooled}));
}

template <class Model>
void run_decoder(const Model& model, const test::golden_case& c, output_checker& out) {
    constexpr index_t H = Model::hidden;
    constexpr index_t V = Model::vocab;
    const auto ids = c.io.load_ints("input_ids");
    const index_t batch = batch_of(c, "input_ids");
    const index_t length = ids.size() / batch;
    if (!out.mask().empty()) {
        REQUIRE_MESSAGE(std::all_of(out.mask().begin(), out.mask().end(),
                                    [](std::int32_t m) { return m != 0; }),
                        "padded decoder inputs are not supported by this runner");
    }
    std::vector<float> logits;
    std::vector<std::vector<tensor<float, shape<dyn, H>>>> hidden(batch);
    std::vector<std::int32_t> generated;
    const index_t generated_length =
        out.expects("generated_ids") ? c.io.info("generated_ids").shape.back() : length;
    for (index_t b = 0; b < batch; ++b) {
        const std::span<const std::int32_t> prompt(ids.data() + b * length, length);
        auto session = model.new_session(length);
        tensor<float, shape<dyn, V>> l(length);
        model.step(session, prompt, l.view(), &hidden[b]);
        logits.insert(logits.end(), l.begin(), l.end());
        if (out.expects("generated_ids")) {
            const auto g = generate(model, prompt, generated_length - length);
            generated.insert(generated.end(), g.begin(), g.end());
        }
    }
    out.floats("logits", logits);
    out.floats("hidden_states", stack_layers(hidden));
    out.ints("generated_ids", generated);
}

template <class C>
void run(const gpt2<C>& model, const test::golden_case& c, output_checker& out) {
    if constexpr (gpt2<C>::head == causal_lm_head::lm) {
        run_decoder(model, c, out);
    } else {
        const auto ids = c.io.load_ints("input_ids");
        const auto scores = model.scores(ids_view(ids, batch_of(c, "input_ids")));
        out.floats("scores", flatten(std::vector{scores}));
    }
}

template <class C>
void run(const llama<C>& model, const test::golden_case& c, output_checker& out) {
    if (!c.io.contains("prefix_embeds")) {
        run_decoder(model, c, out);
        return;
    }
    // PaLM-E style: embeddings before the tokens; logits cover both.
    using M = llama<C>;
    const auto ids = c.io.load_ints("input_ids");
    const auto prefix = c.io.load_floats("prefix_embeds");
    const index_t batch = batch_of(c, "input_ids");
    const index_t length = ids.size() / batch;
    const index_t prefix_length = prefix.size() / (batch * M::hidden);
    std::vector<float> logits;
    for (index_t b = 0; b < batch; ++b) {
        auto session = model.new_session(prefix_length + length);
        tensor<float, shape<dyn, M::vocab>> l(prefix_length + length);
        model.step_embeddings(session,
                              tensor_view<const float, shape<dyn, M::hidden>>(
                                  prefix.data() + b * prefix_length * M::hidden,
                                  shape<dyn, M::hidden>(prefix_length)),
                              l.view().rows(0, prefix_length));
        model.step(session, {ids.data() + b * length, length},
                   l.view().rows(prefix_length, length));
        logits.insert(logits.end(), l.begin(), l.end());
    }
    out.floats("logits", logits);
}

template <class C>
void run(const t5<C>& model, const test::golden_case& c, output_checker& out) {
    using M = t5<C>;
    const auto ids = c.io.load_ints("input_ids");
    const index_t batch = batch_of(c, "input_ids");
    const auto ids_v = ids_view(ids, batch);
    const token_ids mask_v = out.mask().empty() ? ids_v : ids_view(out.mask(), batch);
    const auto enc = model.encode(ids_v, out.mask().empty() ? nullptr : &mask_v,
                                  out.expects("encoder_hidden_states"));
    out.floats("encoder_last_hidden_state", flatten(std::vector{enc.states}), M::hidden);
    if (out.expects("encoder_hidden_states")) {
        out.floats("encoder_hidden_states", flatten(enc.hidden_states), M::hidden);
    }
    std::vector<float> logits;
    std::vector<std::vector<tensor<float, shape<dyn, M::hidden>>>> hidden(batch);
    if (out.expects("decoder_input_ids")) {
        const auto dec = c.io.load_ints("decoder_input_ids");
        const index_t dec_length = dec.size() / batch;
        for (index_t b = 0; b < batch; ++b) {
            auto session = model.new_session(enc, b, dec_length);
            tensor<float, shape<dyn, M::vocab>> l(dec_length);
            model.step(session, {dec.data() + b * dec_length, dec_length}, l.view(), &hidden[b]);
            logits.insert(logits.end(), l.begin(), l.end());
        }
        out.floats("logits", logits);
        out.floats("decoder_hidden_states", stack_layers(hidden));
    }
    if (out.expects("generated_ids")) {
        const index_t generated_length = c.io.info("generated_ids").shape.back();
        std::vector<std::int32_t> generated;
        const std::int32_t start = C::decoder_start_token_id;
        for (index_t b = 0; b < batch; ++b) {
            auto session = model.new_session(enc, b, generated_length);
            const auto g =
                generate_with(model, session, std::span(&start, 1), generated_length - 1);
            generated.insert(generated.end(), g.begin(), g.end());
        }
        out.ints("generated_ids", generated);
    }
}

} // namespace

TEST_CASE("conformance: " CTT_CASE_DIR) {
    const test::golden_case c{std::filesystem::path(CTT_CASE_DIR)};
    auto model = std::make_unique<model_type>();
    load_parameters(*model, c.model);
    output_checker out(c);
    run(*model, c, out);
    out.all_outputs_checked();
}
