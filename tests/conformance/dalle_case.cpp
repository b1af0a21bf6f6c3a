// Conformance cases of DALL-E's sparse attention layers (model_type "dalle_attention", from
// lucidrains/DALLE-pytorch attention.py as the golden `dalle_attn` runs them): each layer
// `<name>` (`to_qkv` without bias, `to_out.0` with one) over `x`, checked against `out_<name>`.
// Text is causal; image tokens see all the text plus their causal row (`row`), column
// (`column`) or convolutional window (`conv`: kernel 3, dilation 1; `conv_k<K>_d<D>`). Sizes come
// from config.json (dim, heads, dim_head, image_size, text_len), so other sizes run unchanged.
#include <ctt/attention/flash_attention.hpp>
#include <ctt/attention/sparse_masks.hpp>
#include <ctt/kernels/gemm.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "case_api.hpp"

namespace ctt::conformance {

namespace {

template <index_t D>
std::vector<float> run_layer(case_data& c, const std::string& layer, const dalle_mask& mask,
                             index_t dim, index_t heads) {
    const index_t inner = heads * D;
    using matrix = tensor<float, shape<dyn, dyn>>;
    const auto load = [&](const std::string& name, index_t rows, index_t cols) {
        matrix m(rows, cols);
        c.weights().read_into(name, m.view());
        return m;
    };
    const auto w_qkv = load(layer + ".to_qkv.weight", 3 * inner, dim);
    const auto w_out = load(layer + ".to_out.0.weight", dim, inner);
    tensor<float, shape<dyn>> b_out(dim);
    c.weights().read_into(layer + ".to_out.0.bias", b_out.view());
    const auto x = c.floats("x");
    const auto xs = c.shape("x");
    const index_t batch = xs[0], length = xs[1];
    std::vector<float> out(x.size());
    for (index_t b = 0; b < batch; ++b) {
        const tensor_view<const float, shape<dyn, dyn>> xb(x.data() + b * length * dim,
                                                           shape<dyn, dyn>(length, dim));
        matrix qkv(length, 3 * inner);
        matmul_bt(xb, w_qkv.view(), qkv.view());
        matrix ctx(length, inner);
        const auto cols = [&](index_t first) {
            return tensor_view<const float, shape<dyn, dyn>>(qkv.data() + first,
                                                             shape<dyn, dyn>(length, inner),
                                                             std::array<index_t, 2>{3 * inner, 1});
        };
        attention_heads<D>(cols(0), cols(inner), cols(2 * inner), ctx.view(), mask, no_bias{},
                           no_transform{}, attention_params{}, heads, heads);
        const tensor_view<float, shape<dyn, dyn>> ob(out.data() + b * length * dim,
                                                     shape<dyn, dyn>(length, dim));
        matmul_bt(tensor_view<const float, shape<dyn, dyn>>(ctx.view()), w_out.view(), b_out.view(),
                  ob);
    }
    return out;
}

} // namespace

void run_case(case_data& c) {
    std::ifstream in(std::string(case_directory) + "/config.json");
    const auto config = nlohmann::json::parse(in);
    const auto get = [&](const char* key) { return config.at(key).get<index_t>(); };
    const index_t dim = get("dim"), heads = get("heads"), head_dim = get("dim_head");
    const index_t text_len = get("text_len"), image_size = get("image_size");
    index_t layers = 0;
    for (const auto& name : c.weights().names()) {
        const std::string n(name);
        const auto at = n.find(".to_qkv.weight");
        if (at == std::string::npos) {
            continue;
        }
        const std::string layer = n.substr(0, at);
        ++layers;
        dalle_mask mask{dalle_pattern::row, text_len, image_size, 3, 1};
        if (layer == "column") {
            mask.pattern = dalle_pattern::column;
        } else if (layer.rfind("conv", 0) == 0) {
            mask.pattern = dalle_pattern::convolutional;
            index_t kernel = 3, dilation = 1;
            if (layer != "conv" &&
                std::sscanf(layer.c_str(), "conv_k%zu_d%zu", &kernel, &dilation) != 2) {
                c.fail("layer '" + layer + "': expected conv or conv_k<K>_d<D>");
                continue;
            }
            mask.kernel = kernel;
            mask.dilation = dilation;
        } else if (layer != "row") {
            c.fail("layer '" + layer + "' is not row, column or conv");
            continue;
        }
        std::vector<float> ours;
        if (head_dim == 16) {
            ours = run_layer<16>(c, layer, mask, dim, heads);
        } else if (head_dim == 32) {
            ours = run_layer<32>(c, layer, mask, dim, heads);
        } else if (head_dim == 64) {
            ours = run_layer<64>(c, layer, mask, dim, heads);
        } else {
            std::string message = "dim_head ";
            message += std::to_string(head_dim);
            message += " is not among 16, 32, 64";
            c.fail(message);
            return;
        }
        c.check_floats("out_" + layer, ours);
    }
    if (layers == 0) {
        c.fail("no <layer>.to_qkv.weight in model.safetensors");
    }
}

} // namespace ctt::conformance
