// Normalising 768-wide rows with a 512-long weight does not compile.
// expect: norm: row width and weight length differ
#include <ctt/core/tensor.hpp>
#include <ctt/kernels/norms.hpp>

void norm_width() {
    ctt::tensor<float, ctt::shape<ctt::dyn, 768>> x(4);
    ctt::tensor<float, ctt::shape<ctt::dyn, 768>> out(4);
#ifdef CTT_COMPILE_FAIL
    ctt::tensor<float, ctt::shape<512>> weight;
#else
    ctt::tensor<float, ctt::shape<768>> weight;
#endif
    ctt::rms_norm(x.view(), weight.view(), 1e-6f, out.view());
}
