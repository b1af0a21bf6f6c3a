// ctt-hf-config: writes the C++ header of a Hugging Face config.json.
//
//   ctt-hf-config <config.json> <output.hpp> <namespace> [<architecture>]
//   ctt-hf-config --list        prints the registry, one "model_type:architecture" per line
//
// <architecture> is an HF class name (GPT2ForSequenceClassification, ...); by default the
// config's "architectures" entry, else the model_type's usual class.
// Exits with status 1 and a one-line reason on stderr when the configuration is not one ctt
// can reproduce. The CMake function ctt_add_hf_model runs it at configure time.
#include <ctt/io/hf_config.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <string_view>

int main(int argc, char** argv) {
    if (argc == 2 && std::string_view(argv[1]) == "--list") {
        for (const auto& m : ctt::supported_models) {
            std::cout << m.model_type << ":" << m.architecture << "\n";
        }
        return 0;
    }
    if (argc != 4 && argc != 5) {
        std::cerr << "usage: ctt-hf-config <config.json> <output.hpp> <namespace> "
                     "[<architecture>]\n";
        return 2;
    }
    try {
        std::ifstream in(argv[1], std::ios::binary);
        if (!in) {
            throw ctt::io_error(std::string("cannot open ") + argv[1]);
        }
        const std::string text((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
        const nlohmann::json json = ctt::parse_hf_config(text, argv[1]);
        const std::string header =
            ctt::hf_config_header(json, argv[3], argv[1], argc == 5 ? argv[4] : "");
        // Rewrite only on change, so dependent targets rebuild only when they must.
        std::ifstream old(argv[2]);
        const std::string existing((std::istreambuf_iterator<char>(old)),
                                   std::istreambuf_iterator<char>());
        if (existing != header) {
            std::ofstream out(argv[2], std::ios::binary);
            out << header;
            if (!out) {
                throw ctt::io_error(std::string("cannot write ") + argv[2]);
            }
        }
    } catch (const std::exception& e) {
        std::cerr << "ctt-hf-config: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
