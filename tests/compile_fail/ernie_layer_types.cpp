// An ERNIE (THU) config whose layer_types do not name every layer does not compile.
// expect: ernie_thu: layer_types must name every layer
#include <ctt/models/ernie_thu.hpp>

#include <array>

namespace {
struct tiny_ernie {
    static constexpr ctt::index_t vocab_size = 16;
    static constexpr ctt::index_t hidden_size = 8;
    static constexpr ctt::index_t num_hidden_layers = 2;
    static constexpr ctt::index_t num_attention_heads = 2;
    static constexpr ctt::index_t intermediate_size = 12;
    static constexpr ctt::index_t max_position_embeddings = 8;
    static constexpr ctt::index_t type_vocab_size = 2;
    static constexpr ctt::index_t entity_dim = 4;
    static constexpr ctt::index_t entity_heads = 2;
    static constexpr ctt::activation hidden_act = ctt::activation::gelu_erf;
#ifdef CTT_COMPILE_FAIL
    static constexpr std::array<ctt::ernie_layer, 1> layer_types{ctt::ernie_layer::mix};
#else
    static constexpr std::array<ctt::ernie_layer, 2> layer_types{ctt::ernie_layer::sim,
                                                                 ctt::ernie_layer::mix};
#endif
};
} // namespace

ctt::index_t ernie_layers() {
    return ctt::ernie_thu<tiny_ernie>::layers;
}
