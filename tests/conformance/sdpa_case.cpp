// Conformance cases of bare attention (model_type "" with hf_class "Holder": the golden
// `sdpa_kernels`): torch's scaled_dot_product_attention on `c<i>_q/k/v` `[batch, heads, len,
// head_dim]`, plain, causal (bottom-right aligned), with the additive float mask `c<i>_bias`,
// and with scale 1, each reproduced by ctt's flash attention. Shapes come from the data, so a
// folder of such cases at other sizes runs unchanged; head dimensions are compile-time in the
// kernel, so the usual ones are instantiated and any other is reported by name.
#include <ctt/attention/flash_attention.hpp>
#include <ctt/attention/masks.hpp>

#include <string>
#include <vector>

#include "case_api.hpp"

namespace ctt::conformance {

namespace {

/// SDPA's float `attn_mask` of one (batch, head): `[Lq, Lk]`, query row = position - offset.
struct sdpa_bias {
    const float* data;
    index_t lk;
    index_t offset;
    void add(index_t, index_t q_pos, index_t k_begin, index_t n, float* row) const {
        const float* src = data + (q_pos - offset) * lk + k_begin;
        for (index_t t = 0; t < n; ++t) {
            row[t] += src[t];
        }
    }
};

template <index_t D>
void run_shape(case_data& c, const std::string& p) {
    const auto qs = c.shape(p + "q");
    const auto ks = c.shape(p + "k");
    const index_t batch = qs[0], heads = qs[1], lq = qs[2];
    const index_t kv_heads = ks[1], lk = ks[2];
    if (heads % kv_heads != 0) {
        c.fail(p + ": query heads are not a multiple of key/value heads");
        return;
    }
    const auto q = c.floats(p + "q");
    const auto k = c.floats(p + "k");
    const auto v = c.floats(p + "v");
    std::vector<float> bias;
    if (c.has(p + "bias")) {
        bias = c.floats(p + "bias");
    }
    // The bias is [batch, heads, Lq, Lk] or one [Lq, Lk] for all.
    const bool bias_per_head = bias.size() == batch * heads * lq * lk;
    for (const char* variant : {"plain", "causal", "bias", "scale1"}) {
        const std::string name = p + "out_" + variant;
        if (!c.has(name)) {
            continue;
        }
        std::vector<float> out(batch * heads * lq * D);
        for (index_t b = 0; b < batch; ++b) {
            for (index_t h = 0; h < heads; ++h) {
                using in_view = tensor_view<const float, shape<dyn, D>>;
                const index_t kh = h / (heads / kv_heads);
                const in_view qv(q.data() + (b * heads + h) * lq * D, shape<dyn, D>{lq});
                const in_view kv(k.data() + (b * kv_heads + kh) * lk * D, shape<dyn, D>{lk});
                const in_view vv(v.data() + (b * kv_heads + kh) * lk * D, shape<dyn, D>{lk});
                const tensor_view<float, shape<dyn, D>> ov(out.data() + (b * heads + h) * lq * D,
                                                           shape<dyn, D>{lq});
                const std::string_view which = variant;
                if (which == "plain") {
                    flash_attention(qv, kv, vv, ov);
                } else if (which == "causal") {
                    flash_attention(qv, kv, vv, ov, causal_mask{});
                } else if (which == "bias") {
                    if (bias.empty()) {
                        c.fail(name + " needs " + p + "bias");
                        return;
                    }
                    const float* src =
                        bias.data() + (bias_per_head ? (b * heads + h) * lq * lk : 0);
                    flash_attention(qv, kv, vv, ov, no_mask{}, sdpa_bias{src, lk, lk - lq});
                } else {
                    flash_attention(qv, kv, vv, ov, no_mask{}, no_bias{}, no_transform{},
                                    attention_params{}.with_scale(1.0f));
                }
            }
        }
        c.check_floats(name, out);
    }
}

template <index_t... Ds>
bool run_with_head_dim(case_data& c, const std::string& p, index_t d) {
    return ((d == Ds ? (run_shape<Ds>(c, p), true) : false) || ...);
}

} // namespace

void run_case(case_data& c) {
    index_t shapes = 0;
    for (index_t i = 0;; ++i) {
        // Appended, not `"c" + std::to_string(i)`: GCC 12 warns falsely (-Wrestrict, PR 105329).
        std::string p = "c";
        p += std::to_string(i);
        p += '_';
        if (!c.has(p + "q")) {
            break;
        }
        ++shapes;
        const index_t d = c.shape(p + "q").back();
        if (!run_with_head_dim<8, 16, 32, 40, 48, 64, 80, 96, 128, 256>(c, p, d)) {
            std::string message = p;
            message += "q: head dimension ";
            message += std::to_string(d);
            message += " is not among those this runner instantiates";
            c.fail(message);
        }
    }
    if (shapes == 0) {
        c.fail("no c0_q: not an attention-kernel case");
    }
}

} // namespace ctt::conformance
