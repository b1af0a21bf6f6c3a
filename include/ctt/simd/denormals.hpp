#pragma once
/**
 * @file
 * @brief `flush_denormals`: a scope in which the calling thread's floating-point unit treats
 *        subnormal operands and results as zero (x86 MXCSR FTZ and DAZ), restored on exit.
 *
 * On x86 an FMA with a subnormal operand or result takes a microcode assist, tens of times
 * slower than the normal path. Attention meets them where probabilities are tiny: the online
 * softmax rescales a running output by `exp(m_old - m_new)`, which can push it below 2^-126.
 * Values that small are below the last digit of any sum they join, so the attention kernels
 * run their tiles inside this scope. Elsewhere (no SSE) it does nothing.
 */

#if defined(__SSE__) || defined(_M_X64)
#include <xmmintrin.h>
#define CTT_HAS_MXCSR 1
#endif

namespace ctt::simd {

class flush_denormals {
public:
#if defined(CTT_HAS_MXCSR)
    flush_denormals() noexcept
        : saved_(_mm_getcsr()) {
        _mm_setcsr(saved_ | flush_to_zero | denormals_are_zero);
    }
    ~flush_denormals() {
        _mm_setcsr(saved_);
    }
#else
    flush_denormals() noexcept = default;
#endif
    flush_denormals(const flush_denormals&) = delete;
    flush_denormals& operator=(const flush_denormals&) = delete;

private:
#if defined(CTT_HAS_MXCSR)
    static constexpr unsigned flush_to_zero = 0x8000;      ///< MXCSR.FTZ: subnormal results -> 0
    static constexpr unsigned denormals_are_zero = 0x0040; ///< MXCSR.DAZ: subnormal inputs -> 0
    unsigned saved_;
#endif
};

} // namespace ctt::simd
