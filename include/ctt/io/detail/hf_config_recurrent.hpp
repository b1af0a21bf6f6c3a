#pragma once
/**
 * @file
 * @brief The `config.json` mappers of the registry entries whose layer itself differs:
 *        Transformer-XL ("transfo_xl", the original `MemTransformerLM`'s constructor
 *        arguments), XLNet ("xlnet", HF's `XLNetConfig`) and ERNIE THU ("ernie_thu",
 *        thunlp's `BertConfig` with `layer_types`, `entity_dim`, `entity_heads`). Included by
 *        `io/hf_config.hpp`; templates on the writer (`detail::config_writer`) so that this
 *        header needs nothing of `hf_config.hpp`.
 *
 * Every setting that changes what these models compute is mapped or rejected by name;
 * training-only settings (dropout, initialisation, `tgt_len`, `use_mems_train`) are accepted.
 */

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ctt::detail {

/// `MemTransformerLM(n_token, n_layer, n_head, d_model, d_head, d_inner, ...)`, `attn_type = 0`.
template <class Writer>
inline void map_transfo_xl(Writer& w, const nlohmann::json& json) {
    w.require("attn_type", 0,
              "only the relative attention of attn_type 0 (1: learnable relative "
              "embeddings, 2 and 3: absolute positions)");
    w.require("same_length", false, "same_length masks a sliding window of equal length");
    w.require("div_val", 1, "adaptive input and softmax with div_val > 1");
    if (w.has("cutoffs") && !(json.at("cutoffs").is_array() && json.at("cutoffs").empty())) {
        w.fail("\"cutoffs\" = " + json.at("cutoffs").dump() +
               " is not supported (adaptive softmax / adaptive inputs; only a single full "
               "softmax, cutoffs = [])");
    }
    w.require("ext_len", 0, "an extended context (ext_len > 0)");
    if (w.integer_or("sample_softmax", -1) > 0) {
        w.fail("\"sample_softmax\" > 0 is not supported (the sampled-softmax output layer)");
    }
    const auto d_model = w.size("d_model");
    if (d_model % 2 != 0) {
        w.fail("\"d_model\" must be even (the sinusoids' sine and cosine halves)");
    }
    if (w.size_or("d_embed", d_model) != d_model) {
        w.fail("\"d_embed\" != \"d_model\" is not supported (projected embeddings, emb_projs)");
    }
    const auto mem_len = w.integer_or("mem_len", 0);
    if (mem_len < 0) {
        w.fail("\"mem_len\" must not be negative");
    }
    w.index("n_token", w.size("n_token"));
    w.index("n_layer", w.size("n_layer"));
    w.index("n_head", w.size("n_head"));
    w.index("d_model", d_model);
    w.index("d_head", w.size("d_head"));
    w.index("d_inner", w.size("d_inner"));
    w.index("mem_len", static_cast<std::uint64_t>(mem_len));
    w.integer("clamp_len", w.integer_or("clamp_len", -1));
    w.boolean("pre_lnorm", w.flag_or("pre_lnorm", false));
    w.boolean("tie_weight", w.flag_or("tie_weight", true));
}

/// HF's `XLNetConfig` for `XLNetLMHeadModel`.
template <class Writer>
inline void map_xlnet(Writer& w, const nlohmann::json&) {
    w.require("attn_type", "bi", "only bidirectional attention (\"uni\" is causal)");
    w.require("bi_data", false, "bi_data runs a second, reversed position stream");
    w.require("same_length", false, "same_length masks a sliding window of equal length");
    w.require("reuse_len", nullptr, "reuse_len caches only part of a segment");
    w.require("untie_r", true, "relative biases shared by the layers");
    const auto d_model = w.size("d_model");
    if (d_model % 2 != 0) {
        w.fail("\"d_model\" must be even (the sinusoids' sine and cosine halves)");
    }
    const auto heads = w.size("n_head");
    if (d_model % heads != 0) {
        w.fail("\"d_model\" must be a multiple of \"n_head\"");
    }
    const auto mem_len = w.integer_or("mem_len", 0);
    if (mem_len < 0) {
        w.fail("\"mem_len\" must not be negative");
    }
    w.index("vocab_size", w.size_or("vocab_size", 32000));
    w.index("d_model", d_model);
    w.index("n_layer", w.size_or("n_layer", 24));
    w.index("n_head", heads);
    w.index("d_head", w.size_or("d_head", d_model / heads));
    w.index("d_inner", w.size_or("d_inner", 4096));
    w.act_member("ff_activation", w.act("ff_activation", "gelu"));
    w.real("layer_norm_eps", w.number_or("layer_norm_eps", 1e-12));
    w.index("mem_len", static_cast<std::uint64_t>(mem_len)); // 0: every state is kept (HF)
    w.integer("clamp_len", w.integer_or("clamp_len", -1));
    w.boolean("tie_word_embeddings", w.flag_or("tie_word_embeddings", true));
}

/// thunlp's `BertConfig` with `layer_types` ("sim", "mix", "norm") and the entity widths.
template <class Writer>
inline void map_ernie_thu(Writer& w, const nlohmann::json& json) {
    const auto hidden = w.size("hidden_size");
    const auto heads = w.size("num_attention_heads");
    if (hidden % heads != 0) {
        w.fail("\"hidden_size\" must be a multiple of \"num_attention_heads\"");
    }
    const auto layers = w.size("num_hidden_layers");
    const auto entity_dim = w.size_or("entity_dim", 100); // knowledge_bert's fixed width
    const auto entity_heads = w.size_or("entity_heads", 4);
    if (entity_dim % entity_heads != 0) {
        w.fail("\"entity_dim\" must be a multiple of \"entity_heads\"");
    }
    std::vector<std::string> types;
    if (w.has("layer_types")) {
        const auto& list = json.at("layer_types");
        if (!list.is_array()) {
            w.fail("\"layer_types\" must be a list of \"sim\", \"mix\" and \"norm\"");
        }
        for (const auto& t : list) {
            if (!t.is_string() || (t != "sim" && t != "mix" && t != "norm")) {
                w.fail("\"layer_types\" entry " + t.dump() +
                       " is not a layer type of knowledge_bert (\"sim\", \"mix\", \"norm\")");
            }
            types.push_back(t.get<std::string>());
        }
    }
    if (types.size() > layers) {
        w.fail("\"layer_types\" lists " + std::to_string(types.size()) +
               " layers where num_hidden_layers is " + std::to_string(layers));
    }
    types.resize(layers, "sim"); // knowledge_bert appends text-only layers
    w.index("vocab_size", w.size("vocab_size"));
    w.index("hidden_size", hidden);
    w.index("num_hidden_layers", layers);
    w.index("num_attention_heads", heads);
    w.index("intermediate_size", w.size("intermediate_size"));
    w.index("max_position_embeddings", w.size_or("max_position_embeddings", 512));
    w.index("type_vocab_size", w.size_or("type_vocab_size", 2));
    w.index("entity_dim", entity_dim);
    w.index("entity_heads", entity_heads);
    w.act_member("hidden_act", w.act("hidden_act", "gelu"));
    std::string line = "    static constexpr std::array<::ctt::ernie_layer, " +
                       std::to_string(types.size()) + "> layer_types{";
    for (std::size_t i = 0; i < types.size(); ++i) {
        line += (i == 0 ? "::ctt::ernie_layer::" : ", ::ctt::ernie_layer::") + types[i];
    }
    w.raw(line + "};\n");
}

} // namespace ctt::detail
