// libFuzzer target: any bytes as a config.json, parsed within bounds and mapped to a header by
// every registry entry of its model_type (the seeds hold one config of each supported type).
// A config is either turned into a header or refused with `io_error`; nothing else may happen.
#include <ctt/io/hf_config.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    nlohmann::json config;
    try {
        config = ctt::parse_hf_config(text, "fuzz.json");
    } catch (const ctt::io_error&) {
        return 0;
    }
    try {
        (void)ctt::hf_config_header(config, "m", "fuzz.json");
    } catch (const ctt::io_error&) {
    }
    if (!config.is_object() || !config.contains("model_type") ||
        !config.at("model_type").is_string()) {
        return 0;
    }
    const auto& type = config.at("model_type").get_ref<const std::string&>();
    for (const auto& m : ctt::supported_models) {
        if (m.model_type != type) {
            continue;
        }
        try {
            (void)ctt::hf_config_header(config, "m", "fuzz.json", m.architecture);
        } catch (const ctt::io_error&) {
        }
    }
    return 0;
}
