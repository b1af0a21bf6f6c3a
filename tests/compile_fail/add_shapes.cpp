// Adding a 4x8 and a 4x16 tensor does not compile: the static extents disagree.
// expect: add: operand extents differ
#include <ctt/core/tensor.hpp>
#include <ctt/kernels/elementwise.hpp>

void add_shapes() {
    ctt::tensor<float, ctt::shape<4, 8>> a;
    ctt::tensor<float, ctt::shape<4, 8>> out;
#ifdef CTT_COMPILE_FAIL
    ctt::tensor<float, ctt::shape<4, 16>> b;
#else
    ctt::tensor<float, ctt::shape<4, 8>> b;
#endif
    ctt::add(a.view(), b.view(), out.view());
}
