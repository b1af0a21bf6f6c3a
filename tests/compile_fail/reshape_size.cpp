// Reshaping between static shapes must keep the element count.
// expect: reshape: element counts differ
#include <ctt/core/tensor.hpp>

void reshape_size() {
    ctt::tensor<float, ctt::shape<4, 6>> x;
#ifdef CTT_COMPILE_FAIL
    auto r = x.view().reshape(ctt::shape<5, 5>{});
#else
    auto r = x.view().reshape(ctt::shape<3, 8>{});
#endif
    (void)r;
}
