// Transformer-XL's sinusoids need an even d_model: an odd one does not compile.
// expect: transfo_xl: d_model must be even
#include <ctt/models/transfo_xl.hpp>

namespace {
struct tiny_txl {
    static constexpr ctt::index_t n_token = 16;
    static constexpr ctt::index_t n_layer = 1;
    static constexpr ctt::index_t n_head = 2;
#ifdef CTT_COMPILE_FAIL
    static constexpr ctt::index_t d_model = 9;
#else
    static constexpr ctt::index_t d_model = 8;
#endif
    static constexpr ctt::index_t d_head = 4;
    static constexpr ctt::index_t d_inner = 12;
    static constexpr ctt::index_t mem_len = 4;
    static constexpr int clamp_len = -1;
    static constexpr bool pre_lnorm = false;
    static constexpr bool tie_weight = true;
};
} // namespace

ctt::index_t txl_width() {
    return ctt::transfo_xl<tiny_txl>::width;
}
