#pragma once
/**
 * @file
 * @brief Shapes whose extents are compile-time constants or runtime values (`dyn`).
 *
 * Modelled on mdspan's `extents` (P0009): only the runtime extents are stored, so a fully
 * static shape is an empty object and every static extent stays a constant expression.
 */

#include <array>
#include <cstddef>
#include <limits>
#include <type_traits>

#include "ctt/core/shape_messages.hpp"

namespace ctt {

/// Index and extent type used throughout ctt.
using index_t = std::size_t;

/// Marks an extent that is known only at run time (batch, sequence length).
inline constexpr index_t dyn = std::numeric_limits<index_t>::max();

/**
 * @brief A row-major shape of rank `sizeof...(Dims)`; each extent is a constant or `dyn`.
 *
 * `shape<dyn, 768>` is a sequence of 768-wide rows whose length is given at run time:
 * `shape<dyn, 768>{seq_len}`. Constructors take the runtime extents only, in order.
 */
template <index_t... Dims>
class shape {
public:
    static constexpr index_t rank = sizeof...(Dims);
    static constexpr index_t rank_dynamic = ((Dims == dyn ? 1 : 0) + ... + 0);
    static constexpr std::array<index_t, rank> static_extents{Dims...};
    static constexpr bool is_static = rank_dynamic == 0;

    /// The compile-time extent of dimension `I`, or `dyn`.
    template <index_t I>
    requires(I < rank) static constexpr index_t static_extent = static_extents[I];

    constexpr shape() noexcept requires(rank_dynamic == 0) = default;

    /// Builds the shape from its runtime extents, in dimension order.
    template <class... Ints>
    requires(sizeof...(Ints) == rank_dynamic && rank_dynamic > 0 &&
             (std::is_convertible_v<Ints, index_t> &&
              ...)) constexpr explicit shape(Ints... runtime_extents) noexcept
        : dynamic_{static_cast<index_t>(runtime_extents)...} {}

    /// Builds the shape from a full list of extents; static entries must match.
    static constexpr shape from_extents(const std::array<index_t, rank>& all) {
        shape s = make_uninitialised();
        index_t d = 0;
        for (index_t i = 0; i < rank; ++i) {
            if (static_extents[i] == dyn) {
                s.set_dynamic(d++, all[i]);
            } else {
                detail::check_dims(CTT_MSG_SHAPE_EXTENT, static_extents[i], all[i]);
            }
        }
        return s;
    }

    /// The extent of dimension `i` (static or runtime).
    [[nodiscard]] constexpr index_t extent(index_t i) const noexcept {
        if constexpr (rank_dynamic == 0) {
            return static_extents[i];
        } else {
            if (static_extents[i] != dyn) {
                return static_extents[i];
            }
            return dynamic_[dynamic_index(i)];
        }
    }

    /// Number of elements.
    [[nodiscard]] constexpr index_t size() const noexcept {
        index_t n = 1;
        for (index_t i = 0; i < rank; ++i) {
            n *= extent(i);
        }
        return n;
    }

    [[nodiscard]] constexpr std::array<index_t, rank> extents() const noexcept {
        std::array<index_t, rank> e{};
        for (index_t i = 0; i < rank; ++i) {
            e[i] = extent(i);
        }
        return e;
    }

    friend constexpr bool operator==(const shape& a, const shape& b) noexcept {
        return a.extents() == b.extents();
    }

private:
    static constexpr index_t dynamic_index(index_t i) noexcept {
        index_t d = 0;
        for (index_t j = 0; j < i; ++j) {
            d += static_extents[j] == dyn ? 1 : 0;
        }
        return d;
    }
    static constexpr shape make_uninitialised() noexcept {
        if constexpr (rank_dynamic == 0) {
            return shape{};
        } else {
            return shape(tag{});
        }
    }
    struct tag {};
    constexpr explicit shape(tag) noexcept
        : dynamic_{} {}
    constexpr void set_dynamic(index_t d, index_t v) noexcept {
        if constexpr (rank_dynamic > 0) {
            dynamic_[d] = v;
        }
    }

    [[no_unique_address]] std::array<index_t, rank_dynamic> dynamic_{};
};

/// True for every specialisation of `ctt::shape`.
template <class T>
inline constexpr bool is_shape_v = false;
template <index_t... Dims>
inline constexpr bool is_shape_v<shape<Dims...>> = true;

template <class T>
concept tensor_shape = is_shape_v<T>;

namespace detail {

template <class S>
struct drop_first;
template <index_t D, index_t... Ds>
struct drop_first<shape<D, Ds...>> {
    using type = shape<Ds...>;
};

template <class S, index_t NewFirst>
struct replace_first;
template <index_t D, index_t... Ds, index_t NewFirst>
struct replace_first<shape<D, Ds...>, NewFirst> {
    using type = shape<NewFirst, Ds...>;
};

template <class S, index_t NewLast>
struct replace_last;
template <index_t D0, index_t NewLast>
struct replace_last<shape<D0>, NewLast> {
    using type = shape<NewLast>;
};
template <index_t D0, index_t D1, index_t NewLast>
struct replace_last<shape<D0, D1>, NewLast> {
    using type = shape<D0, NewLast>;
};
template <index_t D0, index_t D1, index_t D2, index_t NewLast>
struct replace_last<shape<D0, D1, D2>, NewLast> {
    using type = shape<D0, D1, NewLast>;
};
template <index_t D0, index_t D1, index_t D2, index_t D3, index_t NewLast>
struct replace_last<shape<D0, D1, D2, D3>, NewLast> {
    using type = shape<D0, D1, D2, NewLast>;
};

} // namespace detail

/// `S` without its first dimension (the shape of `t[i]`).
template <tensor_shape S>
using drop_first_t = typename detail::drop_first<S>::type;

/// `S` with its first dimension replaced (a row range keeps the row width).
template <tensor_shape S, index_t NewFirst>
using replace_first_t = typename detail::replace_first<S, NewFirst>::type;

/// `S` with its last dimension replaced (a column block keeps the row count).
template <tensor_shape S, index_t NewLast>
using replace_last_t = typename detail::replace_last<S, NewLast>::type;

/// The static extent of dimension I of shape S (or `dyn`).
template <tensor_shape S, index_t I>
inline constexpr index_t static_extent_v = S::static_extents[I];

} // namespace ctt
