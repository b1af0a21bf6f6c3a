// Every mask against its definition computed independently here: visible sets per query,
// `apply` on arbitrary key ranges, and `classify` exact-or-conservative on every tile.
#include <doctest/doctest.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "ctt/attention/masks.hpp"
#include "ctt/attention/sparse_masks.hpp"

namespace {

using ctt::index_t;
using definition = std::function<bool(long long p, long long j)>;

template <class M>
void check_mask(const M& mask, const definition& def, index_t positions = 70) {
    // visible: each query's visible key set equals the definition's.
    for (index_t p = 0; p < positions; ++p) {
        for (index_t j = 0; j < positions; ++j) {
            INFO("p=" << p << " j=" << j);
            REQUIRE(mask.visible(p, j) ==
                    def(static_cast<long long>(p), static_cast<long long>(j)));
        }
    }
    // apply: every key range [k0, k0 + n) of every query.
    std::vector<float> row(positions);
    for (index_t p = 0; p < positions; ++p) {
        for (index_t k0 : {index_t{0}, index_t{5}, index_t{31}}) {
            const index_t n = positions - k0;
            std::fill(row.begin(), row.end(), 1.0f);
            mask.apply(p, k0, n, row.data());
            for (index_t t = 0; t < n; ++t) {
                INFO("p=" << p << " j=" << k0 + t);
                REQUIRE((row[t] == 1.0f) ==
                        def(static_cast<long long>(p), static_cast<long long>(k0 + t)));
            }
        }
    }
    // classify: hidden and visible only when every pair agrees.
    for (index_t bq : {1, 3, 8, 16}) {
        for (index_t bk : {1, 4, 16}) {
            for (index_t q0 = 0; q0 < positions; q0 += bq) {
                for (index_t k0 = 0; k0 < positions; k0 += bk) {
                    const index_t q1 = std::min(positions, q0 + bq);
                    const index_t k1 = std::min(positions, k0 + bk);
                    const auto c = mask.classify(q0, q1, k0, k1);
                    bool any = false;
                    bool all = true;
                    for (index_t p = q0; p < q1; ++p) {
                        for (index_t j = k0; j < k1; ++j) {
                            const bool v =
                                def(static_cast<long long>(p), static_cast<long long>(j));
                            any = any || v;
                            all = all && v;
                        }
                    }
                    INFO("tile q[" << q0 << "," << q1 << ") k[" << k0 << "," << k1 << ")");
                    if (c == ctt::tile_visibility::hidden) {
                        REQUIRE(!any);
                    }
                    if (c == ctt::tile_visibility::visible) {
                        REQUIRE(all);
                    }
                }
            }
        }
    }
}

} // namespace

TEST_CASE("causal, padding and windows") {
    check_mask(ctt::causal_mask{}, [](long long p, long long j) { return j <= p; });
    check_mask(ctt::key_padding_mask{23}, [](long long, long long j) { return j < 23; });
    std::vector<std::uint8_t> flags(70);
    for (index_t j = 0; j < flags.size(); ++j) {
        flags[j] = (j % 5 == 1 || j > 60) ? 0 : 1;
    }
    check_mask(ctt::key_padding_mask{flags},
               [&](long long, long long j) { return flags[static_cast<index_t>(j)] != 0; });
    for (index_t w : {0, 1, 4, 17}) {
        const auto ww = static_cast<long long>(w);
        check_mask(ctt::sliding_window_mask{w},
                   [ww](long long p, long long j) { return j <= p && j > p - ww; });
        check_mask(ctt::local_band_mask{w},
                   [ww](long long p, long long j) { return j <= p && p - j < ww; });
        check_mask(ctt::symmetric_window_mask{w},
                   [ww](long long p, long long j) { return (p > j ? p - j : j - p) <= ww; });
    }
    check_mask(
        ctt::mask_and(ctt::key_padding_mask{flags}, ctt::causal_mask{}),
        [&](long long p, long long j) { return flags[static_cast<index_t>(j)] != 0 && j <= p; });
}

TEST_CASE("Sparse Transformer strided and fixed patterns (arXiv:1904.10509)") {
    for (long long s : {1, 3, 8}) {
        check_mask(
            ctt::strided_sparse_mask{static_cast<index_t>(s)},
            [s](long long p, long long j) { return j <= p && ((p - j) < s || (p - j) % s == 0); });
        for (long long c : {0LL, 1LL, s}) {
            if (c > s) {
                continue;
            }
            check_mask(ctt::fixed_sparse_mask{static_cast<index_t>(s), static_cast<index_t>(c)},
                       [s, c](long long p, long long j) {
                           return j <= p && (j / s == p / s || j % s >= s - c);
                       });
        }
    }
}

TEST_CASE("DALL-E row, column and convolutional masks") {
    const long long text = 6;
    const long long img = 5;
    const index_t total = static_cast<index_t>(text + img * img);
    // The definitions follow DALLE-pytorch's construction: text causal; image queries see all
    // text and, among image tokens i' <= i, those in the same row / column / dilated window.
    auto image = [&](long long p, long long j, auto&& same) {
        if (j > p) {
            return false;
        }
        if (j < text) {
            return true;
        }
        const long long qi = p - text;
        const long long ki = j - text;
        return static_cast<bool>(same(qi / img, qi % img, ki / img, ki % img));
    };
    check_mask(
        ctt::dalle_mask{ctt::dalle_pattern::row, 6, 5},
        [&](long long p, long long j) {
            return image(p, j, [](auto qr, auto, auto kr, auto) { return qr == kr; });
        },
        total);
    check_mask(
        ctt::dalle_mask{ctt::dalle_pattern::full, 6, 5},
        [&](long long p, long long j) { return j <= p; }, total);
    check_mask(
        ctt::dalle_mask{ctt::dalle_pattern::column, 6, 5},
        [&](long long p, long long j) {
            return image(p, j, [](auto, auto qc, auto, auto kc) { return qc == kc; });
        },
        total);
    for (const auto& kd : {std::pair{3LL, 1LL}, std::pair{5LL, 2LL}, std::pair{3LL, 2LL}}) {
        const long long kernel = kd.first;
        const long long dil = kd.second;
        // Window offsets -a * dilation for a in [0, kernel), rows and columns (top-left padded).
        check_mask(
            ctt::dalle_mask{ctt::dalle_pattern::convolutional, 6, 5, static_cast<index_t>(kernel),
                            static_cast<index_t>(dil)},
            [&](long long p, long long j) {
                return image(p, j, [&](auto qr, auto qc, auto kr, auto kc) {
                    for (long long a = 0; a < kernel; ++a) {
                        for (long long b = 0; b < kernel; ++b) {
                            if (qr - a * dil == kr && qc - b * dil == kc) {
                                return true;
                            }
                        }
                    }
                    return false;
                });
            },
            total);
    }
}
