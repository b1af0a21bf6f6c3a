// One conformance case: the model generated from the case's config.json (case_model.hpp),
// loaded from model.safetensors and run on the inputs, whatever it can do. What a model can do
// decides what runs (`requires` on its members), so a new family needs no change here.
#include "case_model.hpp"

#include <ctt/io/parameter_loader.hpp>
#include <ctt/models/generation.hpp>
#include <ctt/models/model_concepts.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "case_api.hpp"

namespace ctt::conformance {

const char* const case_directory = CTT_CASE_DIR;

namespace {

using model_type = case_model::model;

template <class Tensors>
std::vector<float> flatten(const Tensors& tensors) {
    std::vector<float> out;
    for (const auto& t : tensors) {
        out.insert(out.end(), t.begin(), t.end());
    }
    return out;
}

/// `[batch][layers]` tensors flattened as HF stacks them: `[layers, batch, ...]`.
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

/// An optional `[batch, length]` int input of the case.
struct optional_ids {
    std::vector<std::int32_t> values;
    token_ids view;
    optional_ids(const case_data& c, const std::string& name, index_t batch)
        : values(c.has(name) ? c.ints(name) : std::vector<std::int32_t>{})
        , view(values.data(), shape<dyn, dyn>(batch, values.empty() ? 0 : values.size() / batch)) {}
    [[nodiscard]] const token_ids* get() const { return values.empty() ? nullptr : &view; }
};

/// The heads of an encoder's outputs, under the names HF's classes give them.
template <class M, class Out>
void check_encoder_outputs(case_data& c, const Out& out) {
    c.check_floats("hidden_states", flatten(out.hidden_states), M::hidden);
    c.check_floats("last_hidden_state", flatten(std::vector{out.last_hidden_state}), M::hidden);
    if constexpr (M::has_mlm) {
        const auto logits = flatten(std::vector{out.prediction_logits});
        c.check_floats(c.has("prediction_logits") ? "prediction_logits" : "logits", logits,
                       M::vocab);
    }
    if constexpr (M::has_discriminator) {
        c.check_floats("logits", flatten(std::vector{out.token_logits}), 1);
    }
    if constexpr (M::has_sentence_pair) {
        const auto pair = flatten(std::vector{out.seq_relationship_logits});
        c.check_floats(c.has("sop_logits") ? "sop_logits" : "seq_relationship_logits", pair);
    }
    if constexpr (M::has_pooler) {
        c.check_floats("pooler_output", flatten(std::vector{out.pooled}));
    }
}

template <class M>
void run_encoder(const M& model, case_data& c) {
    const auto ids = c.ints("input_ids");
    const index_t batch = c.shape("input_ids").front();
    const optional_ids types(c, "token_type_ids", batch);
    const optional_ids mask(c, "attention_mask", batch);
    const optional_ids langs(c, "langs", batch);
    const auto out = model.forward(ids_view(ids, batch),
                                   encoder_inputs{types.get(), mask.get(), langs.get(), true});
    check_encoder_outputs<M>(c, out);
}

[[maybe_unused]] pixel_values pixels_view(const std::vector<float>& pixels,
                                          const std::vector<index_t>& dims) {
    return pixel_values(pixels.data(),
                        shape<dyn, dyn, dyn, dyn>(dims[0], dims[1], dims[2], dims[3]));
}

template <class M>
void run_pixel_encoder(const M& model, case_data& c) {
    const auto pixels = c.floats("pixel_values");
    const auto out = model.forward_pixels(pixels_view(pixels, c.shape("pixel_values")), true);
    check_encoder_outputs<M>(c, out);
}

template <class M>
void run_contrastive(const M& model, case_data& c) {
    const auto ids = c.ints("input_ids");
    const index_t batch = c.shape("input_ids").front();
    const optional_ids mask(c, "attention_mask", batch);
    const auto pixels = c.floats("pixel_values");
    const auto out = model.forward(ids_view(ids, batch),
                                   pixels_view(pixels, c.shape("pixel_values")), mask.get());
    c.check_floats("text_embeds", flatten(std::vector{out.text_embeds}));
    c.check_floats("image_embeds", flatten(std::vector{out.image_embeds}));
    c.check_floats("logits_per_image", flatten(std::vector{out.logits_per_image}));
    c.check_floats("text_last_hidden_state", flatten(std::vector{out.text_last_hidden_state}));
    c.check_floats("vision_last_hidden_state", flatten(std::vector{out.vision_last_hidden_state}));
}

template <class M>
void run_image_text_decoder(const M& model, case_data& c) {
    const auto ids = c.ints("input_ids");
    const index_t batch = c.shape("input_ids").front();
    const auto pixels = c.floats("pixel_values");
    const auto out =
        model.forward(ids_view(ids, batch), pixels_view(pixels, c.shape("pixel_values")));
    c.check_floats("image_features", flatten(std::vector{out.image_features}));
    c.check_floats("text_features", flatten(std::vector{out.text_features}));
    c.check_floats("logits", flatten(std::vector{out.logits}));
}

/**
 * Greedy ids at reduced precision, where the f32 margins allow: both models are teacher-forced
 * along the reference ids, and wherever the f32 model's margin of the reference token over the
 * runner-up exceeds twice the logits' tolerance (each logit may move by that much, so no flip
 * is possible beyond it), the reduced model must pick the reference token too.
 */
template <class M>
void check_greedy_margins(const M& reduced, const M& f32, case_data& c, index_t batch,
                          index_t length) {
    constexpr index_t V = M::vocab;
    const auto ref = c.ints("generated_ids");
    const index_t total = ref.size() / batch;
    if (total <= length) {
        return;
    }
    std::vector<float> reduced_logits, f32_logits;
    for (index_t b = 0; b < batch; ++b) {
        const std::span<const std::int32_t> seq(ref.data() + b * total, total);
        for (auto [m, out] : {std::pair{&reduced, &reduced_logits}, std::pair{&f32, &f32_logits}}) {
            auto session = m->new_session(total);
            tensor<float, shape<dyn, V>> l(total);
            m->step(session, seq, l.view());
            out->insert(out->end(), l.begin(), l.end());
        }
    }
    double max_abs_ref = 0;
    for (const float x : f32_logits) {
        max_abs_ref = std::max(max_abs_ref, std::abs(static_cast<double>(x)));
    }
    const double threshold = 2.0 * c.tolerance() * std::max(1.0, max_abs_ref);
    index_t steps = 0, flips = 0, decisive = 0, decisive_flips = 0;
    for (index_t b = 0; b < batch; ++b) {
        const float* lr = reduced_logits.data() + b * total * V;
        const float* lf = f32_logits.data() + b * total * V;
        for (index_t t = length - 1; t + 1 < total; ++t) {
            const auto want = static_cast<index_t>(ref[b * total + t + 1]);
            const float* r = lr + t * V;
            const float* f = lf + t * V;
            float runner_up = -std::numeric_limits<float>::infinity();
            for (index_t j = 0; j < V; ++j) {
                if (j != want) {
                    runner_up = std::max(runner_up, f[j]);
                }
            }
            const bool flip = argmax({r, V}) != want;
            const bool is_decisive = f[want] - runner_up > threshold;
            ++steps;
            flips += flip ? 1 : 0;
            decisive += is_decisive ? 1 : 0;
            decisive_flips += flip && is_decisive ? 1 : 0;
        }
    }
    c.report_margins(steps, decisive, flips, decisive_flips, threshold);
}

template <class M>
void run_decoder(const M& model, case_data& c, const M* f32_model = nullptr) {
    constexpr index_t H = M::hidden;
    constexpr index_t V = M::vocab;
    const auto ids = c.ints("input_ids");
    const index_t batch = c.shape("input_ids").front();
    const index_t length = ids.size() / batch;
    if (c.has("attention_mask")) {
        const auto mask = c.ints("attention_mask");
        if (!std::all_of(mask.begin(), mask.end(), [](std::int32_t m) { return m != 0; })) {
            c.fail("padded decoder inputs are not supported by this runner");
            return;
        }
    }
    if (c.has("prefix_embeds")) {
        if constexpr (embedding_decoder<M>) {
            // PaLM-E style: embeddings before the tokens; logits cover both.
            const auto prefix = c.floats("prefix_embeds");
            const index_t prefix_length = prefix.size() / (batch * H);
            std::vector<float> logits;
            for (index_t b = 0; b < batch; ++b) {
                auto session = model.new_session(prefix_length + length);
                tensor<float, shape<dyn, V>> l(prefix_length + length);
                model.step_embeddings(
                    session,
                    tensor_view<const float, shape<dyn, H>>(prefix.data() + b * prefix_length * H,
                                                            shape<dyn, H>(prefix_length)),
                    l.view().rows(0, prefix_length));
                model.step(session, {ids.data() + b * length, length},
                           l.view().rows(prefix_length, length));
                logits.insert(logits.end(), l.begin(), l.end());
            }
            c.check_floats("logits", logits);
        } else {
            c.fail("the case feeds prefix_embeds but the model has no step_embeddings");
        }
        return;
    }
    std::vector<float> logits;
    std::vector<std::vector<tensor<float, shape<dyn, H>>>> hidden(batch);
    std::vector<std::int32_t> generated;
    const index_t generated_length =
        c.has("generated_ids") ? c.shape("generated_ids").back() : length;
    for (index_t b = 0; b < batch; ++b) {
        const std::span<const std::int32_t> prompt(ids.data() + b * length, length);
        auto session = model.new_session(length);
        tensor<float, shape<dyn, V>> l(length);
        model.step(session, prompt, l.view(), &hidden[b]);
        logits.insert(logits.end(), l.begin(), l.end());
        if (c.has("generated_ids")) {
            const auto g = generate(model, prompt, generated_length - length);
            generated.insert(generated.end(), g.begin(), g.end());
        }
    }
    c.check_floats("logits", logits);
    c.check_floats("hidden_states", stack_layers(hidden));
    c.check_ints("generated_ids", generated);
    if (f32_model != nullptr && c.has("generated_ids")) {
        check_greedy_margins(model, *f32_model, c, batch, length);
    }
}

template <class M>
void run_encoder_decoder(const M& model, case_data& c) {
    const auto ids = c.ints("input_ids");
    const index_t batch = c.shape("input_ids").front();
    const auto ids_v = ids_view(ids, batch);
    const optional_ids mask(c, "attention_mask", batch);
    const auto enc = model.encode(ids_v, mask.get(), c.has("encoder_hidden_states"));
    c.check_floats("encoder_last_hidden_state", flatten(std::vector{enc.states}), M::hidden);
    c.check_floats("encoder_hidden_states", flatten(enc.hidden_states), M::hidden);
    if (c.has("decoder_input_ids")) {
        const auto dec = c.ints("decoder_input_ids");
        const index_t dec_length = dec.size() / batch;
        std::vector<float> logits;
        std::vector<std::vector<tensor<float, shape<dyn, M::hidden>>>> hidden(batch);
        for (index_t b = 0; b < batch; ++b) {
            auto session = model.new_session(enc, b, dec_length);
            tensor<float, shape<dyn, M::vocab>> l(dec_length);
            model.step(session, {dec.data() + b * dec_length, dec_length}, l.view(), &hidden[b]);
            logits.insert(logits.end(), l.begin(), l.end());
        }
        c.check_floats("logits", logits);
        c.check_floats("decoder_hidden_states", stack_layers(hidden));
    }
    if (c.has("generated_ids")) {
        const index_t generated_length = c.shape("generated_ids").back();
        std::vector<std::int32_t> generated;
        const std::int32_t start = M::config::decoder_start_token_id;
        for (index_t b = 0; b < batch; ++b) {
            auto session = model.new_session(enc, b, generated_length);
            const auto g =
                generate_with(model, session, std::span(&start, 1), generated_length - 1);
            generated.insert(generated.end(), g.begin(), g.end());
        }
        c.check_ints("generated_ids", generated);
    }
}

[[maybe_unused]] tensor_view<const float, shape<dyn, dyn, dyn>>
text_view(const std::vector<float>& text, const std::vector<index_t>& dims) {
    return {text.data(), shape<dyn, dyn, dyn>(dims[0], dims[1], dims[2])};
}

template <class M>
void run_latent_denoiser(const M& model, case_data& c) {
    const auto sample = c.floats("sample");
    const auto steps = c.ints("timesteps");
    const std::vector<float> timesteps(steps.begin(), steps.end());
    const auto text = c.floats("encoder_hidden_states");
    const auto out = model.forward(pixels_view(sample, c.shape("sample")), timesteps,
                                   text_view(text, c.shape("encoder_hidden_states")));
    c.check_floats("out", std::vector<float>(out.begin(), out.end()));
}

template <class M>
void run_latent_transformer(const M& model, case_data& c) {
    const auto x = c.floats("hidden_states");
    const auto text = c.floats("encoder_hidden_states");
    const auto out = model.forward(pixels_view(x, c.shape("hidden_states")),
                                   text_view(text, c.shape("encoder_hidden_states")));
    c.check_floats("sample", std::vector<float>(out.begin(), out.end()));
}

/// The logits of `segment_recurrent_lm`s: segment after segment through one memory. Cases of
/// the original Transformer-XL code are time-major (`segment<k>_ids`, `[length, batch]`);
/// HF's are batch-major (`input_ids`, then `segment2_input_ids` with the first's memory).
template <class M>
void run_segment_recurrent(const M& model, case_data& c) {
    constexpr index_t V = M::vocab;
    if (c.has("segment1_ids")) {
        const index_t batch = c.shape("segment1_ids").back();
        auto memory = model.new_memory(batch);
        for (int k = 1; c.has("segment" + std::to_string(k) + "_ids"); ++k) {
            const std::string name = "segment" + std::to_string(k);
            const auto time_major = c.ints(name + "_ids");
            const index_t length = time_major.size() / batch;
            std::vector<std::int32_t> ids(time_major.size());
            for (index_t t = 0; t < length; ++t) {
                for (index_t b = 0; b < batch; ++b) {
                    ids[b * length + t] = time_major[t * batch + b];
                }
            }
            const auto logits = model.forward(ids_view(ids, batch), memory);
            std::vector<float> ours(logits.size());
            for (index_t t = 0; t < length; ++t) {
                for (index_t b = 0; b < batch; ++b) {
                    std::copy_n(logits[b * length + t].data(), V,
                                ours.data() + (t * batch + b) * V);
                }
            }
            c.check_floats(name + "_logits", ours);
        }
        return;
    }
    const auto ids = c.ints("input_ids");
    const index_t batch = c.shape("input_ids").front();
    auto memory = model.new_memory(batch);
    c.check_floats("logits", flatten(std::vector{model.forward(ids_view(ids, batch), memory)}));
    if (c.has("segment2_input_ids")) {
        const auto next = c.ints("segment2_input_ids");
        c.check_floats("segment2_logits",
                       flatten(std::vector{model.forward(ids_view(next, batch), memory)}));
    }
    if constexpr (permutation_lm<M>) {
        if (c.has("perm_mask")) {
            using dense = tensor_view<const float, shape<dyn, dyn, dyn>>;
            const auto perm = c.floats("perm_mask");
            const auto pd = c.shape("perm_mask");
            const auto map = c.floats("target_mapping");
            const auto md = c.shape("target_mapping");
            auto fresh = model.new_memory(batch);
            const auto logits = model.forward_two_stream(
                ids_view(ids, batch), dense(perm.data(), shape<dyn, dyn, dyn>(pd[0], pd[1], pd[2])),
                dense(map.data(), shape<dyn, dyn, dyn>(md[0], md[1], md[2])), fresh);
            c.check_floats("two_stream_logits", flatten(std::vector{logits}));
        }
    }
}

/// ERNIE (THU): tokens with entity vectors at their mentions; every layer's states, pooled.
template <class M>
void run_knowledge_encoder(const M& model, case_data& c) {
    const auto ids = c.ints("input_ids");
    const index_t batch = c.shape("input_ids").front();
    const optional_ids types(c, "token_type_ids", batch);
    const optional_ids mask(c, "attention_mask", batch);
    const optional_ids ent_mask(c, "ent_mask", batch);
    const auto entities = c.floats("input_ent");
    const auto ed = c.shape("input_ent");
    const typename M::entity_inputs inputs{
        tensor_view<const float, shape<dyn, dyn, dyn>>(entities.data(),
                                                       shape<dyn, dyn, dyn>(ed[0], ed[1], ed[2])),
        ent_mask.get(), types.get(), mask.get()};
    const auto out = model.forward(ids_view(ids, batch), inputs);
    c.check_floats("encoded_layers", flatten(out.encoded_layers), M::hidden);
    c.check_floats("pooled_output", flatten(std::vector{out.pooled}));
}

template <class M>
void run_model(case_data& c) {
    auto model = std::make_unique<M>();
    load_parameters(*model, c.weights(), c.weight_storage().value_or(default_weights<M>));
    if constexpr (latent_denoiser<M>) {
        run_latent_denoiser(*model, c);
    } else if constexpr (latent_transformer<M>) {
        run_latent_transformer(*model, c);
    } else if constexpr (seq2seq_model<M>) {
        run_encoder_decoder(*model, c);
    } else if constexpr (image_text_decoder<M>) {
        run_image_text_decoder(*model, c);
    } else if constexpr (contrastive_model<M>) {
        run_contrastive(*model, c);
    } else if constexpr (pixel_encoder<M>) {
        run_pixel_encoder(*model, c);
    } else if constexpr (segment_recurrent_lm<M>) {
        run_segment_recurrent(*model, c);
    } else if constexpr (knowledge_encoder<M>) {
        run_knowledge_encoder(*model, c);
    } else if constexpr (batch_encoder<M>) {
        run_encoder(*model, c);
    } else if constexpr (sequence_scorer<M>) {
        const auto ids = c.ints("input_ids");
        const auto scores = model->scores(ids_view(ids, c.shape("input_ids").front()));
        c.check_floats("scores", flatten(std::vector{scores}));
    } else {
        static_assert(causal_decoder<M>, "conformance: the model can do nothing this runner runs");
        if (c.weight_storage().value_or(weight_type::f32) != weight_type::f32) {
            auto f32 = std::make_unique<M>();
            load_parameters(*f32, c.weights(), weight_type::f32);
            run_decoder(*model, c, f32.get());
        } else {
            run_decoder(*model, c);
        }
    }
}

} // namespace

void run_case(case_data& c) {
    run_model<model_type>(c);
}

} // namespace ctt::conformance
