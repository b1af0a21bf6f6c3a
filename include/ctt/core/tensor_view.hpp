#pragma once
/**
 * @file
 * @brief `tensor_view<T, Shape>`: a non-owning, strided view whose rows are contiguous.
 *
 * The last dimension always has stride 1, so every row can be streamed by SIMD kernels; the
 * outer dimensions carry runtime strides, which is what row slices, column blocks (one head
 * of a `[L, H*D]` projection) and sub-views need.
 */

#include <array>
#include <cassert>
#include <cstddef>
#include <type_traits>
#include <utility>

#include "ctt/core/shape.hpp"
#include "ctt/core/shape_messages.hpp"

namespace ctt {

template <class T, tensor_shape S>
class tensor_view;

namespace detail {
template <class S>
constexpr std::array<index_t, S::rank> contiguous_strides(const S& s) noexcept {
    std::array<index_t, S::rank> strides{};
    index_t stride = 1;
    for (index_t i = S::rank; i-- > 0;) {
        strides[i] = stride;
        stride *= s.extent(i);
    }
    return strides;
}
} // namespace detail

/**
 * @brief A view of `T` elements laid out in shape `S`, row-major, last stride 1.
 *
 * `T` may be `const`. Views are cheap to copy and never own memory.
 */
template <class T, tensor_shape S>
class tensor_view {
public:
    using element_type = T;
    using value_type = std::remove_cv_t<T>;
    using shape_type = S;
    static constexpr index_t rank = S::rank;
    static_assert(rank >= 1, "tensor_view: rank must be at least 1");

    constexpr tensor_view() noexcept requires(S::rank_dynamic == 0)
        : data_(nullptr)
        , shape_{}
        , strides_(detail::contiguous_strides(S{})) {}

    /// A contiguous view of `data` in shape `s`.
    constexpr tensor_view(T* data, S s) noexcept
        : data_(data)
        , shape_(s)
        , strides_(detail::contiguous_strides(s)) {}

    /// A strided view; `strides[rank - 1]` must be 1.
    constexpr tensor_view(T* data, S s, std::array<index_t, rank> strides) noexcept
        : data_(data)
        , shape_(s)
        , strides_(strides) {
        assert(strides[rank - 1] == 1);
    }

    /// A view of mutable elements converts to a view of const elements.
    template <class U>
    requires(std::is_same_v<const U, T> && !std::is_same_v<U, T>) constexpr tensor_view(
        const tensor_view<U, S>& other) noexcept // NOLINT(implicit)
        : data_(other.data())
        , shape_(other.shape())
        , strides_(other.strides()) {}

    [[nodiscard]] constexpr T* data() const noexcept { return data_; }
    [[nodiscard]] constexpr const S& shape() const noexcept { return shape_; }
    [[nodiscard]] constexpr index_t extent(index_t i) const noexcept { return shape_.extent(i); }
    [[nodiscard]] constexpr index_t size() const noexcept { return shape_.size(); }
    [[nodiscard]] constexpr index_t stride(index_t i) const noexcept { return strides_[i]; }
    [[nodiscard]] constexpr const std::array<index_t, rank>& strides() const noexcept {
        return strides_;
    }
    /// Number of rows (extent 0) and row width (last extent) -- the common 2-D vocabulary.
    [[nodiscard]] constexpr index_t rows() const noexcept { return extent(0); }
    [[nodiscard]] constexpr index_t cols() const noexcept { return extent(rank - 1); }
    /// Distance in elements between consecutive rows of a 2-D view (BLAS's leading dimension).
    [[nodiscard]] constexpr index_t row_stride() const noexcept requires(rank == 2) {
        return strides_[0];
    }

    /// True when the elements are densely packed (no gaps between rows).
    [[nodiscard]] constexpr bool is_contiguous() const noexcept {
        return strides_ == detail::contiguous_strides(shape_);
    }

    /// Element access; with `NDEBUG` unset, indices are bounds-checked by assert.
    template <class... Is>
    requires(sizeof...(Is) == rank && (std::is_convertible_v<Is, index_t> && ...))
        [[nodiscard]] constexpr T&
        operator()(Is... is) const noexcept {
        const std::array<index_t, rank> idx{static_cast<index_t>(is)...};
        index_t offset = 0;
        for (index_t d = 0; d < rank; ++d) {
            assert(idx[d] < extent(d));
            offset += idx[d] * strides_[d];
        }
        return data_[offset];
    }

    /// `v[i]`: the i-th sub-view along dimension 0 (an element for rank 1).
    [[nodiscard]] constexpr decltype(auto) operator[](index_t i) const noexcept {
        assert(i < extent(0));
        if constexpr (rank == 1) {
            return data_[i];
        } else {
            return tensor_view<T, drop_first_t<S>>(data_ + i * strides_[0], sub_shape(),
                                                   drop_first(strides_));
        }
    }

    /// Row `i` of a rank >= 2 view.
    [[nodiscard]] constexpr auto row(index_t i) const noexcept requires(rank >= 2) {
        return (*this)[i];
    }

    /// Rows `[begin, begin + count)`; the row count becomes a runtime extent.
    [[nodiscard]] constexpr tensor_view<T, replace_first_t<S, dyn>> rows(index_t begin,
                                                                         index_t count) const {
        detail::check_at_most(CTT_MSG_VIEW_BOUNDS, begin + count, extent(0));
        using out_shape = replace_first_t<S, dyn>;
        auto e = shape_.extents();
        e[0] = count;
        return {data_ + begin * strides_[0], out_shape::from_extents(e), strides_};
    }

    /// `N` rows starting at `begin` (a static row count).
    template <index_t N>
    [[nodiscard]] constexpr tensor_view<T, replace_first_t<S, N>> rows(index_t begin) const {
        detail::check_at_most(CTT_MSG_VIEW_BOUNDS, begin + N, extent(0));
        using out_shape = replace_first_t<S, N>;
        auto e = shape_.extents();
        e[0] = N;
        return {data_ + begin * strides_[0], out_shape::from_extents(e), strides_};
    }

    /// A column block `[begin, begin + W)` of a 2-D or 3-D view (one head of a projection).
    template <index_t W>
    requires(rank >= 2)
        [[nodiscard]] constexpr tensor_view<T, replace_last_t<S, W>> cols(index_t begin) const {
        if constexpr (S::static_extents[rank - 1] != dyn) {
            static_assert(W <= S::static_extents[rank - 1], CTT_MSG_VIEW_BOUNDS);
        }
        detail::check_at_most(CTT_MSG_VIEW_BOUNDS, begin + W, cols());
        using out_shape = replace_last_t<S, W>;
        auto e = shape_.extents();
        e[rank - 1] = W;
        return {data_ + begin, out_shape::from_extents(e), strides_};
    }

    /// A column block of runtime width.
    [[nodiscard]] constexpr tensor_view<T, replace_last_t<S, dyn>> cols(index_t begin,
                                                                        index_t width) const
        requires(rank >= 2) {
        detail::check_at_most(CTT_MSG_VIEW_BOUNDS, begin + width, cols());
        using out_shape = replace_last_t<S, dyn>;
        auto e = shape_.extents();
        e[rank - 1] = width;
        return {data_ + begin, out_shape::from_extents(e), strides_};
    }

    /// The same elements seen through a shape with more or fewer static extents.
    /// Static extents must agree at compile time; runtime ones are checked.
    template <tensor_shape S2>
    [[nodiscard]] constexpr tensor_view<T, S2> as(S2 s2) const {
        CTT_CHECK_SAME_SHAPE(CTT_MSG_VIEW_EXTENT, S, S2, shape_, s2);
        return {data_, s2, strides_};
    }
    template <tensor_shape S2>
    requires(S2::rank == rank) [[nodiscard]] constexpr tensor_view<T, S2> as() const {
        static_assert(S2::rank == rank, CTT_MSG_VIEW_EXTENT);
        return as(S2::from_extents(shape_.extents()));
    }

    /// The same contiguous elements in another shape of the same element count.
    template <tensor_shape S2>
    [[nodiscard]] constexpr tensor_view<T, S2> reshape(S2 s2) const {
        if constexpr (S::is_static && S2::is_static) {
            static_assert(detail::dims_agree<S{}.size(), S2{}.size()>::value, CTT_MSG_RESHAPE_SIZE);
        }
        detail::check_dims(CTT_MSG_RESHAPE_SIZE, size(), s2.size());
        if (!is_contiguous()) {
            throw shape_error("reshape: the view is not contiguous");
        }
        return {data_, s2};
    }

private:
    constexpr drop_first_t<S> sub_shape() const noexcept {
        const auto e = shape_.extents();
        std::array<index_t, rank - 1> sub{};
        for (index_t d = 1; d < rank; ++d) {
            sub[d - 1] = e[d];
        }
        return drop_first_t<S>::from_extents(sub);
    }
    static constexpr std::array<index_t, rank - 1>
    drop_first(const std::array<index_t, rank>& a) noexcept {
        std::array<index_t, rank - 1> out{};
        for (index_t d = 1; d < rank; ++d) {
            out[d - 1] = a[d];
        }
        return out;
    }

    T* data_;
    [[no_unique_address]] S shape_;
    std::array<index_t, rank> strides_;
};

template <class T, index_t... Dims>
tensor_view(T*, shape<Dims...>) -> tensor_view<T, shape<Dims...>>;

/// A view of a 2-D row-major matrix with `Cols` static columns and runtime rows.
template <class T, index_t Rows, index_t Cols>
using matrix_view = tensor_view<T, shape<Rows, Cols>>;

/// A view of a 1-D vector.
template <class T, index_t N>
using vector_view = tensor_view<T, shape<N>>;

} // namespace ctt
