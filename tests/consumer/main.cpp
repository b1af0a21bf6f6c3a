// A program outside ctt's tree that includes the umbrella header and runs a kernel.
#include <ctt/ctt.hpp>

#include <cstdio>

int main() {
    ctt::tensor<float, ctt::shape<2, 3>> a;
    ctt::tensor<float, ctt::shape<3, 2>> b;
    ctt::tensor<float, ctt::shape<2, 2>> c;
    for (ctt::index_t i = 0; i < 6; ++i) {
        a.data()[i] = static_cast<float>(i + 1);
        b.data()[i] = static_cast<float>(6 - i);
    }
    ctt::matmul(a.view(), b.view(), c.view());
    // [1 2 3; 4 5 6] x [6 5; 4 3; 2 1] = [20 14; 56 41]
    const bool ok = c(0, 0) == 20.f && c(0, 1) == 14.f && c(1, 0) == 56.f && c(1, 1) == 41.f;
    std::printf("consumer: %s\n", ok ? "ok" : "wrong result");
    return ok ? 0 : 1;
}
