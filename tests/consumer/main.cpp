// A program outside ctt's tree: includes the umbrella header, runs a kernel, and runs a model
// type generated from a Hugging Face config.json by ctt_add_hf_model.
#include "consumer_llama.hpp"

#include <ctt/ctt.hpp>

#include <cstdio>
#include <memory>
#include <vector>

int main(int argc, char** argv) {
    ctt::tensor<float, ctt::shape<2, 3>> a;
    ctt::tensor<float, ctt::shape<3, 2>> b;
    ctt::tensor<float, ctt::shape<2, 2>> c;
    for (ctt::index_t i = 0; i < 6; ++i) {
        a.data()[i] = static_cast<float>(i + 1);
        b.data()[i] = static_cast<float>(6 - i);
    }
    ctt::matmul(a.view(), b.view(), c.view());
    // [1 2 3; 4 5 6] x [6 5; 4 3; 2 1] = [20 14; 56 41]
    const bool gemm_ok = c(0, 0) == 20.f && c(0, 1) == 14.f && c(1, 0) == 56.f && c(1, 1) == 41.f;
    std::printf("consumer: matmul %s\n", gemm_ok ? "ok" : "wrong result");

    static_assert(consumer_llama::model::hidden == 64);
    bool model_ok = argc < 2;
    if (argc >= 2) {
        auto model = std::make_unique<consumer_llama::model>();
        ctt::load_parameters(*model, ctt::safetensors_file::open(argv[1]));
        const std::vector<std::int32_t> prompt = {5, 17, 42};
        const auto tokens = ctt::generate(*model, prompt, 4);
        std::printf("consumer: %s generated", consumer_llama::model_type);
        for (auto t : tokens) {
            std::printf(" %d", t);
        }
        std::printf("\n");
        model_ok = tokens.size() == 7;
    }
    return gemm_ok && model_ok ? 0 : 1;
}
