// expect: attention: head dimensions differ
// flash_attention checks at compile time that Q, K, V and the output share one head dimension.
#include "ctt/attention/flash_attention.hpp"
#include "ctt/core/tensor.hpp"

int main() {
    ctt::tensor<float, ctt::shape<ctt::dyn, 64>> q(4);
    ctt::tensor<float, ctt::shape<ctt::dyn, 64>> out(4);
#ifdef CTT_COMPILE_FAIL
    ctt::tensor<float, ctt::shape<ctt::dyn, 128>> k(4);
#else
    ctt::tensor<float, ctt::shape<ctt::dyn, 64>> k(4);
#endif
    ctt::flash_attention(q.view(), k.view(), k.view(), out.view());
    return 0;
}
