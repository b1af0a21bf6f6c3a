// A static mismatch of the inner dimensions of a matmul must not compile.
// expect: matmul: inner dimensions differ
#include <ctt/core/tensor.hpp>
#include <ctt/kernels/gemm.hpp>

void matmul_inner() {
    ctt::tensor<float, ctt::shape<ctt::dyn, 64>> a(4);
#ifdef CTT_COMPILE_FAIL
    ctt::tensor<float, ctt::shape<128, 32>> b;
#else
    ctt::tensor<float, ctt::shape<64, 32>> b;
#endif
    ctt::tensor<float, ctt::shape<ctt::dyn, 32>> c(4);
    ctt::matmul(a.view(), b.view(), c.view());
}
