// A view cannot be re-read with static extents that contradict its own.
// expect: view: static and runtime extents differ
#include <ctt/core/tensor.hpp>

void view_extent() {
    ctt::tensor<float, ctt::shape<4, 768>> hidden;
#ifdef CTT_COMPILE_FAIL
    auto wrong = hidden.view().as<ctt::shape<4, 512>>();
#else
    auto wrong = hidden.view().as<ctt::shape<ctt::dyn, 768>>();
#endif
    (void)wrong;
}
