#include <ctt/simd/transpose.hpp>

#include <doctest/doctest.h>

#include <vector>

TEST_CASE("transpose_block transposes a 16 x 16 block between strided buffers") {
    constexpr std::size_t n = ctt::simd::transpose_block_size;
    for (const std::size_t lds : {n, n + 3, 3 * n}) {
        for (const std::size_t ldd : {n, n + 5, 4 * n}) {
            std::vector<float> src(n * lds);
            std::vector<float> dst(n * ldd, -1.f);
            for (std::size_t i = 0; i < src.size(); ++i) {
                src[i] = static_cast<float>(i);
            }
            ctt::simd::transpose_block(src.data(), lds, dst.data(), ldd);
            for (std::size_t r = 0; r < n; ++r) {
                for (std::size_t c = 0; c < n; ++c) {
                    CHECK(dst[c * ldd + r] == src[r * lds + c]);
                }
                for (std::size_t c = n; c < ldd; ++c) {
                    CHECK(dst[r * ldd + c] == -1.f); // padding untouched
                }
            }
        }
    }
}
