// libFuzzer target: any bytes as the checkpoint of a small GPT-2 (the seeds are random-weight
// checkpoints of these sizes in F32, F16 and BF16, written by ctt-random-checkpoint). Loading
// either binds every parameter or throws `io_error`; a model that loads then runs a short prompt,
// whatever its weights hold (NaN and Inf included), without a crash or a sanitizer report.
#include <ctt/io/parameter_loader.hpp>
#include <ctt/models/gpt2.hpp>

#include "../support/tiny_models.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace {

using model_type = ctt::gpt2<ctt::test::gpt2_sizes<16, 16, 2, 16, 1, 8>>;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
    auto model = std::make_unique<model_type>();
    try {
        const auto file = ctt::safetensors_file::from_buffer(bytes, "fuzz");
        ctt::load_parameters(*model, file);
    } catch (const ctt::io_error&) {
        return 0;
    }
    constexpr std::array<std::int32_t, 3> prompt{1, 7, 15};
    auto session = model->new_session(model_type::max_positions);
    ctt::tensor<float, ctt::shape<ctt::dyn, model_type::vocab>> logits(1);
    model->step(session, prompt, logits.view());
    model->step(session, std::span(prompt).first(1), logits.view());
    volatile float sink = logits.data()[0];
    (void)sink;
    return 0;
}
