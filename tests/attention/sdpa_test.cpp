// Reproduces torch.nn.functional.scaled_dot_product_attention (tests/data/kernels/sdpa_kernels):
// plain, causal (bottom-right aligned), additive float bias and scale = 1, on three shapes
// (Lq = Lk, Lq != Lk, Lq = 1), through flash_attention and reference_attention.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "ctt/attention/flash_attention.hpp"
#include "ctt/attention/masks.hpp"
#include "ctt/attention/reference_attention.hpp"
#include "ctt/io/safetensors.hpp"

namespace {

using ctt::dyn;
using ctt::index_t;

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
void check_case(const ctt::safetensors_file& f, int c) {
    // Appended, not `"c" + std::to_string(c)`: GCC 12 warns falsely (-Wrestrict, PR 105329).
    std::string p = "c";
    p += std::to_string(c);
    p += '_';
    const auto& qshape = f.info(p + "q").shape;
    const index_t b = qshape[0], h = qshape[1], lq = qshape[2];
    const index_t lk = f.info(p + "k").shape[2];
    REQUIRE(qshape[3] == D);
    const auto q = f.load_floats(p + "q");
    const auto k = f.load_floats(p + "k");
    const auto v = f.load_floats(p + "v");
    const auto bias = f.load_floats(p + "bias");
    for (const char* variant : {"plain", "causal", "bias", "scale1"}) {
        const auto expected = f.load_floats(p + "out_" + variant);
        const float tol =
            2e-4f * std::max(1.0f, std::abs(*std::max_element(expected.begin(), expected.end(),
                                                              [](float x, float y) {
                                                                  return std::abs(x) < std::abs(y);
                                                              })));
        for (index_t bh = 0; bh < b * h; ++bh) {
            using in_view = ctt::tensor_view<const float, ctt::shape<dyn, D>>;
            const in_view qv(q.data() + bh * lq * D, ctt::shape<dyn, D>{lq});
            const in_view kv(k.data() + bh * lk * D, ctt::shape<dyn, D>{lk});
            const in_view vv(v.data() + bh * lk * D, ctt::shape<dyn, D>{lk});
            ctt::tensor<float, ctt::shape<dyn, D>> fast(lq);
            ctt::tensor<float, ctt::shape<dyn, D>> ref(lq);
            const std::string name = variant;
            const sdpa_bias sb{bias.data() + bh * lq * lk, lk, lk - lq};
            if (name == "plain") {
                ctt::flash_attention(qv, kv, vv, fast.view());
                ctt::reference_attention(qv, kv, vv, ref.view());
            } else if (name == "causal") {
                ctt::flash_attention(qv, kv, vv, fast.view(), ctt::causal_mask{});
                ctt::reference_attention(qv, kv, vv, ref.view(), ctt::causal_mask{});
            } else if (name == "bias") {
                ctt::flash_attention(qv, kv, vv, fast.view(), ctt::no_mask{}, sb);
                ctt::reference_attention(qv, kv, vv, ref.view(), ctt::no_mask{}, sb);
            } else {
                const auto params = ctt::attention_params{}.with_scale(1.0f);
                ctt::flash_attention(qv, kv, vv, fast.view(), ctt::no_mask{}, ctt::no_bias{},
                                     ctt::no_transform{}, params);
                ctt::reference_attention(qv, kv, vv, ref.view(), ctt::no_mask{}, ctt::no_bias{},
                                         ctt::no_transform{}, params);
            }
            float err_fast = 0;
            float err_ref = 0;
            for (index_t i = 0; i < lq * D; ++i) {
                const float want = expected[bh * lq * D + i];
                err_fast = std::max(err_fast, std::abs(fast.data()[i] - want));
                err_ref = std::max(err_ref, std::abs(ref.data()[i] - want));
            }
            INFO("case " << c << " " << variant << " head " << bh);
            CHECK(err_fast <= tol);
            CHECK(err_ref <= tol);
        }
    }
}

} // namespace

TEST_CASE("sdpa_kernels golden: plain, causal, bias, scale 1 over three shapes") {
    const auto f = ctt::safetensors_file::open(std::string(CTT_TEST_DATA_DIR) +
                                               "/kernels/sdpa_kernels/io.safetensors");
    check_case<16>(f, 0);
    check_case<64>(f, 1);
    check_case<128>(f, 2);
}
