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

#include <charconv>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctt/core/errors.hpp"
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
        return json_.at(key).get<std::uint64_t>();
    }
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

inline void map_bert(config_writer& w) {
    w.require("position_embedding_type", "absolute", "ctt's BERT uses absolute positions");
    w.require("is_decoder", false, "BERT as a decoder");
    w.require("add_cross_attention", false, "BERT with cross-attention");
    const auto hidden = w.size("hidden_size");
    const auto heads = w.size("num_attention_heads");
    if (hidden % heads != 0) {
        w.fail("hidden_size must be a multiple of num_attention_heads");
    }
    w.index("vocab_size", w.size("vocab_size"));
    w.index("hidden_size", hidden);
    w.index("num_heads", heads);
    w.index("intermediate_size", w.size("intermediate_size"));
    w.index("num_layers", w.size("num_hidden_layers"));
    w.index("max_positions", w.size("max_position_embeddings"));
    w.index("type_vocab_size", w.size_or("type_vocab_size", 2));
    w.act_member("hidden_act", w.act("hidden_act", "gelu"));
    w.real("layer_norm_eps", w.number_or("layer_norm_eps", 1e-12));
}

inline void map_gpt2(config_writer& w, const nlohmann::json& json, std::string_view architecture) {
    if (architecture == "GPT2ForSequenceClassification") {
        std::uint64_t labels = 2; // HF's default num_labels
        if (json.contains("id2label") && json.at("id2label").is_object()) {
            labels = json.at("id2label").size();
        }
        labels = w.size_or("num_labels", labels);
        if (!w.has("pad_token_id")) {
            w.fail("GPT2ForSequenceClassification needs \"pad_token_id\" to find each "
                   "sequence's last token");
        }
        w.raw("    static constexpr ::ctt::causal_lm_head head = "
              "::ctt::causal_lm_head::sequence_score;\n");
        w.index("num_labels", labels);
        w.integer("pad_token_id", w.integer_or("pad_token_id", 0));
    }
    w.require("scale_attn_by_inverse_layer_idx", false, "per-layer attention scaling");
    w.require("add_cross_attention", false, "GPT-2 with cross-attention");
    const auto hidden = w.size("n_embd");
    const auto heads = w.size("n_head");
    if (hidden % heads != 0) {
        w.fail("n_embd must be a multiple of n_head");
    }
    w.index("vocab_size", w.size("vocab_size"));
    w.index("hidden_size", hidden);
    w.index("num_heads", heads);
    w.index("intermediate_size", w.size_or("n_inner", 4 * hidden));
    w.index("num_layers", w.size("n_layer"));
    w.index("max_positions", w.size("n_positions"));
    w.act_member("hidden_act", w.act("activation_function", "gelu_new"));
    w.real("layer_norm_eps", w.number_or("layer_norm_epsilon", 1e-5));
    w.boolean("scale_attn_weights", w.flag_or("scale_attn_weights", true));
    w.require("tie_word_embeddings", true, "ctt's GPT-2 ties its LM head to wte");
}

inline void map_llama(config_writer& w, const nlohmann::json& json) {
    double theta = w.number_or("rope_theta", 10000.0);
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
        if (rope.contains("rope_theta")) {
            if (!rope.at("rope_theta").is_number()) {
                w.fail("rope_theta must be a number");
            }
            theta = rope.at("rope_theta").get<double>();
        }
    }
    w.require("pretraining_tp", 1, "tensor-parallel slicing changes the numerics");
    const auto hidden = w.size("hidden_size");
    const auto heads = w.size("num_attention_heads");
    const auto kv_heads = w.size_or("num_key_value_heads", heads);
    if (heads % kv_heads != 0) {
        w.fail("num_attention_heads must be a multiple of num_key_value_heads");
    }
    if (!w.has("head_dim") && hidden % heads != 0) {
        w.fail("hidden_size must be a multiple of num_attention_heads when head_dim is absent");
    }
    const auto head_dim = w.size_or("head_dim", hidden / heads);
    if (head_dim % 2 != 0) {
        w.fail("head_dim must be even for rotary embeddings");
    }
    w.index("vocab_size", w.size("vocab_size"));
    w.index("hidden_size", hidden);
    w.index("num_heads", heads);
    w.index("num_kv_heads", kv_heads);
    w.index("head_dim", head_dim);
    w.index("intermediate_size", w.size("intermediate_size"));
    w.index("num_layers", w.size("num_hidden_layers"));
    w.index("max_positions", w.size("max_position_embeddings"));
    w.act_member("hidden_act", w.act("hidden_act", "silu"));
    w.real("rms_norm_eps", w.number_or("rms_norm_eps", 1e-6));
    w.real("rope_theta", theta, true);
    w.boolean("attention_bias", w.flag_or("attention_bias", false));
    w.boolean("mlp_bias", w.flag_or("mlp_bias", false));
    w.boolean("tie_word_embeddings", w.flag_or("tie_word_embeddings", false));
}

inline void map_t5(config_writer& w, bool tie_default) {
    w.require("is_decoder", false, "decoder-only T5 stacks (LaMDA) are not a T5 model");
    const std::string proj = w.text_or("feed_forward_proj", "relu");
    const bool gated = proj.rfind("gated-", 0) == 0;
    std::string act_name = gated ? proj.substr(6) : proj;
    if (proj == "gated-gelu") {
        act_name = "gelu_new"; // as HF's T5Config maps it
    }
    activation act{};
    try {
        act = activation_from_hf_name(act_name);
    } catch (const io_error&) {
        w.fail("\"feed_forward_proj\" = \"" + proj + "\" is not supported");
    }
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

} // namespace detail

/// The (`model_type`, HF architecture) pairs `hf_config_header` maps, and the ctt template each
/// becomes. The first architecture of a `model_type` is its default.
struct supported_model {
    std::string_view model_type;
    std::string_view architecture;
    std::string_view header;
    std::string_view templ;
};
inline constexpr supported_model supported_models[] = {
    {"bert", "BertForPreTraining", "ctt/models/bert.hpp", "::ctt::bert"},
    {"gpt2", "GPT2LMHeadModel", "ctt/models/gpt2.hpp", "::ctt::gpt2"},
    {"gpt2", "GPT2ForSequenceClassification", "ctt/models/gpt2.hpp", "::ctt::gpt2"},
    {"llama", "LlamaForCausalLM", "ctt/models/llama.hpp", "::ctt::llama"},
    {"t5", "T5ForConditionalGeneration", "ctt/models/t5.hpp", "::ctt::t5"},
    {"mt5", "MT5ForConditionalGeneration", "ctt/models/t5.hpp", "::ctt::t5"},
};

/**
 * @brief The text of a header that defines, in namespace `ns`, `struct config` (the constants
 *        of `config_json`) and `using model = ctt::<family><config>`.
 * @throws io_error for an unknown `model_type` or a setting ctt does not implement.
 */
[[nodiscard]] inline std::string hf_config_header(const nlohmann::json& config_json,
                                                  std::string_view ns,
                                                  std::string_view source = "config.json",
                                                  std::string_view architecture = {}) {
    if (!config_json.is_object()) {
        throw io_error("config.json: the top level must be an object");
    }
    if (!config_json.contains("model_type") || !config_json.at("model_type").is_string()) {
        throw io_error("config.json: no \"model_type\" string");
    }
    const std::string type = config_json.at("model_type").get<std::string>();
    // The architecture: given, else the config's first "architectures" entry, else the default.
    std::string arch(architecture);
    if (arch.empty() && config_json.contains("architectures") &&
        config_json.at("architectures").is_array() && !config_json.at("architectures").empty() &&
        config_json.at("architectures").front().is_string()) {
        arch = config_json.at("architectures").front().get<std::string>();
    }
    const supported_model* found = nullptr;
    std::string known_types;
    std::string known_archs;
    for (const auto& m : supported_models) {
        if (m.model_type == type && found == nullptr && (arch.empty() || m.architecture == arch)) {
            found = &m;
        }
        known_types += (known_types.empty() ? "" : ", ") + std::string(m.model_type);
        if (m.model_type == type) {
            known_archs += (known_archs.empty() ? "" : ", ") + std::string(m.architecture);
        }
    }
    if (known_archs.empty()) {
        throw io_error("config.json: model_type \"" + type +
                       "\" is not supported (supported: " + known_types + ")");
    }
    if (found == nullptr) {
        throw io_error("config.json: architecture \"" + arch + "\" of model_type \"" + type +
                       "\" is not supported (supported: " + known_archs + ")");
    }
    detail::config_writer w(config_json, type);
    if (type == "bert") {
        detail::map_bert(w);
    } else if (type == "gpt2") {
        detail::map_gpt2(w, config_json, found->architecture);
    } else if (type == "llama") {
        detail::map_llama(w, config_json);
    } else {
        detail::map_t5(w, type == "t5");
    }
    std::ostringstream out;
    out << "// Generated by ctt-hf-config from " << source << ". Do not edit.\n"
        << "#pragma once\n\n#include <" << found->header << ">\n\nnamespace " << ns << " {\n\n"
        << "/// The compile-time configuration of a \"" << type << "\" checkpoint.\n"
        << "struct config {\n"
        << w.members() << "};\n\n"
        << "/// The model type this configuration defines.\n"
        << "using model = " << found->templ << "<config>;\n\n"
        << "/// The checkpoint's HF model_type and architecture.\n"
        << "inline constexpr const char* model_type = \"" << type << "\";\n"
        << "inline constexpr const char* architecture = \"" << found->architecture << "\";\n\n"
        << "} // namespace " << ns << "\n";
    return out.str();
}

} // namespace ctt
