// DALL-E's sparse attention layers (lucidrains/DALLE-pytorch attention.py, as run in
// tests/data/kernels/dalle_attn): text is causal; image tokens see all text plus their causal row,
// column or convolutional window. to_qkv has no bias, to_out has one; q is scaled by
// dim_head^-0.5 (the kernel's default scale).
#include <ctt/attention/flash_attention.hpp>
#include <ctt/attention/reference_attention.hpp>
#include <ctt/attention/sparse_masks.hpp>
#include <ctt/kernels/gemm.hpp>

#include <doctest/doctest.h>

#include "../support/golden_case.hpp"

namespace {

using namespace ctt;
constexpr index_t dim = 32;
constexpr index_t heads = 2;
constexpr index_t head_dim = 16;
constexpr index_t inner = heads * head_dim;

std::vector<float> run_layer(const test::golden_case& c, const std::string& layer,
                             const dalle_mask& mask, bool use_reference) {
    const auto x = c.io.load_floats("x");
    const index_t batch = c.io.info("x").shape[0];
    const index_t length = c.io.info("x").shape[1];
    const auto w_qkv = c.model.load<float>(layer + ".to_qkv.weight", shape<3 * inner, dim>{});
    const auto w_out = c.model.load<float>(layer + ".to_out.0.weight", shape<dim, inner>{});
    const auto b_out = c.model.load<float>(layer + ".to_out.0.bias", shape<dim>{});
    std::vector<float> out(x.size());
    for (index_t b = 0; b < batch; ++b) {
        const tensor_view<const float, shape<dyn, dim>> xb(x.data() + b * length * dim,
                                                           shape<dyn, dim>(length));
        tensor<float, shape<dyn, 3 * inner>> qkv(length);
        matmul_bt(xb, w_qkv.view(), qkv.view());
        tensor<float, shape<dyn, inner>> ctx(length);
        const auto q = qkv.view().cols<inner>(0);
        const auto k = qkv.view().cols<inner>(inner);
        const auto v = qkv.view().cols<inner>(2 * inner);
        if (use_reference) {
            for (index_t h = 0; h < heads; ++h) {
                reference_attention(q.cols<head_dim>(h * head_dim), k.cols<head_dim>(h * head_dim),
                                    v.cols<head_dim>(h * head_dim),
                                    ctx.view().cols<head_dim>(h * head_dim), mask);
            }
        } else {
            attention_heads<head_dim>(q, k, v, ctx.view(), mask, no_bias{}, no_transform{},
                                      attention_params{}, heads, heads);
        }
        tensor_view<float, shape<dyn, dim>> ob(out.data() + b * length * dim,
                                               shape<dyn, dim>(length));
        matmul_bt(tensor_view<const float, shape<dyn, inner>>(ctx.view()), w_out.view(),
                  b_out.view(), ob);
    }
    return out;
}

} // namespace

TEST_CASE("DALL-E row, column and convolutional attention reproduce DALLE-pytorch") {
    const auto c = test::golden_case::data("kernels/dalle_attn");
    const index_t text_len = c.config.at("text_len").get<index_t>();
    const index_t image_size = c.config.at("image_size").get<index_t>();
    struct layer_case {
        std::string name;
        dalle_mask mask;
    };
    const layer_case cases[] = {
        {"row", {dalle_pattern::row, text_len, image_size, 3, 1}},
        {"column", {dalle_pattern::column, text_len, image_size, 3, 1}},
        {"conv", {dalle_pattern::convolutional, text_len, image_size, 3, 1}},
        {"conv_k5_d2", {dalle_pattern::convolutional, text_len, image_size, 5, 2}},
    };
    for (const auto& lc : cases) {
        INFO("layer ", lc.name);
        const auto ref = c.io.load_floats("out_" + lc.name);
        CHECK(test::within_tolerance(run_layer(c, lc.name, lc.mask, false), ref));
        CHECK(test::within_tolerance(run_layer(c, lc.name, lc.mask, true), ref));
    }
}
