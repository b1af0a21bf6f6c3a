// The diffusion entries of the registry: diffusers' Transformer2DModel and UNet2DConditionModel
// configs to compile-time constants (per-block lists as std::arrays, diffusers' defaults and its
// attention_head_dim-is-the-head-count reading), and a refusal naming the setting for every
// variant ctt does not compute.
#include <ctt/io/hf_config.hpp>

#include <doctest/doctest.h>

#include <fstream>
#include <string>

namespace {

nlohmann::json read_config(const std::string& name) {
    std::ifstream in(std::string(CTT_TEST_DATA_DIR) + "/hf/" + name + "/config.json");
    return nlohmann::json::parse(in);
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

std::string error_of(const nlohmann::json& config) {
    try {
        (void)ctt::hf_config_header(config, "m");
    } catch (const ctt::io_error& e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST_CASE("Transformer2DModel configs map to ldm_transformer") {
    auto config = read_config("ldm_transformer");
    const auto header = ctt::hf_config_header(config, "tiny");
    CHECK(contains(header, "#include <ctt/models/ldm_transformer.hpp>"));
    CHECK(contains(header, "static constexpr ::ctt::index_t in_channels = 32;"));
    CHECK(contains(header, "static constexpr ::ctt::index_t num_attention_heads = 4;"));
    CHECK(contains(header, "static constexpr ::ctt::index_t attention_head_dim = 8;"));
    CHECK(contains(header, "static constexpr ::ctt::index_t cross_attention_dim = 24;"));
    CHECK(contains(header, "static constexpr ::ctt::index_t norm_num_groups = 8;"));
    CHECK(contains(header, "static constexpr bool use_linear_projection = false;"));
    CHECK(contains(header, "using model = ::ctt::ldm_transformer<config>;"));
    CHECK(contains(header, "architecture = \"Transformer2DModel\""));

    config["use_linear_projection"] = true;
    config["attention_bias"] = true;
    config["num_layers"] = 3;
    const auto linear = ctt::hf_config_header(config, "tiny");
    CHECK(contains(linear, "static constexpr bool use_linear_projection = true;"));
    CHECK(contains(linear, "static constexpr bool attention_bias = true;"));
    CHECK(contains(linear, "static constexpr ::ctt::index_t num_layers = 3;"));
}

TEST_CASE("Transformer2DModel variants ctt does not compute are refused by name") {
    const auto refused = [](const char* key, const nlohmann::json& value) {
        auto config = read_config("ldm_transformer");
        config[key] = value;
        const std::string e = error_of(config);
        CAPTURE(e);
        CHECK(contains(e, std::string("\"") + key + "\""));
    };
    refused("norm_type", "ada_norm_zero");
    refused("attention_type", "gated");
    refused("num_vector_embeds", 16);
    refused("patch_size", 2);
    refused("num_embeds_ada_norm", 1000);
    refused("activation_fn", "gelu");
    refused("only_cross_attention", true);
    refused("double_self_attention", true);
    refused("norm_elementwise_affine", false);
    refused("out_channels", 16);
    refused("cross_attention_dim", nullptr);
    refused("caption_channels", 64);
    auto config = read_config("ldm_transformer");
    config["norm_num_groups"] = 5;
    CHECK(contains(error_of(config), "multiple of norm_num_groups"));
}

TEST_CASE("UNet2DConditionModel configs map to ldm_unet") {
    auto config = read_config("ldm_unet");
    const auto header = ctt::hf_config_header(config, "tiny");
    CHECK(contains(header, "#include <ctt/models/ldm_unet.hpp>"));
    CHECK(contains(header,
                   "static constexpr std::array<::ctt::index_t, 2> block_out_channels{32, 64};"));
    CHECK(contains(header, "static constexpr std::array<::ctt::unet_block, 2> down_block_types{"
                           "::ctt::unet_block::cross_attn_down, ::ctt::unet_block::down};"));
    CHECK(contains(header, "static constexpr std::array<::ctt::unet_block, 2> up_block_types{"
                           "::ctt::unet_block::up, ::ctt::unet_block::cross_attn_up};"));
    // diffusers reads the head count from attention_head_dim.
    CHECK(contains(header, "std::array<::ctt::index_t, 2> attention_heads{8, 8};"));
    CHECK(contains(header, "std::array<::ctt::index_t, 2> layers_per_block{1, 1};"));
    CHECK(contains(header, "static constexpr ::ctt::index_t time_embed_dim = 128;"));
    CHECK(contains(header, "static constexpr bool flip_sin_to_cos = true;"));
    CHECK(contains(header, "using model = ::ctt::ldm_unet<config>;"));

    // Per-block lists, three blocks, and settings off their defaults.
    config["block_out_channels"] = {16, 24, 40};
    config["down_block_types"] = {"DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"};
    config["up_block_types"] = {"CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"};
    config["layers_per_block"] = {2, 1, 3};
    config["transformer_layers_per_block"] = 2;
    config["attention_head_dim"] = {2, 4, 5};
    config["time_embedding_dim"] = 48;
    config["freq_shift"] = 1;
    config["flip_sin_to_cos"] = false;
    const auto three = ctt::hf_config_header(config, "tiny");
    CHECK(contains(three, "std::array<::ctt::index_t, 3> block_out_channels{16, 24, 40};"));
    CHECK(contains(three, "std::array<::ctt::index_t, 3> layers_per_block{2, 1, 3};"));
    CHECK(contains(three, "std::array<::ctt::index_t, 3> transformer_layers_per_block{2, 2, 2};"));
    CHECK(contains(three, "std::array<::ctt::index_t, 3> attention_heads{2, 4, 5};"));
    CHECK(contains(three, "static constexpr ::ctt::index_t time_embed_dim = 48;"));
    CHECK(contains(three, "static constexpr float freq_shift = 1.0f;"));
    CHECK(contains(three,
                   "down_block_types{::ctt::unet_block::down, "
                   "::ctt::unet_block::cross_attn_down, ::ctt::unet_block::cross_attn_down};"));
}

TEST_CASE("UNet2DConditionModel variants ctt does not compute are refused by name") {
    const auto refused = [](const char* key, const nlohmann::json& value, const char* says) {
        auto config = read_config("ldm_unet");
        config[key] = value;
        const std::string e = error_of(config);
        CAPTURE(e);
        CHECK(contains(e, says));
    };
    refused("down_block_types", {"CrossAttnDownBlock2D", "AttnDownBlock2D"},
            "\"down_block_types\"[1] = \"AttnDownBlock2D\" is a block type ctt lacks");
    refused("up_block_types", {"UpBlock2D", "SimpleCrossAttnUpBlock2D"},
            "\"up_block_types\"[1] = \"SimpleCrossAttnUpBlock2D\" is a block type ctt lacks");
    refused("mid_block_type", "UNetMidBlock2DSimpleCrossAttn", "\"mid_block_type\"");
    refused("resnet_time_scale_shift", "scale_shift", "\"resnet_time_scale_shift\"");
    refused("class_embed_type", "timestep", "\"class_embed_type\"");
    refused("num_class_embeds", 10, "\"num_class_embeds\"");
    refused("addition_embed_type", "text_time", "\"addition_embed_type\"");
    refused("time_embedding_type", "fourier", "\"time_embedding_type\"");
    refused("time_cond_proj_dim", 256, "\"time_cond_proj_dim\"");
    refused("encoder_hid_dim", 64, "\"encoder_hid_dim\"");
    refused("act_fn", "mish", "\"act_fn\"");
    refused("attention_type", "gated", "\"attention_type\"");
    refused("dual_cross_attention", true, "\"dual_cross_attention\"");
    refused("only_cross_attention", {false, true}, "\"only_cross_attention\"");
    refused("num_attention_heads", 8, "\"num_attention_heads\"");
    refused("center_input_sample", true, "\"center_input_sample\"");
    refused("cross_attention_dim", {32, 32}, "\"cross_attention_dim\"");
    refused("conv_in_kernel", 4, "\"conv_in_kernel\" must be odd");
    refused("attention_head_dim", {8, 6}, "not a multiple of its head count 6");
    refused("layers_per_block", {1, 1, 1}, "\"layers_per_block\" has 3 entries");
    refused("block_out_channels", {32, 60}, "is not a multiple of norm_num_groups");
    refused("norm_num_groups", nullptr, "\"norm_num_groups\" = null");
    refused("mid_block_type", nullptr, "\"mid_block_type\" = null");
}
