#pragma once
/**
 * @file
 * @brief ViT (Dosovitskiy et al., arXiv:2010.11929) as HF's `ViTModel` computes it: a patch
 *        convolution (stride = kernel, a GEMM over unfolded patches), a CLS token, learned
 *        positions, pre-norm layers, the final LayerNorm and the tanh pooler.
 */

#include "ctt/models/encoder_model.hpp"

namespace ctt {

namespace families {
struct vit : encoder_spec {
    static constexpr encoder_input input = encoder_input::patches;
    static constexpr bool embedding_norm = false;
    static constexpr bool batched_tables = true;
    static constexpr norm_placement placement = norm_placement::pre;
    static constexpr bool final_norm = true;
    static constexpr encoder_heads heads = encoder_heads::pooler;
    static constexpr encoder_names names{
        .base = "vit.",
        .embed_positions = "embeddings.position_embeddings",
        .patch_projection = "embeddings.patch_embeddings.projection",
        .cls_token = "embeddings.cls_token",
        // transformers 4 names, then 5's.
        .norm1 = "encoder.layer.{}.layernorm_before|layers.{}.layernorm_before",
        .norm2 = "encoder.layer.{}.layernorm_after|layers.{}.layernorm_after",
        .q = "encoder.layer.{}.attention.attention.query|layers.{}.attention.q_proj",
        .k = "encoder.layer.{}.attention.attention.key|layers.{}.attention.k_proj",
        .v = "encoder.layer.{}.attention.attention.value|layers.{}.attention.v_proj",
        .out = "encoder.layer.{}.attention.output.dense|layers.{}.attention.o_proj",
        .up = "encoder.layer.{}.intermediate.dense|layers.{}.mlp.fc1",
        .down = "encoder.layer.{}.output.dense|layers.{}.mlp.fc2",
        .final_norm = "layernorm",
        .pooler = "pooler.dense",
    };
};
} // namespace families

template <encoder_config C>
using vit = encoder_model<C, families::vit>;

} // namespace ctt
