#pragma once
/**
 * @file
 * @brief Turns a Hugging Face `config.json` into C++: a struct of compile-time constants and the
 *        ctt model type it configures. Used by the `ctt-hf-config` tool that the CMake
 *        function `ctt_add_hf_model` runs at configure time.
 *
 * Every setting that changes what a model computes is either mapped or rejected with an
 * `io_error` that names it: a checkpoint ctt cannot reproduce never compiles silently into a
 * wrong model.
 */

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctt/core/errors.hpp"
#include "ctt/core/weight_type.hpp"
#include "ctt/io/detail/hf_config_diffusion.hpp"
#include "ctt/io/detail/hf_config_recurrent.hpp"
#include "ctt/io/json_limits.hpp"
#include "ctt/kernels/activations.hpp"

namespace ctt {

namespace detail {

/// Accumulates the members of a generated config struct, reading them from the JSON.
class config_writer {
public:
    config_writer(const nlohmann::json& json, std::string model_type)
        : json_(json)
        , model_type_(std::move(model_type)) {}

    [[nodiscard]] bool has(const char* key) const {
        return json_.contains(key) && !json_.at(key).is_null();
    }

    [[nodiscard]] std::uint64_t size(const char* key) const {
        if (!has(key) || !json_.at(key).is_number_integer() ||
            json_.at(key).get<std::int64_t>() <= 0) {
            fail(std::string("\"") + key + "\" must be a positive integer");
        }
        const auto value = json_.at(key).get<std::uint64_t>();
        const std::uint64_t limit = size_limit(key);
        if (value > limit) {
            fail(detail::message("\"", key, "\" = ", std::to_string(value),
                                 " exceeds ctt's limit of ", std::to_string(limit),
                                 " for this setting"));
        }
        return value;
    }

    /**
     * The largest value a size setting may take. Far above any published checkpoint (the
     * largest have ~130 layers, widths of ~50k and vocabularies of ~260k), yet small enough
     * that a hostile config (`hidden_size` 10^12, 10^6 layers) stops here, at configure time,
     * rather than in a compiler unrolling a million layers or a loader allocating terabytes.
     */
    [[nodiscard]] static std::uint64_t size_limit(std::string_view key) noexcept {
        constexpr std::string_view layer_counts[] = {"num_hidden_layers",
                                                     "num_layers",
                                                     "n_layer",
                                                     "n_layers",
                                                     "layers",
                                                     "encoder_layers",
                                                     "decoder_layers",
                                                     "num_decoder_layers",
                                                     "num_hidden_groups",
                                                     "inner_group_num",
                                                     "decoder_sparse_step"};
        constexpr std::string_view lengths[] = {"vocab_size",
                                                "max_position_embeddings",
                                                "n_positions",
                                                "context_length",
                                                "n_token",
                                                "type_vocab_size",
                                                "relative_attention_max_distance"};
        if (std::find(std::begin(layer_counts), std::end(layer_counts), key) !=
            std::end(layer_counts)) {
            return max_layers;
        }
        if (std::find(std::begin(lengths), std::end(lengths), key) != std::end(lengths)) {
            return max_length;
        }
        return max_width;
    }
    /// Bounds of `size_limit`: layer counts, vocabularies and position tables, other widths.
    static constexpr std::uint64_t max_layers = 1024;
    static constexpr std::uint64_t max_length = std::uint64_t{1} << 24;
    static constexpr std::uint64_t max_width = std::uint64_t{1} << 20;
    [[nodiscard]] std::uint64_t size_or(const char* key, std::uint64_t fallback) const {
        return has(key) ? size(key) : fallback;
    }
    [[nodiscard]] std::int64_t integer_or(const char* key, std::int64_t fallback) const {
        if (!has(key)) {
            return fallback;
        }
        if (!json_.at(key).is_number_integer()) {
            fail(std::string("\"") + key + "\" must be an integer");
        }
        return json_.at(key).get<std::int64_t>();
    }
    [[nodiscard]] double number(const char* key) const {
        if (!has(key) || !json_.at(key).is_number()) {
            fail(std::string("\"") + key + "\" must be a number");
        }
        return json_.at(key).get<double>();
    }
    [[nodiscard]] double number_or(const char* key, double fallback) const {
        return has(key) ? number(key) : fallback;
    }
    [[nodiscard]] bool flag_or(const char* key, bool fallback) const {
        if (!has(key)) {
            return fallback;
        }
        if (!json_.at(key).is_boolean()) {
            fail(std::string("\"") + key + "\" must be true or false");
        }
        return json_.at(key).get<bool>();
    }
    [[nodiscard]] std::string text_or(const char* key, const std::string& fallback) const {
        if (!has(key)) {
            return fallback;
        }
        if (!json_.at(key).is_string()) {
            fail(std::string("\"") + key + "\" must be a string");
        }
        return json_.at(key).get<std::string>();
    }
    [[nodiscard]] activation act(const char* key, const std::string& fallback) const {
        const std::string name = text_or(key, fallback);
        try {
            return activation_from_hf_name(name);
        } catch (const io_error&) {
            fail(std::string("\"") + key + "\" = \"" + name + "\" is an activation ctt lacks");
        }
    }
    /// Rejects a setting unless it is absent, null or equal to `expected`.
    void require(const char* key, const nlohmann::json& expected, const char* why) const {
        if (has(key) && json_.at(key) != expected) {
            fail(std::string("\"") + key + "\" = " + json_.at(key).dump() + " is not supported (" +
                 why + ")");
        }
    }

    void index(const char* name, std::uint64_t v) {
        members_ << "    static constexpr ::ctt::index_t " << name << " = " << v << ";\n";
    }
    void real(const char* name, double v, bool as_double = false) {
        // The shortest text that reads back as the same double (1e-06, not 9.99...e-07).
        char buffer[64];
        const auto end = std::to_chars(buffer, buffer + sizeof buffer, v).ptr;
        std::string text(buffer, end);
        if (text.find_first_of(".eEn") == std::string::npos) {
            text += ".0";
        }
        members_ << "    static constexpr " << (as_double ? "double " : "float ") << name << " = "
                 << text << (as_double ? "" : "f") << ";\n";
    }
    void boolean(const char* name, bool v) {
        members_ << "    static constexpr bool " << name << " = " << (v ? "true" : "false")
                 << ";\n";
    }
    void integer(const char* name, std::int64_t v) {
        members_ << "    static constexpr int " << name << " = " << v << ";\n";
    }
    void raw(const std::string& line) { members_ << line; }
    void act_member(const char* name, activation a) {
        members_ << "    static constexpr ::ctt::activation " << name
                 << " = ::ctt::activation::" << to_string(a) << ";\n";
    }

    [[noreturn]] void fail(const std::string& what) const {
        throw io_error("config.json (model_type \"" + model_type_ + "\"): " + what);
    }

    [[nodiscard]] std::string members() const { return members_.str(); }

private:
    const nlohmann::json& json_;
    std::string model_type_;
    std::ostringstream members_;
};

/// The members every decoder (`causal_lm_config`) has.
struct decoder_sizes {
    std::uint64_t vocab = 0;
    std::uint64_t hidden = 0;
    std::uint64_t heads = 0;
    std::uint64_t kv_heads = 0; ///< 0: as many as heads
    std::uint64_t head_dim = 0; ///< 0: hidden / heads
    std::uint64_t inner = 0;
    std::uint64_t layers = 0;
    std::uint64_t max_positions = 0; ///< 0: unbounded (ALiBi, T5 buckets)
    activation act = activation::gelu_erf;
    double eps = 1e-5;
};

inline void write_decoder(config_writer& w, decoder_sizes d) {
    if (d.kv_heads == 0) {
        d.kv_heads = d.heads;
    }
    if (d.head_dim == 0) {
        if (d.hidden % d.heads != 0) {
            w.fail("the hidden size must be a multiple of the number of attention heads");
        }
        d.head_dim = d.hidden / d.heads;
    }
    if (d.heads % d.kv_heads != 0) {
        w.fail("the number of attention heads must be a multiple of the number of key/value "
               "heads");
    }
    w.index("vocab_size", d.vocab);
    w.index("hidden_size", d.hidden);
    w.index("num_heads", d.heads);
    w.index("num_kv_heads", d.kv_heads);
    w.index("head_dim", d.head_dim);
    w.index("intermediate_size", d.inner);
    w.index("num_layers", d.layers);
    w.index("max_positions", d.max_positions);
    w.act_member("hidden_act", d.act);
    w.real("norm_eps", d.eps);
}

/// A slot override: `static constexpr auto <name> = <value>;` (see `models/causal_lm.hpp`).
inline void slot(config_writer& w, const char* name, const std::string& value) {
    w.raw(std::string("    static constexpr auto ") + name + " = " + value + ";\n");
}

/// Rotary settings: theta and the rotated fraction, from `rope_theta` / `rope_parameters` /
/// `rope_scaling` (only the default rotary embedding; scaled variants are refused).
struct rope_settings {
    double theta = 10000.0;
    double fraction = 1.0;
};
inline rope_settings read_rope(config_writer& w, const nlohmann::json& json, double theta,
                               double fraction) {
    rope_settings r{w.number_or("rope_theta", theta),
                    w.number_or("partial_rotary_factor", fraction)};
    for (const char* key : {"rope_parameters", "rope_scaling"}) {
        if (!w.has(key)) {
            continue;
        }
        const auto& rope = json.at(key);
        if (!rope.is_object()) {
            w.fail(std::string("\"") + key + "\" must be an object");
        }
        const std::string type =
            rope.value("rope_type", rope.value("type", std::string("default")));
        if (type != "default") {
            w.fail(std::string("\"") + key + "\" rope_type \"" + type +
                   "\" is not supported (only the default rotary embedding)");
        }
        for (const auto& [name, target] :
             {std::pair{"rope_theta", &r.theta}, std::pair{"partial_rotary_factor", &r.fraction}}) {
            if (rope.contains(name)) {
                if (!rope.at(name).is_number()) {
                    w.fail(std::string(key) + "." + name + " must be a number");
                }
                *target = rope.at(name).get<double>();
            }
        }
    }
    return r;
}

inline void write_rotary(config_writer& w, const rope_settings& rope, std::uint64_t head_dim,
                         std::uint64_t rotary_dim = 0) {
    if (rotary_dim == 0) {
        rotary_dim = static_cast<std::uint64_t>(static_cast<double>(head_dim) * rope.fraction);
    }
    if (rotary_dim == 0 || rotary_dim % 2 != 0 || rotary_dim > head_dim) {
        w.fail("the rotary width (" + std::to_string(rotary_dim) +
               ") must be even, positive and at most head_dim");
    }
    w.index("rotary_dim", rotary_dim);
    w.real("rope_theta", rope.theta, true);
}

inline std::uint64_t head_dim_of(const decoder_sizes& d) {
    return d.head_dim != 0 ? d.head_dim : d.hidden / d.heads;
}

/// The sequence-score head of `*ForSequenceClassification` decoders.
inline void write_score_head(config_writer& w, const nlohmann::json& json) {
    std::uint64_t labels = 2; // HF's default num_labels
    if (json.contains("id2label") && json.at("id2label").is_object()) {
        labels = json.at("id2label").size();
    }
    labels = w.size_or("num_labels", labels);
    if (!w.has("pad_token_id")) {
        w.fail("a sequence classifier needs \"pad_token_id\" to find each sequence's last token");
    }
    w.raw("    static constexpr ::ctt::causal_lm_head head = "
          "::ctt::causal_lm_head::sequence_score;\n");
    w.index("num_labels", labels);
    w.integer("pad_token_id", w.integer_or("pad_token_id", 0));
}

inline void map_gpt2(config_writer& w, const nlohmann::json& json, std::string_view architecture) {
    if (architecture == "GPT2ForSequenceClassification") {
        write_score_head(w, json);
    }
    w.require("scale_attn_by_inverse_layer_idx", false, "per-layer attention scaling");
    w.require("reorder_and_upcast_attn", false, "ctt computes attention in float32 throughout");
    w.require("add_cross_attention", false, "GPT-2 with cross-attention");
    w.require("tie_word_embeddings", true, "ctt's GPT-2 ties its LM head to wte");
    const auto hidden = w.size("n_embd");
    write_decoder(w, {.vocab = w.size("vocab_size"),
                      .hidden = hidden,
                      .heads = w.size("n_head"),
                      .inner = w.size_or("n_inner", 4 * hidden),
                      .layers = w.size("n_layer"),
                      .max_positions = w.size("n_positions"),
                      .act = w.act("activation_function", "gelu_new"),
                      .eps = w.number_or("layer_norm_epsilon", 1e-5)});
    if (!w.flag_or("scale_attn_weights", true)) {
        w.real("attention_scale", 1.0);
    }
}

inline void map_gpt_neo(config_writer& w, const nlohmann::json& json) {
    const auto hidden = w.size("hidden_size");
    const auto layers = w.size("num_layers");
    write_decoder(w, {.vocab = w.size("vocab_size"),
                      .hidden = hidden,
                      .heads = w.size("num_heads"),
                      .inner = w.size_or("intermediate_size", 4 * hidden),
                      .layers = layers,
                      .max_positions = w.size("max_position_embeddings"),
                      .act = w.act("activation_function", "gelu_new"),
                      .eps = w.number_or("layer_norm_epsilon", 1e-5)});
    w.real("attention_scale", 1.0); // GPT-Neo does not scale its scores
    // attention_types: [[["global", "local"], repeat], ...] expands to one kind per layer.
    std::vector<std::string> kinds;
    if (!w.has("attention_types") || !json.at("attention_types").is_array()) {
        w.fail("\"attention_types\" must be a list of [[kinds...], repeat] pairs");
    }
    for (const auto& entry : json.at("attention_types")) {
        if (!entry.is_array() || entry.size() != 2 || !entry.at(0).is_array() ||
            !entry.at(1).is_number_integer() || entry.at(1).get<std::int64_t>() < 0) {
            w.fail("\"attention_types\" must be a list of [[kinds...], repeat] pairs");
        }
        for (std::int64_t r = 0; r < entry.at(1).get<std::int64_t>(); ++r) {
            for (const auto& kind : entry.at(0)) {
                if (!kind.is_string() || (kind != "global" && kind != "local")) {
                    w.fail("attention kind " + kind.dump() + " is not \"global\" or \"local\"");
                }
                kinds.push_back(kind.get<std::string>());
            }
        }
    }
    if (kinds.size() != layers) {
        w.fail("\"attention_types\" gives " + std::to_string(kinds.size()) +
               " layers but num_layers is " + std::to_string(layers));
    }
    const auto window = w.size("window_size");
    std::string windows = "    static constexpr ::ctt::index_t layer_windows[] = {";
    for (std::size_t i = 0; i < kinds.size(); ++i) {
        windows += (i ? ", " : "") + std::to_string(kinds[i] == "local" ? window : 0);
    }
    w.raw(windows + "}; // 0: global\n");
}

inline void map_ctrl(config_writer& w, const nlohmann::json&) {
    const auto hidden = w.size("n_embd");
    if (hidden % 2 != 0) {
        w.fail("n_embd must be even for CTRL's sinusoidal positions");
    }
    write_decoder(w, {.vocab = w.size("vocab_size"),
                      .hidden = hidden,
                      .heads = w.size("n_head"),
                      .inner = w.size("dff"),
                      .layers = w.size("n_layer"),
                      .max_positions = w.size("n_positions"),
                      .act = activation::relu,
                      .eps = w.number_or("layer_norm_epsilon", 1e-6)});
    w.require("tie_word_embeddings", true, "CTRL ties its LM head to w");
}

inline void map_gpt_neox(config_writer& w, const nlohmann::json& json) {
    const decoder_sizes d{.vocab = w.size("vocab_size"),
                          .hidden = w.size("hidden_size"),
                          .heads = w.size("num_attention_heads"),
                          .inner = w.size("intermediate_size"),
                          .layers = w.size("num_hidden_layers"),
                          .max_positions = w.size("max_position_embeddings"),
                          .act = w.act("hidden_act", "gelu"),
                          .eps = w.number_or("layer_norm_eps", 1e-5)};
    write_decoder(w, d);
    const auto rope = read_rope(w, json, w.number_or("rotary_emb_base", 10000.0),
                                w.number_or("rotary_pct", 0.25));
    write_rotary(w, rope, head_dim_of(d));
    if (!w.flag_or("use_parallel_residual", true)) {
        slot(w, "placement", "::ctt::norm_placement::pre");
    }
    const bool bias = w.flag_or("attention_bias", true);
    w.boolean("qkv_bias", bias);
    w.boolean("out_bias", bias);
    w.boolean("tie_word_embeddings", w.flag_or("tie_word_embeddings", false));
}

inline void map_gptj(config_writer& w, const nlohmann::json&) {
    const auto hidden = w.size("n_embd");
    const decoder_sizes d{.vocab = w.size("vocab_size"),
                          .hidden = hidden,
                          .heads = w.size("n_head"),
                          .inner = w.size_or("n_inner", 4 * hidden),
                          .layers = w.size("n_layer"),
                          .max_positions = w.size("n_positions"),
                          .act = w.act("activation_function", "gelu_new"),
                          .eps = w.number_or("layer_norm_epsilon", 1e-5)};
    write_decoder(w, d);
    write_rotary(w, {}, head_dim_of(d), w.size_or("rotary_dim", head_dim_of(d)));
    w.boolean("tie_word_embeddings", w.flag_or("tie_word_embeddings", false));
}

inline void map_bloom(config_writer& w, const nlohmann::json&) {
    w.require("apply_residual_connection_post_layernorm", false,
              "residuals taken after the layer norm");
    w.require("slow_but_exact", false, "tensor-parallel slicing changes the numerics");
    const auto hidden = w.has("n_embed") ? w.size("n_embed") : w.size("hidden_size");
    write_decoder(w, {.vocab = w.size("vocab_size"),
                      .hidden = hidden,
                      .heads = w.size("n_head"),
                      .inner = 4 * hidden,
                      .layers = w.size("n_layer"),
                      .act = activation::gelu_tanh,
                      .eps = w.number_or("layer_norm_epsilon", 1e-5)});
    w.require("tie_word_embeddings", true, "BLOOM ties its LM head to the word embeddings");
}

inline void map_falcon(config_writer& w, const nlohmann::json& json) {
    w.require("alibi", false, "Falcon with ALiBi");
    const auto hidden = w.size("hidden_size");
    const auto heads = w.size("num_attention_heads");
    const bool new_arch = w.flag_or("new_decoder_architecture", false);
    const bool multi_query = w.flag_or("multi_query", true);
    const std::uint64_t kv =
        new_arch ? w.size_or("num_kv_heads", heads) : (multi_query ? 1 : heads);
    const decoder_sizes d{.vocab = w.size("vocab_size"),
                          .hidden = hidden,
                          .heads = heads,
                          .kv_heads = kv,
                          .inner = w.size_or("ffn_hidden_size", 4 * hidden),
                          .layers = w.size("num_hidden_layers"),
                          .max_positions = w.size_or("max_position_embeddings", 2048),
                          .act = w.act("activation", "gelu"),
                          .eps = w.number_or("layer_norm_epsilon", 1e-5)};
    write_decoder(w, d);
    write_rotary(w, read_rope(w, json, 10000.0, 1.0), head_dim_of(d));
    if (new_arch || !multi_query) {
        slot(w, "qkv", "::ctt::qkv_layout::fused_grouped");
    }
    if (new_arch) {
        const auto norms = w.size_or("num_ln_in_parallel_attn", 2);
        if (norms != 1 && norms != 2) {
            w.fail("\"num_ln_in_parallel_attn\" must be 1 or 2");
        }
        w.boolean("shared_norm", norms == 1);
    } else if (!w.flag_or("parallel_attn", true)) {
        slot(w, "placement", "::ctt::norm_placement::pre");
        w.boolean("shared_norm", false);
    }
    const bool bias = w.flag_or("bias", false);
    w.boolean("qkv_bias", bias);
    w.boolean("out_bias", bias);
    w.boolean("ffn_bias", bias);
    w.require("tie_word_embeddings", true, "Falcon ties its LM head to the word embeddings");
}

/// LLaMA and the families that share its config names (Mixtral, Qwen3-MoE, Cohere).
inline decoder_sizes llama_sizes(config_writer& w, const char* act, double eps_default,
                                 const char* eps_key = "rms_norm_eps") {
    return {.vocab = w.size("vocab_size"),
            .hidden = w.size("hidden_size"),
            .heads = w.size("num_attention_heads"),
            .kv_heads = w.size_or("num_key_value_heads", w.size("num_attention_heads")),
            .head_dim = w.size_or("head_dim", 0),
            .inner = w.size("intermediate_size"),
            .layers = w.size("num_hidden_layers"),
            .max_positions = w.size("max_position_embeddings"),
            .act = w.act("hidden_act", act),
            .eps = w.number_or(eps_key, eps_default)};
}

inline void map_llama(config_writer& w, const nlohmann::json& json) {
    w.require("pretraining_tp", 1, "tensor-parallel slicing changes the numerics");
    const auto d = llama_sizes(w, "silu", 1e-6);
    write_decoder(w, d);
    write_rotary(w, read_rope(w, json, 10000.0, 1.0), head_dim_of(d));
    const bool bias = w.flag_or("attention_bias", false);
    w.boolean("qkv_bias", bias);
    w.boolean("out_bias", bias);
    w.boolean("ffn_bias", w.flag_or("mlp_bias", false));
    w.boolean("tie_word_embeddings", w.flag_or("tie_word_embeddings", false));
}

inline void map_cohere(config_writer& w, const nlohmann::json& json) {
    w.require("use_qk_norm", false, "Cohere's per-head LayerNorm of q and k");
    const auto d = llama_sizes(w, "silu", 1e-5, "layer_norm_eps");
    write_decoder(w, d);
    write_rotary(w, read_rope(w, json, 10000.0, 1.0), head_dim_of(d));
    const bool bias = w.flag_or("attention_bias", false);
    w.boolean("qkv_bias", bias);
    w.boolean("out_bias", bias);
    w.real("logit_scale", w.number_or("logit_scale", 0.0625));
    w.boolean("tie_word_embeddings", w.flag_or("tie_word_embeddings", true));
}

inline void write_experts(config_writer& w, std::uint64_t experts) {
    const auto k = w.size_or("num_experts_per_tok", 2);
    if (k > experts) {
        w.fail("\"num_experts_per_tok\" (" + std::to_string(k) + ") exceeds the " +
               std::to_string(experts) + " experts");
    }
    w.index("num_experts", experts);
    w.index("experts_per_token", k);
}

inline void map_mixtral(config_writer& w, const nlohmann::json& json) {
    const auto d = llama_sizes(w, "silu", 1e-5);
    write_decoder(w, d);
    write_rotary(w, read_rope(w, json, 1e6, 1.0), head_dim_of(d));
    write_experts(w, w.size("num_local_experts"));
    if (w.has("sliding_window")) {
        w.index("sliding_window", w.size("sliding_window"));
    }
    w.boolean("tie_word_embeddings", w.flag_or("tie_word_embeddings", false));
}

inline void map_qwen3_moe(config_writer& w, const nlohmann::json& json) {
    w.require("use_sliding_window", false, "Qwen3-MoE's per-layer sliding window");
    if (w.has("mlp_only_layers") &&
        (!json.at("mlp_only_layers").is_array() || !json.at("mlp_only_layers").empty())) {
        w.fail("\"mlp_only_layers\" = " + json.at("mlp_only_layers").dump() +
               " is not supported (experts follow decoder_sparse_step only)");
    }
    const auto d = llama_sizes(w, "silu", 1e-6);
    write_decoder(w, d);
    write_rotary(w, read_rope(w, json, 10000.0, 1.0), head_dim_of(d));
    write_experts(w, w.has("num_experts") ? w.size("num_experts") : w.size("num_local_experts"));
    w.index("moe_intermediate_size", w.size("moe_intermediate_size"));
    w.index("moe_every", w.size_or("decoder_sparse_step", 1));
    w.boolean("norm_topk_prob", w.flag_or("norm_topk_prob", false));
    const bool bias = w.flag_or("attention_bias", false);
    w.boolean("qkv_bias", bias);
    w.boolean("out_bias", bias);
    w.boolean("tie_word_embeddings", w.flag_or("tie_word_embeddings", false));
}

/// T5's `feed_forward_proj`: whether it is gated, and its activation.
inline std::pair<bool, activation> t5_feed_forward(config_writer& w) {
    const std::string proj = w.text_or("feed_forward_proj", "relu");
    const bool gated = proj.rfind("gated-", 0) == 0;
    std::string act_name = gated ? proj.substr(6) : proj;
    if (proj == "gated-gelu") {
        act_name = "gelu_new"; // as HF's T5Config maps it
    }
    try {
        return {gated, activation_from_hf_name(act_name)};
    } catch (const io_error&) {
        w.fail("\"feed_forward_proj\" = \"" + proj + "\" is not supported");
    }
}

/// LaMDA: a T5 decoder stack alone (`is_decoder`), with its own LM head.
inline void map_lamda(config_writer& w, const nlohmann::json&) {
    const auto [gated, act] = t5_feed_forward(w);
    write_decoder(w, {.vocab = w.size("vocab_size"),
                      .hidden = w.size("d_model"),
                      .heads = w.size("num_heads"),
                      .head_dim = w.size("d_kv"),
                      .inner = w.size("d_ff"),
                      .layers = w.size("num_layers"),
                      .act = act,
                      .eps = w.number_or("layer_norm_epsilon", 1e-6)});
    if (!gated) {
        slot(w, "ffn", "::ctt::ffn_kind::dense");
    }
    w.index("num_buckets", w.size_or("relative_attention_num_buckets", 32));
    w.index("max_distance", w.size_or("relative_attention_max_distance", 128));
    w.real("attention_scale", 1.0); // T5 does not scale its scores
}

inline void map_t5(config_writer& w, bool tie_default) {
    w.require("is_decoder", false, "a decoder-only T5 stack is the lamda family");
    const auto [gated, act] = t5_feed_forward(w);
    w.index("vocab_size", w.size("vocab_size"));
    w.index("d_model", w.size("d_model"));
    w.index("d_kv", w.size("d_kv"));
    w.index("num_heads", w.size("num_heads"));
    w.index("d_ff", w.size("d_ff"));
    const auto layers = w.size("num_layers");
    w.index("num_layers", layers);
    w.index("num_decoder_layers", w.size_or("num_decoder_layers", layers));
    w.index("num_buckets", w.size_or("relative_attention_num_buckets", 32));
    w.index("max_distance", w.size_or("relative_attention_max_distance", 128));
    w.real("layer_norm_eps", w.number_or("layer_norm_epsilon", 1e-6));
    w.act_member("dense_act", act);
    w.boolean("gated", gated);
    const bool tie = w.flag_or("tie_word_embeddings", tie_default);
    w.boolean("tie_word_embeddings", tie);
    // transformers 5 saves `scale_decoder_outputs` for T5 (d_model^-0.5 before the head); older
    // T5 configs scale whenever the head is tied. MT5 computes its head without the scale.
    w.boolean("scale_decoder_outputs", w.flag_or("scale_decoder_outputs", tie && tie_default));
    w.integer("decoder_start_token_id", w.integer_or("decoder_start_token_id", 0));
}

/// The members every encoder-decoder (`encoder_decoder_config`) has.
struct seq2seq_sizes {
    std::uint64_t vocab = 0;
    std::uint64_t hidden = 0;
    std::uint64_t heads = 0;
    std::uint64_t decoder_heads = 0;
    std::uint64_t inner = 0;
    std::uint64_t decoder_inner = 0;
    std::uint64_t layers = 0;
    std::uint64_t decoder_layers = 0;
    std::uint64_t max_positions = 0; ///< 0: no position table
    activation act = activation::gelu_erf;
    double eps = 1e-5;
    std::int64_t decoder_start_token_id = 0;
};

inline void write_seq2seq(config_writer& w, const seq2seq_sizes& s) {
    for (const auto h : {s.heads, s.decoder_heads}) {
        if (s.hidden % h != 0) {
            w.fail("the hidden size (" + std::to_string(s.hidden) +
                   ") must be a multiple of the number of attention heads (" + std::to_string(h) +
                   ")");
        }
    }
    w.index("vocab_size", s.vocab);
    w.index("hidden_size", s.hidden);
    w.index("num_heads", s.heads);
    w.index("decoder_heads", s.decoder_heads);
    w.index("intermediate_size", s.inner);
    w.index("decoder_intermediate_size", s.decoder_inner);
    w.index("encoder_layers", s.layers);
    w.index("decoder_layers", s.decoder_layers);
    w.index("max_positions", s.max_positions);
    w.act_member("hidden_act", s.act);
    w.real("norm_eps", s.eps);
    w.integer("decoder_start_token_id", s.decoder_start_token_id);
}

/// BART (`BartForConditionalGeneration`): post-LN stacks with learned positions from 2.
inline void map_bart(config_writer& w, const nlohmann::json&) {
    w.require("is_decoder", false, "a decoder-only BART is BartForCausalLM");
    // Settings of other fairseq-derived configs (mBART, PLBART) that change the computation.
    w.require("normalize_before", false, "pre-norm BART layers (mBART)");
    w.require("add_final_layer_norm", false, "final stack norms (mBART)");
    w.require("add_bias_logits", false, "a bias on the LM head other than final_logits_bias");
    write_seq2seq(w, {.vocab = w.size("vocab_size"),
                      .hidden = w.size("d_model"),
                      .heads = w.size("encoder_attention_heads"),
                      .decoder_heads = w.size("decoder_attention_heads"),
                      .inner = w.size("encoder_ffn_dim"),
                      .decoder_inner = w.size("decoder_ffn_dim"),
                      .layers = w.size("encoder_layers"),
                      .decoder_layers = w.size("decoder_layers"),
                      .max_positions = w.size("max_position_embeddings"),
                      .act = w.act("activation_function", "gelu"),
                      .eps = 1e-5, // nn.LayerNorm's default; BartConfig has no setting
                      .decoder_start_token_id = w.integer_or("decoder_start_token_id", 2)});
    w.boolean("scale_embeddings", w.flag_or("scale_embedding", false));
    w.boolean("tie_word_embeddings", w.flag_or("tie_word_embeddings", true));
}

// ---------------------------------------------------------------------------------------------
// Encoders (`encoder_model_config`).

/// The members every encoder has.
struct encoder_sizes {
    std::uint64_t vocab = 0; ///< 0: none (a vision tower)
    std::uint64_t hidden = 0;
    std::uint64_t heads = 0;
    std::uint64_t inner = 0;
    std::uint64_t layers = 0;
    std::uint64_t max_positions = 0;
    std::uint64_t type_vocab = 0;
    activation act = activation::gelu_erf;
    double eps = 1e-12;
};

inline void write_encoder(config_writer& w, const encoder_sizes& e) {
    if (e.hidden % e.heads != 0) {
        w.fail("the hidden size must be a multiple of the number of attention heads");
    }
    if (e.vocab > 0) {
        w.index("vocab_size", e.vocab);
    }
    w.index("hidden_size", e.hidden);
    w.index("num_heads", e.heads);
    w.index("intermediate_size", e.inner);
    w.index("num_layers", e.layers);
    w.index("max_positions", e.max_positions);
    w.index("type_vocab_size", e.type_vocab);
    w.act_member("hidden_act", e.act);
    w.real("norm_eps", e.eps);
    if (e.vocab > 0) {
        w.boolean("tie_word_embeddings", w.flag_or("tie_word_embeddings", true));
    }
}

/// The heads of an architecture: `heads` flags named by `encoder_heads` members.
inline void write_heads(config_writer& w, std::string_view list) {
    std::string value;
    for (const auto head : {"pooler", "masked_lm", "sentence_pair", "discriminator"}) {
        if (list.find(head) != std::string_view::npos) {
            value += std::string(value.empty() ? "" : " | ") + "::ctt::encoder_heads::" + head;
        }
    }
    w.raw("    static constexpr ::ctt::encoder_heads heads = " +
          (value.empty() ? std::string("::ctt::encoder_heads::none") : value) + ";\n");
}

/// The heads HF's class names: `*ForPreTraining`, `*ForMaskedLM`, `*WithLMHeadModel`, `*Model`.
inline void write_heads_of(config_writer& w, std::string_view architecture,
                           std::string_view pretraining) {
    const auto ends = [&](std::string_view suffix) {
        return architecture.size() >= suffix.size() &&
               architecture.substr(architecture.size() - suffix.size()) == suffix;
    };
    if (ends("ForPreTraining")) {
        write_heads(w, pretraining);
    } else if (ends("ForMaskedLM") || ends("WithLMHeadModel")) {
        write_heads(w, "masked_lm");
    } else {
        write_heads(w, "pooler");
    }
}

inline void write_position_kind(config_writer& w, const char* kind) {
    w.raw(std::string("    static constexpr ::ctt::position_embedding positions = "
                      "::ctt::position_embedding::") +
          kind + ";\n");
}

inline encoder_sizes bert_like_sizes(config_writer& w, const char* act, double eps) {
    w.require("position_embedding_type", "absolute", "relative_key positions are not built");
    w.require("is_decoder", false, "an encoder used as a decoder");
    w.require("add_cross_attention", false, "an encoder with cross-attention");
    encoder_sizes e;
    e.vocab = w.size("vocab_size");
    e.hidden = w.size("hidden_size");
    e.heads = w.size("num_attention_heads");
    e.inner = w.size("intermediate_size");
    e.layers = w.size("num_hidden_layers");
    e.max_positions = w.size("max_position_embeddings");
    const auto types = w.integer_or("type_vocab_size", 2);
    if (types < 0) {
        w.fail("\"type_vocab_size\" must not be negative");
    }
    e.type_vocab = static_cast<std::uint64_t>(types);
    e.act = w.act("hidden_act", act);
    e.eps = w.number_or("layer_norm_eps", eps);
    return e;
}

inline void map_bert(config_writer& w, const nlohmann::json&, std::string_view architecture) {
    write_encoder(w, bert_like_sizes(w, "gelu", 1e-12));
    write_heads_of(w, architecture, "pooler masked_lm sentence_pair");
}

inline void map_roberta(config_writer& w, const nlohmann::json&, std::string_view architecture) {
    auto e = bert_like_sizes(w, "gelu", 1e-12);
    if (!w.has("type_vocab_size")) {
        e.type_vocab = 1;
    }
    write_encoder(w, e);
    w.integer("pad_token_id", w.integer_or("pad_token_id", 1));
    if (w.integer_or("pad_token_id", 1) < 0) {
        w.fail("\"pad_token_id\" must not be negative (it numbers the positions)");
    }
    write_heads_of(w, architecture, "masked_lm");
}

inline void map_albert(config_writer& w, const nlohmann::json&, std::string_view architecture) {
    auto e = bert_like_sizes(w, "gelu_new", 1e-12);
    write_encoder(w, e);
    w.index("embedding_size", w.size_or("embedding_size", 128));
    const auto groups = w.size_or("num_hidden_groups", 1);
    if (e.layers % groups != 0) {
        w.fail("num_hidden_layers must be a multiple of num_hidden_groups");
    }
    w.index("num_hidden_groups", groups);
    w.index("inner_group_num", w.size_or("inner_group_num", 1));
    write_heads_of(w, architecture, "pooler masked_lm sentence_pair");
}

inline void map_electra(config_writer& w, const nlohmann::json&, std::string_view architecture) {
    write_encoder(w, bert_like_sizes(w, "gelu", 1e-12));
    w.index("embedding_size", w.size_or("embedding_size", 128));
    if (architecture == "ElectraForPreTraining") {
        write_heads(w, "discriminator");
    } else {
        write_heads(w, "");
    }
}

inline void map_distilbert(config_writer& w, const nlohmann::json&, std::string_view architecture) {
    encoder_sizes e;
    e.vocab = w.size("vocab_size");
    e.hidden = w.size("dim");
    e.heads = w.size("n_heads");
    e.inner = w.size("hidden_dim");
    e.layers = w.size("n_layers");
    e.max_positions = w.size("max_position_embeddings");
    e.act = w.act("activation", "gelu");
    e.eps = 1e-12; // fixed in HF's DistilBERT
    write_encoder(w, e);
    if (w.flag_or("sinusoidal_pos_embds", false)) {
        if (e.hidden % 2 != 0) {
            w.fail("dim must be even for sinusoidal_pos_embds");
        }
        write_position_kind(w, "sinusoidal_interleaved");
    }
    write_heads(w, architecture == "DistilBertForMaskedLM" ? "masked_lm" : "");
}

inline void map_xlm(config_writer& w, const nlohmann::json&, std::string_view architecture) {
    w.require("causal", false, "XLM as a causal language model");
    w.require("asm", false, "the adaptive softmax head");
    w.require("is_encoder", true, "XLM as a decoder");
    encoder_sizes e;
    e.vocab = w.size("vocab_size");
    e.hidden = w.size_or("emb_dim", 2048);
    e.heads = w.size_or("n_heads", 16);
    e.inner = 4 * e.hidden; // HF's XLM: hidden_dim = 4 * dim
    e.layers = w.size_or("n_layers", 12);
    e.max_positions = w.size_or("max_position_embeddings", 512);
    e.act = w.flag_or("gelu_activation", true) ? activation::gelu_erf : activation::relu;
    e.eps = w.number_or("layer_norm_eps", 1e-12);
    write_encoder(w, e);
    const auto langs = w.size_or("n_langs", 1);
    w.index("num_langs", w.flag_or("use_lang_emb", true) && langs > 1 ? langs : 0);
    if (w.flag_or("sinusoidal_embeddings", false)) {
        write_position_kind(w, "sinusoidal_interleaved");
    }
    write_heads(w, architecture == "XLMWithLMHeadModel" ? "masked_lm" : "");
}

/// DeBERTa's `pos_att_type` ("c2p|p2c" or a list) as the two flags.
inline void write_pos_att_type(config_writer& w, const nlohmann::json& json) {
    std::vector<std::string> types;
    if (json.contains("pos_att_type") && !json.at("pos_att_type").is_null()) {
        const auto& t = json.at("pos_att_type");
        if (t.is_string()) {
            std::string s = t.get<std::string>();
            std::size_t start = 0;
            while (start <= s.size()) {
                const auto bar = std::min(s.find('|', start), s.size());
                if (bar > start) {
                    types.push_back(s.substr(start, bar - start));
                }
                start = bar + 1;
            }
        } else if (t.is_array()) {
            for (const auto& x : t) {
                if (!x.is_string()) {
                    w.fail("\"pos_att_type\" must hold strings");
                }
                types.push_back(x.get<std::string>());
            }
        } else {
            w.fail("\"pos_att_type\" must be a string or a list");
        }
    }
    bool c2p = false;
    bool p2c = false;
    for (auto& type : types) {
        for (auto& ch : type) {
            ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        }
        if (type == "c2p") {
            c2p = true;
        } else if (type == "p2c") {
            p2c = true;
        } else {
            w.fail("\"pos_att_type\" holds \"" + type +
                   "\"; ctt builds the relative terms c2p and p2c");
        }
    }
    w.boolean("pos_att_c2p", c2p);
    w.boolean("pos_att_p2c", p2c);
}

inline void map_deberta_common(config_writer& w, const nlohmann::json& json,
                               std::string_view architecture, bool v2) {
    w.require("relative_attention", true, "DeBERTa without relative attention");
    encoder_sizes e = bert_like_sizes(w, "gelu", 1e-7);
    if (!w.has("type_vocab_size")) {
        e.type_vocab = 0;
    }
    write_encoder(w, e);
    if (w.has("embedding_size") && w.size("embedding_size") != e.hidden) {
        w.fail("\"embedding_size\" differs from hidden_size (embed_proj is not built)");
    }
    if (!w.flag_or("position_biased_input", true)) {
        write_position_kind(w, "none");
    } else {
        write_position_kind(w, "learned");
    }
    write_pos_att_type(w, json);
    std::int64_t max_relative = w.integer_or("max_relative_positions", -1);
    if (max_relative < 1) {
        max_relative = static_cast<std::int64_t>(e.max_positions);
    }
    w.integer("max_relative_positions", max_relative);
    if (v2) {
        if (w.integer_or("conv_kernel_size", 0) > 0) {
            w.fail("\"conv_kernel_size\" > 0: DeBERTa-v2's convolution layer is not built");
        }
        w.integer("position_buckets", w.integer_or("position_buckets", -1));
        w.boolean("share_att_key", w.flag_or("share_att_key", false));
        const std::string norm = w.text_or("norm_rel_ebd", "none");
        if (norm != "none" && norm != "layer_norm") {
            w.fail("\"norm_rel_ebd\" = \"" + norm + "\" is not supported (none or layer_norm)");
        }
        w.boolean("norm_rel_ebd", norm == "layer_norm");
    }
    write_heads(w, architecture.ends_with("ForMaskedLM") ? "masked_lm" : "");
}
inline void map_deberta(config_writer& w, const nlohmann::json& json, std::string_view arch) {
    map_deberta_common(w, json, arch, false);
}
inline void map_deberta_v2(config_writer& w, const nlohmann::json& json, std::string_view arch) {
    map_deberta_common(w, json, arch, true);
}

inline encoder_sizes vision_sizes(config_writer& w, const char* act, double eps) {
    encoder_sizes e;
    e.hidden = w.size("hidden_size");
    e.heads = w.size("num_attention_heads");
    e.inner = w.size("intermediate_size");
    e.layers = w.size("num_hidden_layers");
    e.act = w.act("hidden_act", act);
    e.eps = w.number_or("layer_norm_eps", eps);
    const auto image = w.size("image_size");
    const auto patch = w.size("patch_size");
    if (image % patch != 0) {
        w.fail("image_size must be a multiple of patch_size");
    }
    w.index("image_size", image);
    w.index("patch_size", patch);
    w.index("num_channels", w.size_or("num_channels", 3));
    return e;
}

inline void map_vit(config_writer& w, const nlohmann::json&, std::string_view) {
    const auto e = vision_sizes(w, "gelu", 1e-12);
    write_encoder(w, e);
    w.boolean("qkv_bias", w.flag_or("qkv_bias", true));
    w.require("pooler_act", "tanh", "the pooler is tanh");
    if (w.has("pooler_output_size") && w.size("pooler_output_size") != e.hidden) {
        w.fail("\"pooler_output_size\" differs from hidden_size");
    }
    write_heads(w, "pooler");
}

inline void map_clip(config_writer& w, const nlohmann::json& json, std::string_view) {
    const auto tower = [&](const char* key, bool text) {
        if (!json.contains(key) || !json.at(key).is_object()) {
            w.fail(std::string("no \"") + key + "\" object");
        }
        config_writer t(json.at(key), std::string("clip ") + key);
        if (text) {
            encoder_sizes e;
            e.vocab = t.size("vocab_size");
            e.hidden = t.size("hidden_size");
            e.heads = t.size("num_attention_heads");
            e.inner = t.size("intermediate_size");
            e.layers = t.size("num_hidden_layers");
            e.max_positions = t.size("max_position_embeddings");
            e.act = t.act("hidden_act", "quick_gelu");
            e.eps = t.number_or("layer_norm_eps", 1e-5);
            e.type_vocab = 0;
            write_encoder(t, e);
            t.integer("eos_token_id", t.integer_or("eos_token_id", 2));
        } else {
            write_encoder(t, vision_sizes(t, "quick_gelu", 1e-5));
        }
        w.raw(std::string("    struct ") + (text ? "text" : "vision") + " {\n" + t.members() +
              "    };\n");
    };
    tower("text_config", true);
    tower("vision_config", false);
    w.index("projection_dim", w.size_or("projection_dim", 512));
}

/// open_clip's `CoCa` (`embed_dim`, `vision_cfg`, `text_cfg`, `multimodal_cfg`), with
/// open_clip's defaults (`CLIPVisionCfg`, `CLIPTextCfg`, `MultimodalCfg`).
inline void map_coca(config_writer& w, const nlohmann::json& json, std::string_view) {
    const auto section = [&](const char* key) -> const nlohmann::json& {
        if (!json.contains(key) || !json.at(key).is_object()) {
            w.fail(std::string("no \"") + key + "\" object");
        }
        return json.at(key);
    };
    const auto mlp_width = [](config_writer& t, std::uint64_t width) {
        const double ratio = t.number_or("mlp_ratio", 4.0);
        if (ratio <= 0) {
            t.fail("\"mlp_ratio\" must be positive");
        }
        return static_cast<std::uint64_t>(static_cast<double>(width) *
                                          ratio); // int(), as open_clip
    };
    const auto common = [](config_writer& t) {
        t.require("ls_init_value", nullptr, "layer scale");
        for (const char* key : {"qk_norm", "scaled_cosine_attn", "scale_heads", "scale_attn_inner",
                                "scale_attn", "scale_fc"}) {
            t.require(key, false, "a variant of open_clip's attention block");
        }
        t.require("block_type", nullptr, "a custom block type");
        t.require("norm_kwargs", nlohmann::json::object(), "custom norm settings");
        t.require("act_kwargs", nlohmann::json::object(), "custom activation settings");
    };
    const auto embed = w.size("embed_dim");
    w.index("embed_dim", embed);
    w.act_member("hidden_act",
                 w.flag_or("quick_gelu", false) ? activation::quick_gelu : activation::gelu_erf);
    w.real("norm_eps", 1e-5); // open_clip's LayerNorm
    {
        config_writer t(section("vision_cfg"), "coca vision_cfg");
        common(t);
        if (!t.has("attentional_pool")) {
            t.fail("\"attentional_pool\" must be true: CoCa's decoder reads pooled image tokens");
        }
        t.require("attentional_pool", true,
                  "open_clip's original CoCa pooling is one pooler; \"parallel\" and "
                  "\"cascade\" are work in progress there");
        t.require("no_ln_pre", false, "a vision tower without ln_pre");
        t.require("pos_embed_type", "learnable", "fixed 2-D sin-cos positions");
        t.require("pool_type", "tok", "pooling other than the first pooled token");
        t.require("patch_dropout", 0.0, "patch dropout at inference");
        t.require("output_tokens", true, "CoCa's decoder reads the image tokens");
        const auto image = t.size_or("image_size", 224);
        const auto patch = t.size_or("patch_size", 16);
        if (image % patch != 0) {
            t.fail("image_size must be a multiple of patch_size");
        }
        const auto width = t.size_or("width", 768);
        const auto head_width = t.size_or("head_width", 64);
        if (width % head_width != 0) {
            t.fail("width must be a multiple of head_width");
        }
        t.index("image_size", image);
        t.index("patch_size", patch);
        t.index("width", width);
        t.index("layers", t.size_or("layers", 12));
        t.index("heads", width / head_width);
        t.index("intermediate_size", mlp_width(t, width));
        const auto queries = t.size_or("attn_pooler_queries", 256);
        if (queries < 2) {
            t.fail("\"attn_pooler_queries\" must be at least 2 (the embedding and the tokens)");
        }
        const auto pooler_heads = t.size_or("attn_pooler_heads", 8);
        if (embed % pooler_heads != 0) {
            t.fail("embed_dim must be a multiple of attn_pooler_heads");
        }
        t.index("pooler_queries", queries);
        t.index("pooler_heads", pooler_heads);
        w.raw("    struct vision {\n" + t.members() + "    };\n");
    }
    std::uint64_t text_width = 0;
    {
        config_writer t(section("text_cfg"), "coca text_cfg");
        common(t);
        t.require("hf_model_name", nullptr, "a Hugging Face text tower");
        t.require("embed_cls", true, "CoCa's text embedding is its appended CLS token");
        t.require("no_causal_mask", false, "a bidirectional text tower");
        t.require("proj_bias", false, "a biased text projection");
        t.require("proj_type", "linear", "a text projection other than a matrix");
        t.require("final_ln_after_pool", false, "ignored by open_clip with a CLS token");
        text_width = t.size_or("width", 512);
        const auto heads = t.size_or("heads", 8);
        if (text_width % heads != 0) {
            t.fail("width must be a multiple of heads");
        }
        t.index("vocab_size", t.size_or("vocab_size", 49408));
        t.index("context_length", t.size_or("context_length", 77));
        t.index("width", text_width);
        t.index("layers", t.size_or("layers", 12));
        t.index("heads", heads);
        t.index("intermediate_size", mlp_width(t, text_width));
        t.integer("pad_id", t.integer_or("pad_id", 0));
        t.boolean("correct_cls_mask", t.flag_or("correct_cls_mask", false));
        w.raw("    struct text {\n" + t.members() + "    };\n");
    }
    {
        config_writer t(section("multimodal_cfg"), "coca multimodal_cfg");
        common(t);
        const auto width = t.size_or("width", 512);
        if (width != text_width || width != embed) {
            t.fail("the decoder's width (" + std::to_string(width) +
                   ") must equal the text width and embed_dim (CoCa feeds it both)");
        }
        const auto heads = t.size_or("heads", 8);
        if (width % heads != 0) {
            t.fail("width must be a multiple of heads");
        }
        t.index("context_length", t.size_or("context_length", 77));
        t.index("layers", t.size_or("layers", 12));
        t.index("heads", heads);
        t.index("intermediate_size", mlp_width(t, width));
        w.raw("    struct multimodal {\n" + t.members() + "    };\n");
    }
}
} // namespace detail

/**
 * @brief One supported (`model_type`, architecture) pair: the header and template it becomes,
 *        and the function that maps its `config.json` to compile-time constants.
 *
 * This table is the one registry of ctt's families: the generator reads it, `ctt-hf-config
 * --list` prints it for CMake (the conformance tests and runners), and an unknown pair is an
 * error that lists it. `selects`, when set, says whether a config without a known architecture
 * is this entry (a T5 config with `is_decoder` is LaMDA's decoder-only stack).
 */
struct supported_model {
    std::string_view model_type;
    std::string_view architecture;
    std::string_view header;
    std::string_view templ;
    void (*map)(detail::config_writer&, const nlohmann::json&, std::string_view architecture);
    bool (*selects)(const nlohmann::json&) = nullptr;
};

namespace detail {
template <void (*Map)(config_writer&, const nlohmann::json&)>
void map_ignoring_architecture(config_writer& w, const nlohmann::json& json, std::string_view) {
    Map(w, json);
}
inline bool is_decoder_config(const nlohmann::json& json) {
    return json.contains("is_decoder") && json.at("is_decoder") == true;
}
inline bool is_not_decoder_config(const nlohmann::json& json) {
    return !is_decoder_config(json);
}
inline void map_t5_entry(config_writer& w, const nlohmann::json&, std::string_view) {
    map_t5(w, true);
}
inline void map_mt5_entry(config_writer& w, const nlohmann::json&, std::string_view) {
    map_t5(w, false);
}
} // namespace detail

inline constexpr supported_model supported_models[] = {
    {"bert", "BertForPreTraining", "ctt/models/bert.hpp", "::ctt::bert", detail::map_bert},
    {"bert", "BertForMaskedLM", "ctt/models/bert.hpp", "::ctt::bert", detail::map_bert},
    {"bert", "BertModel", "ctt/models/bert.hpp", "::ctt::bert", detail::map_bert},
    {"roberta", "RobertaForMaskedLM", "ctt/models/roberta.hpp", "::ctt::roberta",
     detail::map_roberta},
    {"roberta", "RobertaModel", "ctt/models/roberta.hpp", "::ctt::roberta", detail::map_roberta},
    {"xlm-roberta", "XLMRobertaForMaskedLM", "ctt/models/roberta.hpp", "::ctt::roberta",
     detail::map_roberta},
    {"xlm-roberta", "XLMRobertaModel", "ctt/models/roberta.hpp", "::ctt::roberta",
     detail::map_roberta},
    {"xlm", "XLMWithLMHeadModel", "ctt/models/xlm.hpp", "::ctt::xlm", detail::map_xlm},
    {"xlm", "XLMModel", "ctt/models/xlm.hpp", "::ctt::xlm", detail::map_xlm},
    {"albert", "AlbertForPreTraining", "ctt/models/albert.hpp", "::ctt::albert",
     detail::map_albert},
    {"albert", "AlbertForMaskedLM", "ctt/models/albert.hpp", "::ctt::albert", detail::map_albert},
    {"albert", "AlbertModel", "ctt/models/albert.hpp", "::ctt::albert", detail::map_albert},
    {"distilbert", "DistilBertForMaskedLM", "ctt/models/distilbert.hpp", "::ctt::distilbert",
     detail::map_distilbert},
    {"distilbert", "DistilBertModel", "ctt/models/distilbert.hpp", "::ctt::distilbert",
     detail::map_distilbert},
    {"electra", "ElectraForPreTraining", "ctt/models/electra.hpp", "::ctt::electra",
     detail::map_electra},
    {"electra", "ElectraModel", "ctt/models/electra.hpp", "::ctt::electra", detail::map_electra},
    {"deberta", "DebertaForMaskedLM", "ctt/models/deberta.hpp", "::ctt::deberta",
     detail::map_deberta},
    {"deberta", "DebertaModel", "ctt/models/deberta.hpp", "::ctt::deberta", detail::map_deberta},
    {"deberta-v2", "DebertaV2ForMaskedLM", "ctt/models/deberta.hpp", "::ctt::deberta_v2",
     detail::map_deberta_v2},
    {"deberta-v2", "DebertaV2Model", "ctt/models/deberta.hpp", "::ctt::deberta_v2",
     detail::map_deberta_v2},
    {"vit", "ViTModel", "ctt/models/vit.hpp", "::ctt::vit", detail::map_vit},
    {"clip", "CLIPModel", "ctt/models/clip.hpp", "::ctt::clip", detail::map_clip},
    {"gpt2", "GPT2LMHeadModel", "ctt/models/gpt2.hpp", "::ctt::gpt2", detail::map_gpt2},
    {"gpt2", "GPT2ForSequenceClassification", "ctt/models/gpt2.hpp", "::ctt::gpt2",
     detail::map_gpt2},
    {"gpt_neo", "GPTNeoForCausalLM", "ctt/models/gpt_neo.hpp", "::ctt::gpt_neo",
     detail::map_ignoring_architecture<detail::map_gpt_neo>},
    {"ctrl", "CTRLLMHeadModel", "ctt/models/ctrl.hpp", "::ctt::ctrl",
     detail::map_ignoring_architecture<detail::map_ctrl>},
    {"gpt_neox", "GPTNeoXForCausalLM", "ctt/models/gpt_neox.hpp", "::ctt::gpt_neox",
     detail::map_ignoring_architecture<detail::map_gpt_neox>},
    {"gptj", "GPTJForCausalLM", "ctt/models/gptj.hpp", "::ctt::gptj",
     detail::map_ignoring_architecture<detail::map_gptj>},
    {"bloom", "BloomForCausalLM", "ctt/models/bloom.hpp", "::ctt::bloom",
     detail::map_ignoring_architecture<detail::map_bloom>},
    {"falcon", "FalconForCausalLM", "ctt/models/falcon.hpp", "::ctt::falcon",
     detail::map_ignoring_architecture<detail::map_falcon>},
    {"llama", "LlamaForCausalLM", "ctt/models/llama.hpp", "::ctt::llama",
     detail::map_ignoring_architecture<detail::map_llama>},
    {"cohere", "CohereForCausalLM", "ctt/models/cohere.hpp", "::ctt::cohere",
     detail::map_ignoring_architecture<detail::map_cohere>},
    {"mixtral", "MixtralForCausalLM", "ctt/models/mixtral.hpp", "::ctt::mixtral",
     detail::map_ignoring_architecture<detail::map_mixtral>},
    {"qwen3_moe", "Qwen3MoeForCausalLM", "ctt/models/qwen3_moe.hpp", "::ctt::qwen3_moe",
     detail::map_ignoring_architecture<detail::map_qwen3_moe>},
    {"t5", "T5ForConditionalGeneration", "ctt/models/t5.hpp", "::ctt::t5", detail::map_t5_entry,
     detail::is_not_decoder_config},
    {"t5", "T5DecoderOnly", "ctt/models/lamda.hpp", "::ctt::lamda",
     detail::map_ignoring_architecture<detail::map_lamda>, detail::is_decoder_config},
    {"mt5", "MT5ForConditionalGeneration", "ctt/models/t5.hpp", "::ctt::t5", detail::map_mt5_entry},
    {"bart", "BartForConditionalGeneration", "ctt/models/bart.hpp", "::ctt::bart",
     detail::map_ignoring_architecture<detail::map_bart>},
    {"ldm_transformer", "Transformer2DModel", "ctt/models/ldm_transformer.hpp",
     "::ctt::ldm_transformer", detail::map_ldm_transformer<detail::config_writer>},
    {"ldm_unet", "UNet2DConditionModel", "ctt/models/ldm_unet.hpp", "::ctt::ldm_unet",
     detail::map_ldm_unet<detail::config_writer>},
    {"coca", "CoCa", "ctt/models/coca.hpp", "::ctt::coca", detail::map_coca},
    {"transfo_xl", "MemTransformerLM", "ctt/models/transfo_xl.hpp", "::ctt::transfo_xl",
     detail::map_ignoring_architecture<detail::map_transfo_xl<detail::config_writer>>},
    {"xlnet", "XLNetLMHeadModel", "ctt/models/xlnet.hpp", "::ctt::xlnet",
     detail::map_ignoring_architecture<detail::map_xlnet<detail::config_writer>>},
    {"ernie_thu", "BertModel", "ctt/models/ernie_thu.hpp", "::ctt::ernie_thu",
     detail::map_ignoring_architecture<detail::map_ernie_thu<detail::config_writer>>},
};

/// The bounds a `config.json` is parsed within (real ones are a few kB, three levels deep).
inline constexpr json_limits hf_config_json_limits{
    .max_bytes = 4u << 20, .max_depth = 16, .max_string_bytes = 1u << 16, .unique_keys = false};

/**
 * @brief Parses the text of a `config.json` within `hf_config_json_limits`.
 * @param label names the file in messages.
 * @throws io_error `"<label>: ..."` for malformed JSON or a bound exceeded.
 */
[[nodiscard]] inline nlohmann::json parse_hf_config(std::string_view text,
                                                    std::string_view label = "config.json") {
    return parse_json_within(text, hf_config_json_limits, label);
}

/**
 * @brief The registry entry of a config: `architecture` when given, else the config's first
 *        `architectures` entry when registered, else the first entry of its `model_type` that
 *        `selects` it.
 * @throws io_error naming the supported model types (or architectures of the type).
 */
[[nodiscard]] inline const supported_model& find_supported_model(const nlohmann::json& config_json,
                                                                 std::string_view architecture) {
    if (!config_json.is_object()) {
        throw io_error("config.json: the top level must be an object");
    }
    if (!config_json.contains("model_type") || !config_json.at("model_type").is_string()) {
        throw io_error("config.json: no \"model_type\" string");
    }
    const std::string type = config_json.at("model_type").get<std::string>();
    std::string known_types;
    std::string known_archs;
    for (const auto& m : supported_models) {
        if (known_types.find(std::string(m.model_type) + ",") == std::string::npos) {
            known_types += std::string(m.model_type) + ", ";
        }
        if (m.model_type == type) {
            known_archs += std::string(m.architecture) + ", ";
        }
    }
    if (known_archs.empty()) {
        throw io_error("config.json: model_type \"" + type + "\" is not supported (supported: " +
                       known_types.substr(0, known_types.size() - 2) + ")");
    }
    const auto entry_for = [&](std::string_view arch) -> const supported_model* {
        for (const auto& m : supported_models) {
            if (m.model_type == type && m.architecture == arch) {
                return &m;
            }
        }
        return nullptr;
    };
    if (!architecture.empty()) {
        if (const auto* m = entry_for(architecture)) {
            return *m;
        }
        throw io_error("config.json: architecture \"" + std::string(architecture) +
                       "\" of model_type \"" + type + "\" is not supported (supported: " +
                       known_archs.substr(0, known_archs.size() - 2) + ")");
    }
    if (config_json.contains("architectures") && config_json.at("architectures").is_array() &&
        !config_json.at("architectures").empty() &&
        config_json.at("architectures").front().is_string()) {
        const auto arch = config_json.at("architectures").front().get<std::string>();
        if (const auto* m = entry_for(arch)) {
            return *m;
        }
        throw io_error("config.json: architecture \"" + arch + "\" of model_type \"" + type +
                       "\" is not supported (supported: " +
                       known_archs.substr(0, known_archs.size() - 2) + ")");
    }
    for (const auto& m : supported_models) {
        if (m.model_type == type && (m.selects == nullptr || m.selects(config_json))) {
            return m;
        }
    }
    throw io_error("config.json: no architecture of model_type \"" + type +
                   "\" matches this config (supported: " +
                   known_archs.substr(0, known_archs.size() - 2) + ")");
}

/**
 * @brief The weight type a checkpoint's `torch_dtype` names: `bf16` for `"bfloat16"`, `f16` for
 *        `"float16"`, else `f32` (the projections are then stored as the checkpoint is).
 */
[[nodiscard]] inline weight_type weights_of_dtype(const nlohmann::json& config_json) {
    const auto it = config_json.find("torch_dtype");
    if (it == config_json.end() || !it->is_string()) {
        return weight_type::f32;
    }
    const auto dtype = it->get<std::string>();
    return dtype == "bfloat16"  ? weight_type::bf16
           : dtype == "float16" ? weight_type::f16
                                : weight_type::f32;
}

/**
 * @brief The text of a header that defines, in namespace `ns`, `struct config` (the constants
 *        of `config_json`) and `using model = ctt::<family><config>`. `weights` is how the model
 *        stores its projections (`config::weight_storage`, read by the decoder, encoder and
 *        encoder-decoder templates); by default the checkpoint's `torch_dtype`. `kv_cache`,
 *        when not `f32`, is how sessions hold keys and values (`config::kv_cache_storage`,
 *        read by the decoder and encoder-decoder templates): `bf16` or `f16`. The header also
 *        defines `model_of<C>`, the family's template, for variants of the configuration.
 * @throws io_error for an unknown `model_type` or a setting ctt does not implement.
 */
[[nodiscard]] inline std::string hf_config_header(const nlohmann::json& config_json,
                                                  std::string_view ns,
                                                  std::string_view source = "config.json",
                                                  std::string_view architecture = {},
                                                  std::optional<weight_type> weights = {},
                                                  weight_type kv_cache = weight_type::f32) {
    if (kv_cache == weight_type::int8) {
        throw io_error("a KV cache holds f32, bf16 or f16, not int8");
    }
    const supported_model* found = &find_supported_model(config_json, architecture);
    const std::string type = config_json.at("model_type").get<std::string>();
    detail::config_writer w(config_json, type);
    found->map(w, config_json, found->architecture);
    std::ostringstream out;
    out << "// Generated by ctt-hf-config from " << source << ". Do not edit.\n"
        << "#pragma once\n\n#include <ctt/core/weight_type.hpp>\n#include <" << found->header
        << ">\n\nnamespace " << ns << " {\n\n"
        << "/// The compile-time configuration of a \"" << type << "\" checkpoint.\n"
        << "struct config {\n"
        << w.members()
        << "    /// How the projections are stored once loaded (WEIGHTS, else torch_dtype).\n"
        << "    static constexpr ::ctt::weight_type weight_storage = ::ctt::weight_type::"
        << to_string(weights.value_or(weights_of_dtype(config_json))) << ";\n";
    if (kv_cache != weight_type::f32) {
        out << "    /// How sessions hold keys and values (KV_CACHE).\n"
            << "    static constexpr ::ctt::weight_type kv_cache_storage = ::ctt::weight_type::"
            << to_string(kv_cache) << ";\n";
    }
    out << "};\n\n"
        << "/// The model type this configuration defines.\n"
        << "using model = " << found->templ << "<config>;\n"
        << "/// The family's template, for variants of `config`.\n"
        << "template <class C>\nusing model_of = " << found->templ << "<C>;\n\n"
        << "/// The checkpoint's HF model_type and architecture.\n"
        << "inline constexpr const char* model_type = \"" << type << "\";\n"
        << "inline constexpr const char* architecture = \"" << found->architecture << "\";\n\n"
        << "} // namespace " << ns << "\n";
    return out.str();
}

} // namespace ctt
