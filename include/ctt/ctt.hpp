#pragma once
/**
 * @file
 * @brief The umbrella header: includes every public header of ctt. Each header also stands
 *        alone, so a program may include only what it uses.
 */

// core
#include "ctt/core/errors.hpp"
#include "ctt/core/shape.hpp"
#include "ctt/core/shape_messages.hpp"
#include "ctt/core/tensor.hpp"
#include "ctt/core/tensor_view.hpp"

// simd
#include "ctt/simd/batch.hpp"
#include "ctt/simd/math.hpp"
#include "ctt/simd/parallel.hpp"
#include "ctt/simd/transpose.hpp"

// kernels
#include "ctt/kernels/activations.hpp"
#include "ctt/kernels/conv2d.hpp"
#include "ctt/kernels/elementwise.hpp"
#include "ctt/kernels/gemm.hpp"
#include "ctt/kernels/gemv.hpp"
#include "ctt/kernels/glu.hpp"
#include "ctt/kernels/group_norm.hpp"
#include "ctt/kernels/image.hpp"
#include "ctt/kernels/norms.hpp"
#include "ctt/kernels/softmax.hpp"

// attention
#include "ctt/attention/attention_concepts.hpp"
#include "ctt/attention/attention_params.hpp"
#include "ctt/attention/decode_attention.hpp"
#include "ctt/attention/flash_attention.hpp"
#include "ctt/attention/kv_cache.hpp"
#include "ctt/attention/masks.hpp"
#include "ctt/attention/permutation_mask.hpp"
#include "ctt/attention/reference_attention.hpp"
#include "ctt/attention/sparse_masks.hpp"

// position
#include "ctt/position/alibi.hpp"
#include "ctt/position/bias_sum.hpp"
#include "ctt/position/bias_tensor.hpp"
#include "ctt/position/deberta.hpp"
#include "ctt/position/embeddings.hpp"
#include "ctt/position/position_concepts.hpp"
#include "ctt/position/relative_xl.hpp"
#include "ctt/position/relative_xl_band.hpp"
#include "ctt/position/rotary.hpp"
#include "ctt/position/segment_bias.hpp"
#include "ctt/position/sinusoidal.hpp"
#include "ctt/position/t5_bias.hpp"

// blocks
#include "ctt/blocks/attention_block.hpp"
#include "ctt/blocks/feed_forward.hpp"
#include "ctt/blocks/heads.hpp"
#include "ctt/blocks/knowledge_fusion.hpp"
#include "ctt/blocks/linear.hpp"
#include "ctt/blocks/mixture_of_experts.hpp"
#include "ctt/blocks/norm.hpp"
#include "ctt/blocks/qk_norm.hpp"
#include "ctt/blocks/relative_attention.hpp"
#include "ctt/blocks/segment_memory.hpp"
#include "ctt/blocks/spatial_transformer.hpp"

// models
#include "ctt/models/bert.hpp"
#include "ctt/models/bloom.hpp"
#include "ctt/models/causal_lm.hpp"
#include "ctt/models/cohere.hpp"
#include "ctt/models/ctrl.hpp"
#include "ctt/models/ernie_thu.hpp"
#include "ctt/models/falcon.hpp"
#include "ctt/models/generation.hpp"
#include "ctt/models/gpt2.hpp"
#include "ctt/models/gpt3.hpp"
#include "ctt/models/gpt_neo.hpp"
#include "ctt/models/gpt_neox.hpp"
#include "ctt/models/gptj.hpp"
#include "ctt/models/hf_names.hpp"
#include "ctt/models/lamda.hpp"
#include "ctt/models/ldm_transformer.hpp"
#include "ctt/models/ldm_unet.hpp"
#include "ctt/models/llama.hpp"
#include "ctt/models/mixtral.hpp"
#include "ctt/models/model_concepts.hpp"
#include "ctt/models/model_io.hpp"
#include "ctt/models/palm.hpp"
#include "ctt/models/qwen3_moe.hpp"
#include "ctt/models/t5.hpp"
#include "ctt/models/transfo_xl.hpp"
#include "ctt/models/xlnet.hpp"

// io
#include "ctt/io/half.hpp"
#include "ctt/io/hf_config.hpp"
#include "ctt/io/parameter_loader.hpp"
#include "ctt/io/safetensors.hpp"
