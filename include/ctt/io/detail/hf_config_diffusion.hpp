#pragma once
/**
 * @file
 * @brief The `config.json` mappers of the diffusion entries of ctt's registry: diffusers'
 *        `Transformer2DModel` ("ldm_transformer") and `UNet2DConditionModel` ("ldm_unet").
 *        Included by `io/hf_config.hpp`. The mappers are templates on the writer
 *        (`detail::config_writer`) so that this header needs nothing of `hf_config.hpp`.
 *
 * Every diffusers setting that changes what these models compute is either mapped or
 * rejected by name. Settings that change nothing in fp32 inference (`dropout`,
 * `upcast_attention`, `sample_size`) are accepted.
 */

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ctt::detail {

/// `[a, b, ...]` as the initialiser of a `std::array<::ctt::index_t, N>` member.
template <class Writer>
inline void write_index_array(Writer& w, const char* name,
                              const std::vector<std::uint64_t>& values) {
    std::string line = "    static constexpr std::array<::ctt::index_t, " +
                       std::to_string(values.size()) + "> " + name + "{";
    for (std::size_t i = 0; i < values.size(); ++i) {
        line += (i == 0 ? "" : ", ") + std::to_string(values[i]);
    }
    w.raw(line + "};\n");
}

/// A key that is either one positive integer for every block or a list of `blocks` of them.
template <class Writer>
inline std::vector<std::uint64_t> per_block_sizes(Writer& w, const nlohmann::json& json,
                                                  const char* key, std::uint64_t fallback,
                                                  std::size_t blocks) {
    if (!w.has(key)) {
        return std::vector<std::uint64_t>(blocks, fallback);
    }
    const auto& v = json.at(key);
    if (v.is_array()) {
        if (v.size() != blocks) {
            w.fail(std::string("\"") + key + "\" has " + std::to_string(v.size()) +
                   " entries where block_out_channels has " + std::to_string(blocks));
        }
        std::vector<std::uint64_t> out;
        for (const auto& e : v) {
            if (!e.is_number_integer() || e.get<std::int64_t>() <= 0) {
                w.fail(std::string("\"") + key +
                       "\" must list positive integers (nested lists are not supported)");
            }
            out.push_back(e.get<std::uint64_t>());
        }
        return out;
    }
    return std::vector<std::uint64_t>(blocks, w.size(key));
}

/// The settings of diffusers' attention blocks that ctt does not implement.
template <class Writer>
inline void reject_attention_variants(Writer& w, const nlohmann::json& json) {
    w.require("attention_type", "default", "only the default attention");
    w.require("dual_cross_attention", false, "dual cross-attention is not implemented");
    if (w.has("only_cross_attention")) {
        const auto& v = json.at("only_cross_attention");
        const bool any =
            v.is_array() ? std::any_of(v.begin(), v.end(), [](const auto& e) { return e == true; })
                         : v == true;
        if (any) {
            w.fail("\"only_cross_attention\" = true is not supported (self-attention is always "
                   "self-attention)");
        }
    }
}

template <class Writer>
inline void map_ldm_transformer(Writer& w, const nlohmann::json& json, std::string_view) {
    reject_attention_variants(w, json);
    w.require("num_vector_embeds", nullptr, "only continuous inputs (no vector-quantised input)");
    w.require("patch_size", nullptr, "only continuous inputs (no patched input)");
    w.require("num_embeds_ada_norm", nullptr, "AdaLayerNorm is not implemented");
    w.require("caption_channels", nullptr, "caption projection is not implemented");
    w.require("use_additional_conditions", false, "additional conditions are not implemented");
    w.require("norm_type", "layer_norm", "only LayerNorm transformer blocks");
    w.require("norm_elementwise_affine", true, "the LayerNorms have affine parameters");
    w.require("activation_fn", "geglu", "the feed-forward is GEGLU");
    w.require("double_self_attention", false, "attn2 cross-attends to the text states");
    const auto channels = w.size("in_channels");
    if (w.has("out_channels") && w.size("out_channels") != channels) {
        w.fail("\"out_channels\" differs from in_channels (the residual needs them equal)");
    }
    if (!w.has("cross_attention_dim")) {
        w.fail("\"cross_attention_dim\" is null: a transformer without cross-attention is not "
               "supported");
    }
    const auto groups = w.size_or("norm_num_groups", 32);
    if (channels % groups != 0) {
        w.fail("in_channels must be a multiple of norm_num_groups");
    }
    w.index("in_channels", channels);
    w.index("num_attention_heads", w.size_or("num_attention_heads", 16));
    w.index("attention_head_dim", w.size_or("attention_head_dim", 88));
    w.index("cross_attention_dim", w.size("cross_attention_dim"));
    w.index("num_layers", w.size_or("num_layers", 1));
    w.index("norm_num_groups", groups);
    w.real("norm_eps", w.number_or("norm_eps", 1e-5));
    w.boolean("use_linear_projection", w.flag_or("use_linear_projection", false));
    w.boolean("attention_bias", w.flag_or("attention_bias", false));
}

/// A list of block type names mapped to `::ctt::unet_block` values, or an error naming the
/// first type ctt lacks.
template <class Writer>
inline std::string unet_block_list(Writer& w, const nlohmann::json& json, const char* key,
                                   const std::vector<std::string>& fallback, bool down) {
    std::vector<std::string> names = fallback;
    if (w.has(key)) {
        if (!json.at(key).is_array()) {
            w.fail(std::string("\"") + key + "\" must be a list of block type names");
        }
        names.clear();
        for (const auto& e : json.at(key)) {
            if (!e.is_string()) {
                w.fail(std::string("\"") + key + "\" must be a list of block type names");
            }
            names.push_back(e.get<std::string>());
        }
    }
    std::string out;
    for (std::size_t i = 0; i < names.size(); ++i) {
        const std::string& n = names[i];
        const char* value = nullptr;
        if (down && n == "CrossAttnDownBlock2D") {
            value = "cross_attn_down";
        } else if (down && n == "DownBlock2D") {
            value = "down";
        } else if (!down && n == "CrossAttnUpBlock2D") {
            value = "cross_attn_up";
        } else if (!down && n == "UpBlock2D") {
            value = "up";
        } else {
            w.fail(std::string("\"") + key + "\"[" + std::to_string(i) + "] = \"" + n +
                   "\" is a block type ctt lacks (supported: " +
                   (down ? "CrossAttnDownBlock2D, DownBlock2D" : "CrossAttnUpBlock2D, UpBlock2D") +
                   ")");
        }
        out += (i == 0 ? "" : ", ") + std::string("::ctt::unet_block::") + value;
    }
    return std::to_string(names.size()) + "> " + key + "{" + out + "};\n";
}

template <class Writer>
inline void map_ldm_unet(Writer& w, const nlohmann::json& json, std::string_view) {
    reject_attention_variants(w, json);
    w.require("act_fn", "silu", "the ResNet and time-embedding activation is SiLU");
    w.require("time_embedding_type", "positional", "only the sinusoidal timestep embedding");
    w.require("time_embedding_act_fn", nullptr, "no activation after the time embedding");
    w.require("timestep_post_act", nullptr, "no activation inside the time embedding's output");
    w.require("time_cond_proj_dim", nullptr, "timestep conditioning is not implemented");
    w.require("class_embed_type", nullptr, "class embeddings are not implemented");
    w.require("num_class_embeds", nullptr, "class embeddings are not implemented");
    w.require("class_embeddings_concat", false, "class embeddings are not implemented");
    w.require("projection_class_embeddings_input_dim", nullptr,
              "class embeddings are not implemented");
    w.require("addition_embed_type", nullptr, "additional embeddings are not implemented");
    w.require("addition_time_embed_dim", nullptr, "additional embeddings are not implemented");
    w.require("encoder_hid_dim", nullptr, "an encoder projection is not implemented");
    w.require("encoder_hid_dim_type", nullptr, "an encoder projection is not implemented");
    w.require("resnet_time_scale_shift", "default", "the time embedding is added, not scale-shift");
    w.require("resnet_skip_time_act", false, "the ResNets apply SiLU to the time embedding");
    w.require("cross_attention_norm", nullptr, "no norm on the text states");
    w.require("center_input_sample", false, "the sample is used as given");
    w.require("mid_block_type", "UNetMidBlock2DCrossAttn",
              "the mid block is UNetMidBlock2DCrossAttn (a block type ctt lacks otherwise)");
    w.require("mid_block_only_cross_attention", false, "self-attention is always self-attention");
    w.require("reverse_transformer_layers_per_block", nullptr,
              "up blocks reuse the reversed transformer_layers_per_block");
    w.require("num_attention_heads", nullptr,
              "diffusers reads the head count from attention_head_dim and refuses "
              "num_attention_heads");
    if (w.has("cross_attention_dim") && !json.at("cross_attention_dim").is_number_integer()) {
        w.fail("\"cross_attention_dim\" must be one integer (per-block lists are not supported)");
    }
    if (json.contains("mid_block_type") && json.at("mid_block_type").is_null()) {
        w.fail("\"mid_block_type\" = null (a U-Net without a mid block) is not supported");
    }
    if (json.contains("norm_num_groups") && json.at("norm_num_groups").is_null()) {
        w.fail("\"norm_num_groups\" = null (no output norm) is not supported");
    }

    std::vector<std::uint64_t> channels{320, 640, 1280, 1280};
    if (w.has("block_out_channels")) {
        const auto& v = json.at("block_out_channels");
        if (!v.is_array() || v.empty()) {
            w.fail("\"block_out_channels\" must be a non-empty list");
        }
        channels.clear();
        for (const auto& e : v) {
            if (!e.is_number_integer() || e.get<std::int64_t>() <= 0) {
                w.fail("\"block_out_channels\" must list positive integers");
            }
            channels.push_back(e.get<std::uint64_t>());
        }
    }
    const std::size_t blocks = channels.size();
    const auto down = unet_block_list(
        w, json, "down_block_types",
        {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"},
        true);
    const auto up = unet_block_list(
        w, json, "up_block_types",
        {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"}, false);
    const auto count = [](const std::string& list) {
        return static_cast<std::size_t>(std::stoul(list.substr(0, list.find('>'))));
    };
    if (count(down) != blocks || count(up) != blocks) {
        w.fail("down_block_types, up_block_types and block_out_channels must have one entry per "
               "block");
    }
    const auto layers = per_block_sizes(w, json, "layers_per_block", 2, blocks);
    const auto transformer_layers =
        per_block_sizes(w, json, "transformer_layers_per_block", 1, blocks);
    const auto heads = per_block_sizes(w, json, "attention_head_dim", 8, blocks);
    const auto groups = w.size_or("norm_num_groups", 32);
    for (std::size_t i = 0; i < blocks; ++i) {
        if (channels[i] % groups != 0) {
            w.fail("block_out_channels[" + std::to_string(i) +
                   "] = " + std::to_string(channels[i]) + " is not a multiple of norm_num_groups");
        }
        if (channels[i] % heads[i] != 0) {
            w.fail("block_out_channels[" + std::to_string(i) +
                   "] = " + std::to_string(channels[i]) + " is not a multiple of its head count " +
                   std::to_string(heads[i]) + " (attention_head_dim)");
        }
    }
    for (const char* key : {"conv_in_kernel", "conv_out_kernel"}) {
        if (w.size_or(key, 3) % 2 == 0) {
            w.fail(std::string("\"") + key + "\" must be odd (padding (k - 1) / 2 keeps the grid)");
        }
    }

    w.index("in_channels", w.size_or("in_channels", 4));
    w.index("out_channels", w.size_or("out_channels", 4));
    write_index_array(w, "block_out_channels", channels);
    w.raw("    static constexpr std::array<::ctt::unet_block, " + down);
    w.raw("    static constexpr std::array<::ctt::unet_block, " + up);
    write_index_array(w, "layers_per_block", layers);
    write_index_array(w, "transformer_layers_per_block", transformer_layers);
    write_index_array(w, "attention_heads", heads);
    w.index("norm_num_groups", groups);
    w.real("norm_eps", w.number_or("norm_eps", 1e-5));
    w.index("cross_attention_dim", w.size_or("cross_attention_dim", 1280));
    w.index("time_embed_dim", w.size_or("time_embedding_dim", 4 * channels[0]));
    w.boolean("flip_sin_to_cos", w.flag_or("flip_sin_to_cos", true));
    w.real("freq_shift", w.number_or("freq_shift", 0));
    w.index("conv_in_kernel", w.size_or("conv_in_kernel", 3));
    w.index("conv_out_kernel", w.size_or("conv_out_kernel", 3));
    const auto padding = w.integer_or("downsample_padding", 1);
    if (padding < 0) {
        w.fail("\"downsample_padding\" must not be negative");
    }
    w.index("downsample_padding", static_cast<std::uint64_t>(padding));
    w.real("mid_block_scale_factor", w.number_or("mid_block_scale_factor", 1));
    w.real("resnet_out_scale_factor", w.number_or("resnet_out_scale_factor", 1));
    w.boolean("use_linear_projection", w.flag_or("use_linear_projection", false));
}

} // namespace ctt::detail
