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
    CHECK(contains(bert, "static constexpr float layer_norm_eps = 1e-12f;"));
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
    CHECK(contains(error_of(l), "multiple of num_key_value_heads"));

    auto t = read_config("t5");
    t["is_decoder"] = true;
    CHECK(contains(error_of(t), "\"is_decoder\""));
    t = read_config("t5");
    t["feed_forward_proj"] = "gated-mish";
    CHECK(contains(error_of(t), "feed_forward_proj"));

    auto g = read_config("gpt2");
    CHECK(contains(error_of(g, "GPT2DoubleHeadsModel"), "architecture \"GPT2DoubleHeadsModel\""));
    g["n_embd"] = -4;
    CHECK(contains(error_of(g), "\"n_embd\" must be a positive integer"));
    CHECK(contains(error_of(nlohmann::json::array()), "top level must be an object"));
}
