#include <ctt/io/hf_config.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <utility>

namespace {

nlohmann::json read_config(const std::string& name) {
    std::ifstream in(std::string(CTT_TEST_DATA_DIR) + "/hf/" + name + "/config.json");
    return nlohmann::json::parse(in);
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

std::string error_of(const nlohmann::json& config, std::string_view architecture = {}) {
    try {
        (void)ctt::hf_config_header(config, "m", "config.json", architecture);
    } catch (const ctt::io_error& e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST_CASE("the shipped configs map to their compile-time constants") {
    const auto bert = ctt::hf_config_header(read_config("bert"), "tiny_bert");
    CHECK(contains(bert, "namespace tiny_bert {"));
    CHECK(contains(bert, "#include <ctt/models/bert.hpp>"));
    CHECK(contains(bert, "static constexpr ::ctt::index_t hidden_size = 64;"));
    CHECK(contains(bert,
                   "static constexpr ::ctt::activation hidden_act = ::ctt::activation::gelu_erf;"));
    CHECK(contains(bert, "static constexpr float norm_eps = 1e-12f;"));
    CHECK(contains(bert, "heads = ::ctt::encoder_heads::pooler | ::ctt::encoder_heads::masked_lm | "
                         "::ctt::encoder_heads::sentence_pair;"));
    CHECK(contains(bert, "using model = ::ctt::bert<config>;"));

    const auto gpt2 = ctt::hf_config_header(read_config("gpt2"), "g");
    CHECK(contains(gpt2, "intermediate_size = 128;"));
    CHECK(contains(gpt2, "::ctt::activation::gelu_tanh;"));
    CHECK(contains(gpt2, "architecture = \"GPT2LMHeadModel\""));

    const auto llama = ctt::hf_config_header(read_config("llama"), "l");
    CHECK(contains(llama, "num_kv_heads = 2;"));
    CHECK(contains(llama, "head_dim = 16;"));
    CHECK(contains(llama, "static constexpr double rope_theta = 10000.0;"));
    CHECK(contains(llama, "tie_word_embeddings = false;"));

    const auto t5 = ctt::hf_config_header(read_config("t5"), "t");
    CHECK(contains(t5, "num_buckets = 16;"));
    CHECK(contains(t5, "max_distance = 12;"));
    CHECK(contains(t5, "static constexpr bool gated = false;"));
    CHECK(contains(t5, "scale_decoder_outputs = true;"));
}

TEST_CASE("bart: both stacks' sizes, its embedding settings, and what it refuses") {
    auto c = read_config("bart");
    c["decoder_attention_heads"] = 8;
    c["decoder_ffn_dim"] = 96;
    c["decoder_layers"] = 3;
    c["scale_embedding"] = true;
    c["tie_word_embeddings"] = false;
    const auto text = ctt::hf_config_header(c, "b");
    CHECK(contains(text, "num_heads = 4;"));
    CHECK(contains(text, "decoder_heads = 8;"));
    CHECK(contains(text, "intermediate_size = 128;"));
    CHECK(contains(text, "decoder_intermediate_size = 96;"));
    CHECK(contains(text, "encoder_layers = 2;"));
    CHECK(contains(text, "decoder_layers = 3;"));
    CHECK(contains(text, "max_positions = 64;"));
    CHECK(contains(text, "scale_embeddings = true;"));
    CHECK(contains(text, "tie_word_embeddings = false;"));
    CHECK(contains(text, "decoder_start_token_id = 2;"));
    CHECK(contains(text, "hidden_act = ::ctt::activation::gelu_erf;"));
    for (const char* key : {"normalize_before", "add_final_layer_norm", "is_decoder"}) {
        auto bad = read_config("bart");
        bad[key] = true;
        CAPTURE(key);
        CHECK(contains(error_of(bad), key));
    }
    auto heads = read_config("bart");
    heads["decoder_attention_heads"] = 5;
    CHECK(contains(error_of(heads), "multiple of the number of attention heads (5)"));
    auto act = read_config("bart");
    act["activation_function"] = "swish_beta";
    CHECK(contains(error_of(act), "activation_function"));
}

TEST_CASE("coca: open_clip's three sections, their defaults, and what it refuses") {
    const auto text = ctt::hf_config_header(read_config("coca"), "c");
    CHECK(contains(text, "struct vision {"));
    CHECK(contains(text, "heads = 4;")); // width 64 / head_width 16
    CHECK(contains(text, "pooler_queries = 8;"));
    CHECK(contains(text, "intermediate_size = 256;")); // mlp_ratio 4
    CHECK(contains(text, "context_length = 13;"));
    CHECK(contains(text, "correct_cls_mask = false;"));
    const auto refused = [](const char* section, const char* key, const nlohmann::json& value) {
        auto c = read_config("coca");
        c[section][key] = value;
        return error_of(c);
    };
    CHECK(contains(refused("vision_cfg", "attentional_pool", "parallel"), "attentional_pool"));
    CHECK(contains(refused("vision_cfg", "attentional_pool", false), "attentional_pool"));
    CHECK(contains(refused("vision_cfg", "pool_type", "avg"), "pool_type"));
    CHECK(contains(refused("vision_cfg", "ls_init_value", 0.1), "layer scale"));
    CHECK(contains(refused("text_cfg", "embed_cls", false), "embed_cls"));
    CHECK(contains(refused("text_cfg", "hf_model_name", "bert"), "hf_model_name"));
    CHECK(contains(refused("multimodal_cfg", "width", 32), "must equal the text width"));
    CHECK(contains(refused("vision_cfg", "attn_pooler_queries", 1), "at least 2"));
    auto quick = read_config("coca");
    quick["quick_gelu"] = true;
    CHECK(contains(ctt::hf_config_header(quick, "c"), "::ctt::activation::quick_gelu;"));
}

TEST_CASE("defaults follow HF's config classes") {
    auto c = read_config("gpt2");
    c.erase("n_inner");
    CHECK(contains(ctt::hf_config_header(c, "g"), "intermediate_size = 256;")); // 4 * n_embd
    auto l = read_config("llama");
    l.erase("num_key_value_heads");
    l.erase("head_dim");
    l.erase("rope_parameters");
    l["rope_theta"] = 500000.0;
    const auto text = ctt::hf_config_header(l, "l");
    CHECK(contains(text, "num_kv_heads = 4;"));
    CHECK(contains(text, "head_dim = 16;"));
    CHECK(contains(text, "static constexpr double rope_theta = 5e+05;"));
    auto t = read_config("t5");
    t["feed_forward_proj"] = "gated-gelu";
    CHECK(contains(ctt::hf_config_header(t, "t"), "dense_act = ::ctt::activation::gelu_tanh;"));
    CHECK(contains(ctt::hf_config_header(t, "t"), "gated = true;"));
}

TEST_CASE("one registry: every family maps, an unknown type lists the supported ones") {
    // Every shipped case generates a header naming its family's template.
    const std::pair<const char*, const char*> families[] = {
        {"gpt_neo", "::ctt::gpt_neo<config>"},
        {"ctrl", "::ctt::ctrl<config>"},
        {"gpt_neox", "::ctt::gpt_neox<config>"},
        {"gptj", "::ctt::gptj<config>"},
        {"bloom", "::ctt::bloom<config>"},
        {"falcon", "::ctt::falcon<config>"},
        {"cohere", "::ctt::cohere<config>"},
        {"mixtral", "::ctt::mixtral<config>"},
        {"glam", "::ctt::qwen3_moe<config>"},
        {"lamda", "::ctt::lamda<config>"},
        {"roberta", "::ctt::roberta<config>"},
        {"xlm", "::ctt::xlm<config>"},
        {"albert", "::ctt::albert<config>"},
        {"distilbert", "::ctt::distilbert<config>"},
        {"electra", "::ctt::electra<config>"},
        {"deberta", "::ctt::deberta<config>"},
        {"deberta_v2", "::ctt::deberta_v2<config>"},
        {"vit", "::ctt::vit<config>"},
        {"clip", "::ctt::clip<config>"},
        {"bart", "::ctt::bart<config>"},
        {"coca", "::ctt::coca<config>"},
        {"mt5", "::ctt::t5<config>"}};
    for (const auto& family : families) {
        const std::string name =
            family.first; // not a structured binding: clang 14 cannot capture one
        CAPTURE(name);
        CHECK(contains(ctt::hf_config_header(read_config(name), "m"), family.second));
    }
    // A T5 config with is_decoder is the decoder-only stack, never the encoder-decoder.
    CHECK(contains(ctt::hf_config_header(read_config("lamda"), "m"), "T5DecoderOnly"));
    CHECK(contains(ctt::hf_config_header(read_config("t5"), "m"), "::ctt::t5<config>"));
    auto c = read_config("gpt2");
    c["model_type"] = "rwkv";
    const auto e = error_of(c);
    CHECK(contains(
        e, "model_type \"rwkv\" is not supported (supported: bert, roberta, xlm-roberta, xlm"));
    CHECK(contains(e, "qwen3_moe"));
}

TEST_CASE("family settings become slots and values") {
    const auto neo = ctt::hf_config_header(read_config("gpt_neo"), "m");
    CHECK(contains(neo, "layer_windows[] = {0, 5};"));
    CHECK(contains(neo, "attention_scale = 1.0f;"));
    const auto neox = ctt::hf_config_header(read_config("gpt_neox"), "m");
    CHECK(contains(neox, "rotary_dim = 4;")); // 0.25 of 16
    auto sequential = read_config("gpt_neox");
    sequential["use_parallel_residual"] = false;
    CHECK(contains(ctt::hf_config_header(sequential, "m"),
                   "placement = ::ctt::norm_placement::pre;"));
    auto falcon = read_config("falcon");
    CHECK(contains(ctt::hf_config_header(falcon, "m"), "num_kv_heads = 1;"));
    falcon["new_decoder_architecture"] = true;
    falcon["num_kv_heads"] = 2;
    const auto grouped = ctt::hf_config_header(falcon, "m");
    CHECK(contains(grouped, "num_kv_heads = 2;"));
    CHECK(contains(grouped, "qkv = ::ctt::qkv_layout::fused_grouped;"));
    CHECK(contains(grouped, "shared_norm = false;"));
    const auto glam = ctt::hf_config_header(read_config("glam"), "m");
    CHECK(contains(glam, "moe_every = 2;"));
    CHECK(contains(glam, "experts_per_token = 2;"));
    CHECK(contains(glam, "moe_intermediate_size = 64;"));
    CHECK(contains(ctt::hf_config_header(read_config("cohere"), "m"), "logit_scale = 0.5f;"));
    auto mixtral = read_config("mixtral");
    mixtral["sliding_window"] = 7;
    CHECK(contains(ctt::hf_config_header(mixtral, "m"), "sliding_window = 7;"));
    mixtral["num_experts_per_tok"] = 9;
    CHECK(contains(error_of(mixtral), "exceeds the 4 experts"));
    auto bloom = read_config("bloom");
    bloom["apply_residual_connection_post_layernorm"] = true;
    CHECK(contains(error_of(bloom), "apply_residual_connection_post_layernorm"));
    auto neo_bad = read_config("gpt_neo");
    neo_bad["attention_types"] = {{{"global", "sparse"}, 1}};
    CHECK(contains(error_of(neo_bad), "\"sparse\" is not \"global\" or \"local\""));
    auto cohere = read_config("cohere");
    cohere["use_qk_norm"] = true;
    CHECK(contains(error_of(cohere), "use_qk_norm"));
}

TEST_CASE("encoder settings become slots and values, or are refused by name") {
    const auto albert = ctt::hf_config_header(read_config("albert"), "m");
    CHECK(contains(albert, "embedding_size = 32;"));
    CHECK(contains(albert, "num_hidden_groups = 1;"));
    auto groups = read_config("albert");
    groups["num_hidden_groups"] = 2;
    CHECK(contains(error_of(groups), "multiple of num_hidden_groups"));
    const auto xlm = ctt::hf_config_header(read_config("xlm"), "m");
    CHECK(contains(xlm, "num_langs = 2;"));
    CHECK(contains(xlm, "intermediate_size = 256;")); // 4 * emb_dim
    auto mono = read_config("xlm");
    mono["use_lang_emb"] = false;
    CHECK(contains(ctt::hf_config_header(mono, "m"), "num_langs = 0;"));
    auto sinus = read_config("distilbert");
    sinus["sinusoidal_pos_embds"] = true;
    CHECK(contains(ctt::hf_config_header(sinus, "m"),
                   "positions = ::ctt::position_embedding::sinusoidal_interleaved;"));
    const auto v1 = ctt::hf_config_header(read_config("deberta"), "m");
    CHECK(contains(v1, "max_relative_positions = 64;")); // -1: max_position_embeddings
    CHECK(contains(v1, "positions = ::ctt::position_embedding::none;"));
    const auto v2 = ctt::hf_config_header(read_config("deberta_v2"), "m");
    CHECK(contains(v2, "position_buckets = 8;"));
    CHECK(contains(v2, "share_att_key = true;"));
    CHECK(contains(v2, "norm_rel_ebd = true;"));
    auto conv = read_config("deberta_v2");
    conv["conv_kernel_size"] = 3;
    CHECK(contains(error_of(conv), "conv_kernel_size"));
    auto p2p = read_config("deberta_v2");
    p2p["pos_att_type"] = {"p2c", "p2p"};
    CHECK(contains(error_of(p2p), "\"p2p\""));
    auto as_string = read_config("deberta");
    as_string["pos_att_type"] = "c2p";
    const auto c2p_only = ctt::hf_config_header(as_string, "m");
    CHECK(contains(c2p_only, "pos_att_c2p = true;"));
    CHECK(contains(c2p_only, "pos_att_p2c = false;"));
    auto vit = read_config("vit");
    vit["patch_size"] = 5;
    CHECK(contains(error_of(vit), "image_size must be a multiple of patch_size"));
    const auto clip = ctt::hf_config_header(read_config("clip"), "m");
    CHECK(contains(clip, "struct text {"));
    CHECK(contains(clip, "struct vision {"));
    CHECK(contains(clip, "eos_token_id = 3;"));
    CHECK(contains(clip, "projection_dim = 32;"));
    // The architecture picks the heads.
    CHECK(contains(ctt::hf_config_header(read_config("bert"), "m", "config.json", "BertModel"),
                   "heads = ::ctt::encoder_heads::pooler;"));
    CHECK(
        contains(ctt::hf_config_header(read_config("electra"), "m", "config.json", "ElectraModel"),
                 "heads = ::ctt::encoder_heads::none;"));
}

TEST_CASE("the architecture picks the head") {
    auto c = read_config("gpt2");
    c["pad_token_id"] = 0;
    const auto text = ctt::hf_config_header(c, "r", "config.json", "GPT2ForSequenceClassification");
    CHECK(contains(text, "head = ::ctt::causal_lm_head::sequence_score;"));
    CHECK(contains(text, "num_labels = 2;"));
    c["architectures"] = {"GPT2ForSequenceClassification"};
    c["num_labels"] = 1;
    CHECK(contains(ctt::hf_config_header(c, "r"), "num_labels = 1;"));
}

TEST_CASE("what ctt cannot reproduce is refused, by name") {
    auto c = read_config("bert");
    c["model_type"] = "mamba";
    CHECK(contains(error_of(c), "model_type \"mamba\" is not supported"));

    c = read_config("bert");
    c["hidden_act"] = "mish";
    CHECK(contains(error_of(c), "\"hidden_act\" = \"mish\" is an activation ctt lacks"));

    c = read_config("bert");
    c["position_embedding_type"] = "relative_key";
    CHECK(contains(error_of(c), "position_embedding_type"));

    auto l = read_config("llama");
    l["rope_parameters"] = {{"rope_type", "yarn"}, {"rope_theta", 10000.0}};
    CHECK(contains(error_of(l), "rope_type \"yarn\" is not supported"));

    l = read_config("llama");
    l["num_key_value_heads"] = 3;
    CHECK(contains(error_of(l), "multiple of the number of key/value heads"));

    auto t = read_config("t5");
    t["feed_forward_proj"] = "gated-mish";
    CHECK(contains(error_of(t), "feed_forward_proj"));

    auto g = read_config("gpt2");
    CHECK(contains(error_of(g, "GPT2DoubleHeadsModel"), "architecture \"GPT2DoubleHeadsModel\""));
    g["n_embd"] = -4;
    CHECK(contains(error_of(g), "\"n_embd\" must be a positive integer"));
    CHECK(contains(error_of(nlohmann::json::array()), "top level must be an object"));
}

TEST_CASE("transfo_xl, xlnet, ernie_thu: their reference code's arguments, at other sizes too") {
    const auto txl = ctt::hf_config_header(read_config("transfo_xl"), "t");
    CHECK(contains(txl, "#include <ctt/models/transfo_xl.hpp>"));
    CHECK(contains(txl, "using model = ::ctt::transfo_xl<config>;"));
    CHECK(contains(txl, "mem_len = 13;"));
    CHECK(contains(txl, "static constexpr int clamp_len = -1;"));
    CHECK(contains(txl, "pre_lnorm = false;"));
    auto txl_other = read_config("transfo_xl");
    txl_other["mem_len"] = 7;
    txl_other["clamp_len"] = 20;
    txl_other["n_head"] = 8;
    txl_other["d_head"] = 5;
    txl_other["pre_lnorm"] = true;
    const auto other = ctt::hf_config_header(txl_other, "t");
    CHECK(contains(other, "mem_len = 7;"));
    CHECK(contains(other, "static constexpr int clamp_len = 20;"));
    CHECK(contains(other, "n_head = 8;"));
    CHECK(contains(other, "d_head = 5;"));
    CHECK(contains(other, "pre_lnorm = true;"));
    const auto txl_refused = [](const char* key, const nlohmann::json& value) {
        auto c = read_config("transfo_xl");
        c[key] = value;
        return error_of(c);
    };
    CHECK(contains(txl_refused("cutoffs", nlohmann::json::array({64, 128})), "adaptive softmax"));
    CHECK(contains(txl_refused("div_val", 4), "div_val"));
    CHECK(contains(txl_refused("attn_type", 2), "\"attn_type\" = 2 is not supported"));
    CHECK(contains(txl_refused("same_length", true), "same_length"));
    CHECK(contains(txl_refused("ext_len", 4), "ext_len"));
    CHECK(contains(txl_refused("d_embed", 32), "projected embeddings"));
    CHECK(contains(txl_refused("sample_softmax", 100), "sample_softmax"));
    CHECK(contains(txl_refused("mem_len", -1), "mem_len"));

    const auto xl = ctt::hf_config_header(read_config("xlnet"), "x");
    CHECK(contains(xl, "using model = ::ctt::xlnet<config>;"));
    CHECK(contains(xl, "architecture = \"XLNetLMHeadModel\""));
    CHECK(contains(xl, "::ctt::activation::gelu_erf;"));
    CHECK(contains(xl, "static constexpr float layer_norm_eps = 1e-12f;"));
    CHECK(contains(xl, "mem_len = 13;"));
    auto xl_other = read_config("xlnet");
    xl_other["mem_len"] = nullptr; // HF: keep every state
    xl_other["clamp_len"] = 5;
    xl_other["n_head"] = 8;
    xl_other.erase("d_head");
    CHECK(contains(ctt::hf_config_header(xl_other, "x"), "mem_len = 0;"));
    CHECK(contains(ctt::hf_config_header(xl_other, "x"), "static constexpr int clamp_len = 5;"));
    CHECK(contains(ctt::hf_config_header(xl_other, "x"), "d_head = 8;")); // 64 / 8
    const auto xl_refused = [](const char* key, const nlohmann::json& value) {
        auto c = read_config("xlnet");
        c[key] = value;
        return error_of(c);
    };
    CHECK(contains(xl_refused("attn_type", "uni"), "\"attn_type\" = \"uni\" is not supported"));
    CHECK(contains(xl_refused("bi_data", true), "bi_data"));
    CHECK(contains(xl_refused("same_length", true), "same_length"));
    CHECK(contains(xl_refused("reuse_len", 4), "reuse_len"));
    CHECK(contains(xl_refused("ff_activation", "mish"), "activation ctt lacks"));

    const auto ernie = ctt::hf_config_header(read_config("ernie_thu"), "e");
    CHECK(contains(ernie, "using model = ::ctt::ernie_thu<config>;"));
    CHECK(contains(ernie, "entity_dim = 100;"));
    CHECK(contains(ernie, "entity_heads = 4;"));
    CHECK(contains(ernie, "std::array<::ctt::ernie_layer, 3> layer_types{::ctt::ernie_layer::sim, "
                          "::ctt::ernie_layer::mix, ::ctt::ernie_layer::norm};"));
    auto ernie_other = read_config("ernie_thu");
    ernie_other["num_hidden_layers"] = 5;
    ernie_other["layer_types"] = {"sim", "sim", "mix", "norm"};
    ernie_other["entity_dim"] = 48;
    ernie_other["entity_heads"] = 6;
    const auto other_ernie = ctt::hf_config_header(ernie_other, "e");
    CHECK(contains(other_ernie, "std::array<::ctt::ernie_layer, 5> layer_types{"
                                "::ctt::ernie_layer::sim, ::ctt::ernie_layer::sim, "
                                "::ctt::ernie_layer::mix, ::ctt::ernie_layer::norm, "
                                "::ctt::ernie_layer::sim};")); // knowledge_bert pads with sim
    CHECK(contains(other_ernie, "entity_dim = 48;"));
    CHECK(contains(other_ernie, "entity_heads = 6;"));
    const auto ernie_refused = [](const char* key, const nlohmann::json& value) {
        auto c = read_config("ernie_thu");
        c[key] = value;
        return error_of(c);
    };
    CHECK(contains(ernie_refused("layer_types", {"sim", "dense"}), "\"dense\" is not a layer"));
    CHECK(contains(ernie_refused("layer_types", {"sim", "sim", "mix", "norm"}),
                   "lists 4 layers where num_hidden_layers is 3"));
    CHECK(contains(ernie_refused("entity_heads", 7), "multiple of \"entity_heads\""));
    CHECK(contains(ernie_refused("hidden_act", "gelu_10"), "activation ctt lacks"));
}

TEST_CASE("weight_storage: the requested type, else the checkpoint's torch_dtype") {
    auto config = read_config("llama");
    const std::string field = "static constexpr ::ctt::weight_type weight_storage = ";
    config["torch_dtype"] = "float32";
    CHECK(contains(ctt::hf_config_header(config, "l"), field + "::ctt::weight_type::f32;"));
    config["torch_dtype"] = "bfloat16";
    CHECK(contains(ctt::hf_config_header(config, "l"), field + "::ctt::weight_type::bf16;"));
    config["torch_dtype"] = "float16";
    CHECK(contains(ctt::hf_config_header(config, "l"), field + "::ctt::weight_type::f16;"));
    CHECK(contains(ctt::hf_config_header(config, "l", "config.json", {}, ctt::weight_type::int8),
                   field + "::ctt::weight_type::int8;"));
    config.erase("torch_dtype");
    CHECK(contains(ctt::hf_config_header(config, "l"), field + "::ctt::weight_type::f32;"));
    CHECK(ctt::parse_weight_type("bf16") == ctt::weight_type::bf16);
    CHECK_FALSE(ctt::parse_weight_type("q4_0").has_value());
}

TEST_CASE("kv_cache_storage: written only when asked for; int8 refused; model_of names the family") {
    const auto config = read_config("llama");
    const std::string field = "static constexpr ::ctt::weight_type kv_cache_storage = ";
    CHECK_FALSE(contains(ctt::hf_config_header(config, "l"), field));
    CHECK(contains(ctt::hf_config_header(config, "l", "config.json", {}, {}, ctt::weight_type::bf16),
                   field + "::ctt::weight_type::bf16;"));
    CHECK(contains(ctt::hf_config_header(config, "l", "config.json", {}, {}, ctt::weight_type::f16),
                   field + "::ctt::weight_type::f16;"));
    CHECK_THROWS_WITH_AS(
        (void)ctt::hf_config_header(config, "l", "config.json", {}, {}, ctt::weight_type::int8),
        "a KV cache holds f32, bf16 or f16, not int8", ctt::io_error);
    CHECK(contains(ctt::hf_config_header(config, "l"), "using model_of = ::ctt::llama<C>;"));
}

TEST_CASE("absurd sizes are a configure-time error naming the setting") {
    auto l = read_config("llama");
    l["hidden_size"] = 1'000'000'000'000;
    CHECK(error_of(l) == "config.json (model_type \"llama\"): \"hidden_size\" = 1000000000000 "
                         "exceeds ctt's limit of 1048576 for this setting");
    l = read_config("llama");
    l["num_hidden_layers"] = 1'000'000;
    CHECK(error_of(l) == "config.json (model_type \"llama\"): \"num_hidden_layers\" = 1000000 "
                         "exceeds ctt's limit of 1024 for this setting");
    l = read_config("llama");
    l["vocab_size"] = std::uint64_t{1} << 40;
    CHECK(error_of(l) == "config.json (model_type \"llama\"): \"vocab_size\" = 1099511627776 "
                         "exceeds ctt's limit of 16777216 for this setting");

    // Every shipped family: its layer count at 10^6 and its width at 10^12 are refused by name.
    const char* layer_keys[] = {"num_hidden_layers", "n_layer", "num_layers", "n_layers"};
    const char* width_keys[] = {"hidden_size", "n_embd", "d_model", "dim"};
    int families = 0;
    for (const auto& dir :
         std::filesystem::directory_iterator(std::string(CTT_TEST_DATA_DIR) + "/hf")) {
        const std::string name = dir.path().filename().string();
        const nlohmann::json original = read_config(name);
        if (!error_of(original).empty()) {
            continue; // a case of a configuration the generator refuses anyway
        }
        bool tried = false;
        for (const auto& [keys, value] :
             {std::pair{std::span<const char* const>(layer_keys), std::uint64_t{1'000'000}},
              std::pair{std::span<const char* const>(width_keys),
                        std::uint64_t{1'000'000'000'000}}}) {
            for (const char* key : keys) {
                if (!original.contains(key) || !original.at(key).is_number_integer()) {
                    continue;
                }
                auto c = original;
                c[key] = value;
                INFO(name, ": ", key);
                CHECK(contains(error_of(c), std::string("\"") + key + "\" = " +
                                                std::to_string(value) + " exceeds ctt's limit"));
                tried = true;
                break;
            }
        }
        families += tried ? 1 : 0;
    }
    CHECK(families >= 20);
}

TEST_CASE("config.json is parsed within bounds of size, depth and string length") {
    CHECK(ctt::parse_hf_config(R"({"model_type": "bert", "a": [[1]]})").at("a")[0][0] == 1);
    CHECK_THROWS_WITH_AS((void)ctt::parse_hf_config(std::string(17, '[') + std::string(17, ']')),
                         "config.json: JSON nests deeper than 16 levels", ctt::io_error);
    CHECK_NOTHROW((void)ctt::parse_hf_config(std::string(16, '[') + std::string(16, ']')));
    CHECK_THROWS_WITH_AS(
        (void)ctt::parse_hf_config("{\"k\": \"" + std::string(70'000, 'x') + "\"}", "c.json"),
        "c.json: a string of 70000 bytes exceeds the limit of 65536", ctt::io_error);
    CHECK_THROWS_WITH_AS((void)ctt::parse_hf_config(std::string(5u << 20, ' ')),
                         "config.json: document is 5242880 bytes, more than the limit of 4194304",
                         ctt::io_error);
    CHECK_THROWS_AS((void)ctt::parse_hf_config("{\"a\": "), ctt::io_error);
}
