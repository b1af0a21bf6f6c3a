// A KV cache of int8 does not compile: keys and values are stored as f32, bf16 or f16.
// expect: kv_cache: keys and values are stored as f32, bf16 or f16
#include <ctt/attention/kv_cache.hpp>

void kv_cache_int8() {
#ifdef CTT_COMPILE_FAIL
    ctt::kv_cache<2, 8, ctt::weight_type::int8> cache(4);
#else
    ctt::kv_cache<2, 8, ctt::weight_type::bf16> cache(4);
#endif
    (void)cache.length();
}
