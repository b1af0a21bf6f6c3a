#pragma once
/**
 * @file
 * @brief `tensor<T, Shape>`: an owning, 64-byte aligned, row-major tensor.
 */

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>

#include "ctt/core/shape.hpp"
#include "ctt/core/tensor_view.hpp"

namespace ctt {

/// Alignment of every buffer ctt allocates: one cache line, one AVX-512 register.
inline constexpr std::size_t tensor_alignment = 64;

namespace detail {
/// Frees what `allocate_aligned` returned: the `calloc` block whose address sits just below.
struct aligned_free {
    void operator()(void* p) const noexcept {
        if (p != nullptr) {
            std::free(static_cast<void**>(p)[-1]);
        }
    }
};

template <class T>
using aligned_ptr = std::unique_ptr<T[], aligned_free>;

/**
 * @brief `n` zeroed elements, 64-byte aligned, rounded up to whole registers. Zeroed by
 *        `calloc`, which maps large blocks from fresh zero pages without writing them: memory
 *        is resident only once written (a model's weights fill in layer by layer at load).
 */
template <class T>
aligned_ptr<T> allocate_aligned(std::size_t n) {
    static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
                  "tensor: elements must be trivially copyable");
    if (n == 0) {
        return aligned_ptr<T>(nullptr);
    }
    // Round up so that SIMD kernels may read the last partial register of a row safely.
    const std::size_t bytes =
        (n * sizeof(T) + tensor_alignment - 1) / tensor_alignment * tensor_alignment;
    void* block = std::calloc(bytes + tensor_alignment + sizeof(void*), 1);
    if (block == nullptr) {
        throw std::bad_alloc();
    }
    const auto start = reinterpret_cast<std::uintptr_t>(block) + sizeof(void*);
    auto* p = reinterpret_cast<void*>((start + tensor_alignment - 1) / tensor_alignment *
                                      tensor_alignment);
    static_cast<void**>(p)[-1] = block;
    return aligned_ptr<T>(static_cast<T*>(p));
}
} // namespace detail

/**
 * @brief An owning tensor of shape `S`; elements start at zero.
 *
 * `tensor<float, shape<dyn, 768>> x(seq_len);` holds `seq_len` rows of 768 floats.
 * Copying copies the elements; moving moves the buffer.
 */
template <class T, tensor_shape S>
class tensor {
public:
    using value_type = T;
    using shape_type = S;
    static constexpr index_t rank = S::rank;

    /// A fully static tensor is allocated and zeroed; one with runtime extents starts empty
    /// (every runtime extent 0) and is assigned later.
    tensor()
        : shape_(empty_shape())
        , data_(detail::allocate_aligned<T>(shape_.size())) {}

    /// Allocates a zeroed tensor from the runtime extents, in dimension order.
    template <class... Ints>
    requires(sizeof...(Ints) == S::rank_dynamic && S::rank_dynamic > 0 &&
             (std::is_convertible_v<Ints, index_t> && ...)) explicit tensor(Ints... runtime_extents)
        : shape_(runtime_extents...)
        , data_(detail::allocate_aligned<T>(shape_.size())) {}

    explicit tensor(S s)
        : shape_(s)
        , data_(detail::allocate_aligned<T>(shape_.size())) {}

    tensor(const tensor& other)
        : tensor(other.shape_) {
        std::copy_n(other.data(), size(), data());
    }
    tensor& operator=(const tensor& other) {
        if (this != &other) {
            tensor copy(other);
            *this = std::move(copy);
        }
        return *this;
    }
    tensor(tensor&&) noexcept = default;
    tensor& operator=(tensor&&) noexcept = default;
    ~tensor() = default;

    /**
     * @brief Frees the storage of a tensor whose values now live elsewhere (a linear layer's
     *        weight once packed): `data()` is null afterwards and the tensor must not be read.
     */
    void release() noexcept { data_.reset(); }

    [[nodiscard]] T* data() noexcept { return data_.get(); }
    [[nodiscard]] const T* data() const noexcept { return data_.get(); }
    [[nodiscard]] const S& shape() const noexcept { return shape_; }
    [[nodiscard]] index_t extent(index_t i) const noexcept { return shape_.extent(i); }
    [[nodiscard]] index_t size() const noexcept { return shape_.size(); }
    [[nodiscard]] index_t rows() const noexcept { return extent(0); }
    [[nodiscard]] index_t cols() const noexcept { return extent(rank - 1); }

    [[nodiscard]] tensor_view<T, S> view() noexcept { return {data(), shape_}; }
    [[nodiscard]] tensor_view<const T, S> view() const noexcept { return {data(), shape_}; }
    operator tensor_view<T, S>() noexcept { return view(); }             // NOLINT
    operator tensor_view<const T, S>() const noexcept { return view(); } // NOLINT

    template <class... Is>
    requires(sizeof...(Is) == rank) [[nodiscard]] T& operator()(Is... is) noexcept {
        return view()(is...);
    }
    template <class... Is>
    requires(sizeof...(Is) == rank) [[nodiscard]] const T& operator()(Is... is) const noexcept {
        return view()(is...);
    }
    [[nodiscard]] decltype(auto) operator[](index_t i) noexcept { return view()[i]; }
    [[nodiscard]] decltype(auto) operator[](index_t i) const noexcept { return view()[i]; }

    [[nodiscard]] T* begin() noexcept { return data(); }
    [[nodiscard]] T* end() noexcept { return data() + size(); }
    [[nodiscard]] const T* begin() const noexcept { return data(); }
    [[nodiscard]] const T* end() const noexcept { return data() + size(); }

    void fill(const T& value) noexcept { std::fill_n(data(), size(), value); }

private:
    static constexpr S empty_shape() noexcept {
        auto e = S::static_extents;
        for (auto& x : e) {
            x = x == dyn ? 0 : x;
        }
        return S::from_extents(e);
    }

    S shape_;
    detail::aligned_ptr<T> data_;
};

/// Copies `src` into `dst`; their extents must agree.
template <class T, class U, tensor_shape SA, tensor_shape SB>
void copy(tensor_view<const T, SA> src, tensor_view<U, SB> dst) {
    CTT_CHECK_SAME_SHAPE(CTT_MSG_COPY_SHAPES, SA, SB, src.shape(), dst.shape());
    if constexpr (SA::rank == 1) {
        std::copy_n(src.data(), src.size(), dst.data());
    } else {
        for (index_t i = 0; i < src.extent(0); ++i) {
            copy(tensor_view<const T, drop_first_t<SA>>(src[i]), dst[i]);
        }
    }
}

} // namespace ctt
