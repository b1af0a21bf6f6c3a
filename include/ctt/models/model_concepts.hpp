#pragma once
/**
 * @file
 * @brief What a model can do, as concepts: the conformance runner, the HF runner and
 *        `generate` dispatch on these (`requires` on members), never on a family's name, so a
 *        new family needs no change in them.
 */

#include <cstdint>
#include <span>

#include "ctt/core/tensor_view.hpp"
#include "ctt/models/model_io.hpp"

namespace ctt {

/// A decoder with KV-cache sessions: `new_session(capacity)` and `step(session, ids, logits)`.
template <class M>
concept causal_decoder = requires(const M& m, typename M::session_type& s,
                                  std::span<const std::int32_t> ids,
                                  tensor_view<float, shape<dyn, M::vocab>> logits) {
    { m.new_session(index_t{}) } -> std::same_as<typename M::session_type>;
    m.step(s, ids, logits);
};

/// A decoder that also takes input embeddings (PaLM-E prefixes): `step_embeddings`.
template <class M>
concept embedding_decoder = causal_decoder<M> &&
    requires(const M& m, typename M::session_type& s,
             tensor_view<const float, shape<dyn, M::hidden>> x,
             tensor_view<float, shape<dyn, M::vocab>> logits) {
    m.step_embeddings(s, x, logits);
};

/// A model that scores whole sequences (`scores(ids)`: reward and classification heads).
template <class M>
concept sequence_scorer = requires(const M& m, token_ids ids) {
    m.scores(ids);
};

/// An encoder over padded batches: `forward(ids)` (BERT).
template <class M>
concept batch_encoder = requires(const M& m, token_ids ids) {
    m.forward(ids);
};

/// An image encoder over `pixel_values` (`[batch, channels, height, width]`): ViT.
template <class M>
concept pixel_encoder = requires(const M& m,
                                 tensor_view<const float, shape<dyn, dyn, dyn, dyn>> p) {
    m.forward_pixels(p);
};

/// A text-image model with two towers and a contrastive head (`forward(ids, pixels)`): CLIP.
template <class M>
concept contrastive_model = requires(const M& m, token_ids ids,
                                     tensor_view<const float, shape<dyn, dyn, dyn, dyn>> p) {
    m.text_embeddings(ids);
    m.image_embeddings(p);
    m.forward(ids, p);
};

/// A text-image model whose text decoder reads the image (CoCa): `image_features(pixels)`, and
/// `forward(ids, pixels)` with embeddings and caption logits.
template <class M>
concept image_text_decoder = requires(const M& m, token_ids ids,
                                      tensor_view<const float, shape<dyn, dyn, dyn, dyn>> p) {
    m.image_features(p);
    m.forward(ids, p).logits;
};

/// A model over segments with a recurrent memory (Transformer-XL, XLNet): `new_memory(batch)`,
/// then `forward(ids, memory)` per segment gives `[batch * length, vocab]` logits.
template <class M>
concept segment_recurrent_lm = requires(const M& m, typename M::memory_type& memory,
                                        token_ids ids) {
    { m.new_memory(index_t{}) } -> std::same_as<typename M::memory_type>;
    m.forward(ids, memory);
};

/// A segment-recurrent model with XLNet's two-stream attention:
/// `forward_two_stream(ids, perm_mask, target_mapping, memory)` predicts the targets.
template <class M>
concept permutation_lm = segment_recurrent_lm<M> &&
    requires(const M& m, typename M::memory_type& memory, token_ids ids,
             tensor_view<const float, shape<dyn, dyn, dyn>> dense) {
    m.forward_two_stream(ids, dense, dense, memory);
};

/// An encoder with a second, entity stream (ERNIE THU):
/// `forward(ids, entity_inputs)` with entity vectors aligned to tokens.
template <class M>
concept knowledge_encoder = requires(const M& m, token_ids ids,
                                     const typename M::entity_inputs& entities) {
    m.forward(ids, entities);
};

/// An encoder-decoder: `encode(ids)`, then decoder sessions built from the encoding (T5, BART).
template <class M>
concept seq2seq_model = requires(const M& m, token_ids ids) {
    m.encode(ids);
};

/// A latent-diffusion denoiser: `forward(sample, timesteps, encoder_hidden_states)` predicts the
/// noise of `[batch, channels, H, W]` latents at one timestep per image (the U-Net).
template <class M>
concept latent_denoiser = requires(const M& m,
                                   tensor_view<const float, shape<dyn, dyn, dyn, dyn>> sample,
                                   std::span<const float> timesteps,
                                   tensor_view<const float, shape<dyn, dyn, dyn>> text) {
    m.forward(sample, timesteps, text);
};

/// A spatial transformer over feature maps, cross-attending to text states:
/// `forward(hidden_states, encoder_hidden_states)` (diffusers' `Transformer2DModel`).
template <class M>
concept latent_transformer = requires(const M& m,
                                      tensor_view<const float, shape<dyn, dyn, dyn, dyn>> x,
                                      tensor_view<const float, shape<dyn, dyn, dyn>> text) {
    m.forward(x, text);
};

} // namespace ctt
