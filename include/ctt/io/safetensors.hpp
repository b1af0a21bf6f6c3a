#pragma once
/**
 * @file
 * @brief A memory-mapped, fully validated reader of the safetensors format
 *        (https://github.com/huggingface/safetensors, "Format" section).
 *
 * Layout: an 8-byte little-endian `u64` N, then N bytes of JSON header, then the byte buffer.
 * The header maps each tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}`
 * (offsets relative to the byte buffer) and may hold a `"__metadata__"` object of strings.
 *
 * Every inconsistency of a file (truncation, bad JSON, unknown dtype, a shape whose byte size
 * overflows or disagrees with its offsets, ranges past the buffer or overlapping) is reported
 * as a `ctt::io_error` naming the file and the tensor, when the file is opened. Reading then
 * only checks the destination: its shape, and that the stored values fit its element type.
 */

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctt/core/errors.hpp"
#include "ctt/core/shape.hpp"
#include "ctt/core/tensor.hpp"
#include "ctt/core/tensor_view.hpp"
#include "ctt/io/detail/mapped_file.hpp"
#include "ctt/io/half.hpp"
#include "ctt/io/json_limits.hpp"

namespace ctt {

/// Element types of the safetensors format that ctt reads.
enum class dtype : std::uint8_t { f64, f32, f16, bf16, i64, i32, i16, i8, u8, boolean };

/// Bytes per element of `t`.
[[nodiscard]] constexpr std::size_t dtype_size(dtype t) noexcept {
    switch (t) {
    case dtype::f64:
    case dtype::i64:
        return 8;
    case dtype::f32:
    case dtype::i32:
        return 4;
    case dtype::f16:
    case dtype::bf16:
    case dtype::i16:
        return 2;
    case dtype::i8:
    case dtype::u8:
    case dtype::boolean:
        return 1;
    }
    return 0;
}

/// The name of `t` in a safetensors header ("F32", "BF16", "BOOL", ...).
[[nodiscard]] constexpr std::string_view dtype_name(dtype t) noexcept {
    switch (t) {
    case dtype::f64:
        return "F64";
    case dtype::f32:
        return "F32";
    case dtype::f16:
        return "F16";
    case dtype::bf16:
        return "BF16";
    case dtype::i64:
        return "I64";
    case dtype::i32:
        return "I32";
    case dtype::i16:
        return "I16";
    case dtype::i8:
        return "I8";
    case dtype::u8:
        return "U8";
    case dtype::boolean:
        return "BOOL";
    }
    return "?";
}

/// The dtype a safetensors header names, or nothing for a name ctt does not read.
[[nodiscard]] constexpr std::optional<dtype> dtype_from_name(std::string_view name) noexcept {
    constexpr std::array all{dtype::f64, dtype::f32, dtype::f16, dtype::bf16, dtype::i64,
                             dtype::i32, dtype::i16, dtype::i8,  dtype::u8,   dtype::boolean};
    for (dtype t : all) {
        if (dtype_name(t) == name) {
            return t;
        }
    }
    return std::nullopt;
}

/// True for the dtypes that load into floating-point destinations.
[[nodiscard]] constexpr bool is_floating(dtype t) noexcept {
    return t == dtype::f64 || t == dtype::f32 || t == dtype::f16 || t == dtype::bf16;
}

/// What the header says about one tensor (already validated).
struct tensor_info {
    /// Element type as stored.
    dtype type = dtype::f32;
    /// Extents, outermost first; empty for a scalar.
    std::vector<index_t> shape;
    /// Byte range `[begin, end)` within the byte buffer that follows the header.
    std::size_t begin = 0;
    std::size_t end = 0;

    /// Number of elements (1 for a scalar).
    [[nodiscard]] index_t element_count() const noexcept {
        index_t n = 1;
        for (index_t e : shape) {
            n *= e;
        }
        return n;
    }
    [[nodiscard]] std::size_t byte_size() const noexcept { return end - begin; }
};

namespace detail {

/// `'name'`, cut short so that a hostile header cannot make a message huge.
inline std::string quote_name(std::string_view name) {
    constexpr std::size_t longest = 120;
    std::string out = "'";
    out.append(name.substr(0, longest));
    if (name.size() > longest) {
        out += "...";
    }
    out += '\'';
    return out;
}

template <class Range>
std::string shape_string(const Range& extents) {
    std::string out = "[";
    bool first = true;
    for (auto e : extents) {
        if (!first) {
            out += ", ";
        }
        first = false;
        if constexpr (std::is_convertible_v<decltype(e), std::string_view>) {
            out += e;
        } else {
            out += std::to_string(e);
        }
    }
    return out + "]";
}

/// Reads an unsigned little-endian integer of `sizeof(U)` bytes, whatever the host's byte order.
template <class U>
[[nodiscard]] inline U read_le(const std::byte* p) noexcept {
    U value = 0;
    for (std::size_t i = 0; i < sizeof(U); ++i) {
        value |= static_cast<U>(std::to_integer<U>(p[i]) << (8 * i));
    }
    return value;
}

/// Widens a double to float; magnitudes past float's range become infinities as in IEEE 754
/// (the C++ conversion would be undefined there).
[[nodiscard]] inline float narrow_to_float(double d) noexcept {
    // FLT_MAX plus half its unit in the last place: from here on, rounding gives infinity.
    constexpr double overflow = static_cast<double>(std::numeric_limits<float>::max()) + 0x1p103;
    if (d >= overflow) {
        return std::numeric_limits<float>::infinity();
    }
    if (d <= -overflow) {
        return -std::numeric_limits<float>::infinity();
    }
    return static_cast<float>(d);
}

/**
 * Converts `count` stored elements at `src` into `dst`. For integer destinations a value that
 * does not fit (or a BOOL byte other than 0/1) calls `bad(element, value)`, which throws.
 */
template <class T, class OnBad>
void convert_elements(dtype type, const std::byte* src, std::size_t count, T* dst,
                      std::size_t first_element, OnBad&& bad) {
    const std::size_t step = dtype_size(type);
    if constexpr (std::is_floating_point_v<T>) {
        // One loop per stored type (the switch outside): a float checkpoint on a little-endian
        // host is a plain copy, and the 16-bit widenings vectorise.
        switch (type) {
        case dtype::f64:
            for (std::size_t i = 0; i < count; ++i, src += step) {
                const double d = std::bit_cast<double>(read_le<std::uint64_t>(src));
                if constexpr (std::is_same_v<T, float>) {
                    dst[i] = narrow_to_float(d);
                } else {
                    dst[i] = static_cast<T>(d);
                }
            }
            break;
        case dtype::f32:
            if constexpr (std::is_same_v<T, float> && std::endian::native == std::endian::little) {
                if (count != 0) { // an empty vector's data() may be null: memcpy's UB
                    std::memcpy(dst, src, count * sizeof(float));
                }
            } else {
                for (std::size_t i = 0; i < count; ++i, src += step) {
                    dst[i] = static_cast<T>(std::bit_cast<float>(read_le<std::uint32_t>(src)));
                }
            }
            break;
        case dtype::f16:
            for (std::size_t i = 0; i < count; ++i, src += step) {
                dst[i] = static_cast<T>(fp16_to_float(read_le<std::uint16_t>(src)));
            }
            break;
        case dtype::bf16:
            for (std::size_t i = 0; i < count; ++i, src += step) {
                dst[i] = static_cast<T>(bf16_to_float(read_le<std::uint16_t>(src)));
            }
            break;
        default:
            break; // excluded by the caller
        }
    } else {
        for (std::size_t i = 0; i < count; ++i, src += step) {
            std::int64_t v = 0;
            switch (type) {
            case dtype::i64:
                v = static_cast<std::int64_t>(read_le<std::uint64_t>(src));
                break;
            case dtype::i32:
                v = static_cast<std::int32_t>(read_le<std::uint32_t>(src));
                break;
            case dtype::i16:
                v = static_cast<std::int16_t>(read_le<std::uint16_t>(src));
                break;
            case dtype::i8:
                v = static_cast<std::int8_t>(read_le<std::uint8_t>(src));
                break;
            case dtype::u8:
                v = read_le<std::uint8_t>(src);
                break;
            case dtype::boolean:
                v = read_le<std::uint8_t>(src);
                if (v > 1) {
                    bad(first_element + i, v);
                }
                break;
            default:
                break; // excluded by the caller
            }
            if (!std::in_range<T>(v)) {
                bad(first_element + i, v);
            }
            dst[i] = static_cast<T>(v);
        }
    }
}

} // namespace detail

/**
 * @brief A safetensors file, memory-mapped read-only (or held in memory, copied or the caller's
 *        buffer read in place), with its header
 *        parsed and validated on construction. Move-only; reads are `const` and thread-safe.
 *
 * @code
 * auto f = ctt::safetensors_file::open("model.safetensors");
 * auto wte = f.load<float>("wte.weight", ctt::shape<256, 64>{});
 * f.read_into("h.0.ln_1.weight", layer.ln1.view());
 * @endcode
 */
class safetensors_file {
public:
    /// Headers longer than this are refused (the reference implementation uses the same bound).
    static constexpr std::uint64_t max_header_bytes = 100'000'000;
    /// Longest string of a header (a tensor name, a dtype, a metadata key or value).
    static constexpr std::size_t max_string_bytes = 1u << 16;

    /// Maps and validates the file at `path`.
    [[nodiscard]] static safetensors_file open(const std::filesystem::path& path) {
        safetensors_file f;
        f.source_ = path.string();
        f.storage_ = std::make_shared<storage_type>(detail::mapped_file(path));
        f.parse();
        return f;
    }

    /// Validates a file held in memory; `label` stands for the file name in messages.
    [[nodiscard]] static safetensors_file from_bytes(std::vector<std::byte> bytes,
                                                     std::string label = "<memory>") {
        safetensors_file f;
        f.source_ = std::move(label);
        f.storage_ = std::make_shared<storage_type>(std::move(bytes));
        f.parse();
        return f;
    }

    /// Copies `bytes` and validates them.
    [[nodiscard]] static safetensors_file from_bytes(std::span<const std::byte> bytes,
                                                     std::string label = "<memory>") {
        return from_bytes(std::vector<std::byte>(bytes.begin(), bytes.end()), std::move(label));
    }

    /**
     * @brief Validates a file that the caller holds in memory (weights embedded in a program,
     *        received over a network) and reads it in place, without a copy.
     *
     * The validation is the one of `open`: nothing is allocated from the header before its
     * length is checked against `bytes.size()`. `bytes` must outlive the returned object and
     * every view of it.
     */
    [[nodiscard]] static safetensors_file from_buffer(std::span<const std::byte> bytes,
                                                      std::string label = "<memory>") {
        safetensors_file f;
        f.source_ = std::move(label);
        f.storage_ = std::make_shared<storage_type>(bytes);
        f.parse();
        return f;
    }

    safetensors_file(safetensors_file&&) noexcept = default;
    safetensors_file& operator=(safetensors_file&&) noexcept = default;
    safetensors_file(const safetensors_file&) = delete;
    safetensors_file& operator=(const safetensors_file&) = delete;
    ~safetensors_file() = default;

    /// The path (or label) the file was opened from.
    [[nodiscard]] const std::string& source() const noexcept { return source_; }

    /// Number of tensors.
    [[nodiscard]] std::size_t size() const noexcept { return tensors_.size(); }

    [[nodiscard]] bool contains(std::string_view name) const { return tensors_.contains(name); }

    /// Tensor names in lexicographic order.
    [[nodiscard]] std::vector<std::string> names() const {
        std::vector<std::string> out;
        out.reserve(tensors_.size());
        for (const auto& [name, info] : tensors_) {
            out.push_back(name);
        }
        return out;
    }

    /// The header entry of `name`; throws `io_error` when there is none.
    [[nodiscard]] const tensor_info& info(std::string_view name) const {
        const auto it = tensors_.find(name);
        if (it == tensors_.end()) {
            fail("no tensor named " + detail::quote_name(name));
        }
        return it->second;
    }

    /// Lets the system reclaim the memory of tensor `name`'s bytes in a mapped file (a copy has
    /// been taken); reading them again faults them back in. No effect for files in memory.
    void release_pages(std::string_view name) const {
        if (const auto* m = std::get_if<detail::mapped_file>(storage_.get())) {
            m->drop(raw_bytes(name));
        }
    }

    /**
     * @brief Shared ownership of the file's bytes (the mapping, or the copy `from_bytes` took),
     *        for an object that reads tensors in place (`raw_bytes`) and may outlive this one
     *        (a model loaded with `weight_binding::in_place`). Empty for `from_buffer`, whose
     *        bytes the caller owns.
     */
    [[nodiscard]] std::shared_ptr<const void> keep_alive() const noexcept {
        if (std::holds_alternative<std::span<const std::byte>>(*storage_)) {
            return nullptr;
        }
        return storage_;
    }

    /// The `__metadata__` strings (empty when the header has none).
    [[nodiscard]] const std::map<std::string, std::string>& metadata() const noexcept {
        return metadata_;
    }

    /// The stored bytes of `name`, as they are in the file.
    [[nodiscard]] std::span<const std::byte> raw_bytes(std::string_view name) const {
        const tensor_info& t = info(name);
        return buffer().subspan(t.begin, t.byte_size());
    }

    /**
     * @brief Copies tensor `name` into `dst`, converting its dtype: F64/F32/F16/BF16 into a
     *        floating-point `T`, I64/I32/I16/I8/U8/BOOL into an integral `T` (range-checked).
     *
     * `dst` may be strided (rows of a larger matrix). Its rank and every extent must equal the
     * stored shape (a scalar reads into a `[1]` view); otherwise `io_error` names the tensor and
     * both shapes.
     */
    template <class T, tensor_shape S>
    void read_into(std::string_view name, tensor_view<T, S> dst) const {
        static_assert(!std::is_const_v<T>, "safetensors: read_into needs a mutable view");
        static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>,
                      "safetensors: destinations are floating-point or integer views");
        const tensor_info& t = info(name);
        check_convertible<T>(name, t);
        const auto extents = dst.shape().extents();
        // A scalar (shape []) reads into a one-element destination of shape [1].
        const bool scalar_into_one = t.shape.empty() && S::rank == 1 && extents[0] == 1;
        if (!scalar_into_one && (t.shape.size() != S::rank ||
                                 !std::equal(extents.begin(), extents.end(), t.shape.begin()))) {
            fail("tensor " + detail::quote_name(name) + " has shape " +
                 detail::shape_string(t.shape) + " but the destination has shape " +
                 detail::shape_string(extents));
        }
        const std::size_t cols = dst.cols();
        const std::size_t count = t.element_count();
        if (count == 0) {
            return;
        }
        const std::byte* src = buffer().data() + t.begin;
        const std::size_t step = dtype_size(t.type);
        const auto bad = bad_value_reporter(name, t);
        if (dst.is_contiguous()) {
            detail::convert_elements(t.type, src, count, dst.data(), 0, bad);
            return;
        }
        for (std::size_t r = 0; r < count / cols; ++r) {
            // Offset of row r: split r into the indices of the outer dimensions.
            std::size_t rest = r;
            std::size_t offset = 0;
            for (std::size_t d = S::rank - 1; d-- > 0;) {
                offset += (rest % dst.extent(d)) * dst.stride(d);
                rest /= dst.extent(d);
            }
            detail::convert_elements(t.type, src + r * cols * step, cols, dst.data() + offset,
                                     r * cols, bad);
        }
    }

    /// Copies tensor `name` into an owning tensor (same checks as for a view).
    template <class T, tensor_shape S>
    void read_into(std::string_view name, tensor<T, S>& dst) const {
        read_into(name, dst.view());
    }

    /// Loads tensor `name` into a new tensor of shape `s` (which must equal the stored shape).
    template <class T, tensor_shape S>
    [[nodiscard]] tensor<T, S> load(std::string_view name, S s) const {
        tensor<T, S> out(s);
        read_into(name, out.view());
        return out;
    }

    /// Loads tensor `name`, taking runtime extents of `S` from the file; static ones must match.
    template <class T, tensor_shape S>
    [[nodiscard]] tensor<T, S> load(std::string_view name) const {
        const tensor_info& t = info(name);
        std::array<index_t, S::rank> extents{};
        bool agree = t.shape.size() == S::rank;
        for (index_t d = 0; agree && d < S::rank; ++d) {
            extents[d] = t.shape[d];
            agree = S::static_extents[d] == dyn || S::static_extents[d] == t.shape[d];
        }
        if (!agree) {
            std::vector<std::string> wanted;
            for (index_t e : S::static_extents) {
                wanted.push_back(e == dyn ? "dyn" : std::to_string(e));
            }
            fail("tensor " + detail::quote_name(name) + " has shape " +
                 detail::shape_string(t.shape) + " but the destination has shape " +
                 detail::shape_string(wanted));
        }
        return load<T>(name, S::from_extents(extents));
    }

    /// All elements of `name`, flattened, converted to `T` (any rank, scalars included).
    template <class T>
    [[nodiscard]] std::vector<T> load_vector(std::string_view name) const {
        static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>,
                      "safetensors: destinations are floating-point or integer vectors");
        const tensor_info& t = info(name);
        check_convertible<T>(name, t);
        std::vector<T> out(t.element_count());
        detail::convert_elements(t.type, buffer().data() + t.begin, out.size(), out.data(), 0,
                                 bad_value_reporter(name, t));
        return out;
    }

    /// All elements of a floating-point tensor as floats.
    [[nodiscard]] std::vector<float> load_floats(std::string_view name) const {
        return load_vector<float>(name);
    }

    /// All elements of an integer (or BOOL) tensor as int32; values outside int32 throw.
    [[nodiscard]] std::vector<std::int32_t> load_ints(std::string_view name) const {
        return load_vector<std::int32_t>(name);
    }

private:
    safetensors_file() = default;

    [[noreturn]] void fail(const std::string& what) const {
        throw io_error("safetensors: " + what + " in " + source_);
    }

    [[nodiscard]] std::span<const std::byte> file_bytes() const noexcept {
        if (const auto* m = std::get_if<detail::mapped_file>(storage_.get())) {
            return m->bytes();
        }
        if (const auto* caller = std::get_if<std::span<const std::byte>>(storage_.get())) {
            return *caller;
        }
        return std::get<std::vector<std::byte>>(*storage_);
    }

    /// The byte buffer after the header; tensor offsets are relative to its start.
    [[nodiscard]] std::span<const std::byte> buffer() const noexcept {
        return file_bytes().subspan(buffer_start_);
    }

    template <class T>
    void check_convertible(std::string_view name, const tensor_info& t) const {
        if (is_floating(t.type) != std::is_floating_point_v<T>) {
            fail("tensor " + detail::quote_name(name) + " has dtype " +
                 std::string(dtype_name(t.type)) + ", which does not load into " +
                 (std::is_floating_point_v<T> ? "a floating-point" : "an integer") +
                 " destination");
        }
    }

    /// Throws for a stored value that the destination type cannot hold.
    struct value_reporter {
        const safetensors_file* file;
        std::string_view name;
        dtype type;
        [[noreturn]] void operator()(std::size_t element, std::int64_t value) const {
            file->fail("tensor " + detail::quote_name(name) + " (" + std::string(dtype_name(type)) +
                       ") holds " + std::to_string(value) + " at element " +
                       std::to_string(element) + ", which the destination type cannot represent");
        }
    };

    [[nodiscard]] value_reporter bad_value_reporter(std::string_view name,
                                                    const tensor_info& t) const {
        return {this, name, t.type};
    }

    void parse();
    void parse_entry(const std::string& name, const nlohmann::json& entry, std::size_t buffer_size);
    [[nodiscard]] std::uint64_t unsigned_field(const std::string& name, const char* field,
                                               const nlohmann::json& v) const;

    using storage_type =
        std::variant<detail::mapped_file, std::vector<std::byte>, std::span<const std::byte>>;
    /// Shared with every model that reads tensors in place (`keep_alive`).
    std::shared_ptr<const storage_type> storage_;
    std::string source_;
    std::size_t buffer_start_ = 0;
    std::map<std::string, tensor_info, std::less<>> tensors_;
    std::map<std::string, std::string> metadata_;
};

inline void safetensors_file::parse() {
    const std::span<const std::byte> bytes = file_bytes();
    if (bytes.size() < 8) {
        fail(detail::message("file is ", std::to_string(bytes.size()),
                             " bytes long, shorter than the 8-byte header length"));
    }
    const std::uint64_t header_length = detail::read_le<std::uint64_t>(bytes.data());
    if (header_length > max_header_bytes) {
        fail(detail::message("header length ", std::to_string(header_length),
                             " exceeds the limit of ", std::to_string(max_header_bytes), " bytes"));
    }
    if (header_length > bytes.size() - 8) {
        fail(detail::message("header length ", std::to_string(header_length),
                             " runs past the end of the file (", std::to_string(bytes.size()),
                             " bytes)"));
    }
    buffer_start_ = 8 + static_cast<std::size_t>(header_length);
    const auto* text = reinterpret_cast<const char*>(bytes.data() + 8); // NOLINT

    // A valid header nests three levels (root, entry, shape); anything deeper is refused early.
    // Duplicate keys are refused too: JSON leaves their meaning open, so the file is ambiguous.
    // No string (a tensor name, a dtype, a metadata value) may exceed max_string_bytes.
    nlohmann::json header;
    try {
        header = parse_json_within(std::string_view(text, static_cast<std::size_t>(header_length)),
                                   {.max_bytes = max_header_bytes,
                                    .max_depth = 8,
                                    .max_string_bytes = max_string_bytes,
                                    .unique_keys = true},
                                   "header");
    } catch (const io_error& e) {
        fail(e.what());
    }
    if (!header.is_object()) {
        fail("header is not a JSON object");
    }

    const std::size_t buffer_size = bytes.size() - buffer_start_;
    for (const auto& [name, entry] : header.items()) {
        if (name == "__metadata__") {
            if (!entry.is_object()) {
                fail("__metadata__ is not an object");
            }
            for (const auto& [key, value] : entry.items()) {
                if (!value.is_string()) {
                    fail("__metadata__ entry " + detail::quote_name(key) + " is not a string");
                }
                metadata_.emplace(key, value.get<std::string>());
            }
        } else {
            parse_entry(name, entry, buffer_size);
        }
    }

    // Ranges must not overlap: sweep them by start, remembering the furthest end so far.
    // Empty tensors occupy no bytes and cannot overlap anything.
    std::vector<std::pair<const std::string*, const tensor_info*>> by_start;
    for (const auto& [name, t] : tensors_) {
        if (t.begin != t.end) {
            by_start.emplace_back(&name, &t);
        }
    }
    std::sort(by_start.begin(), by_start.end(), [](const auto& a, const auto& b) {
        return std::pair(a.second->begin, a.second->end) <
               std::pair(b.second->begin, b.second->end);
    });
    for (std::size_t i = 1, furthest = 0; i < by_start.size(); ++i) {
        if (by_start[i - 1].second->end > by_start[furthest].second->end) {
            furthest = i - 1;
        }
        const tensor_info& previous = *by_start[furthest].second;
        const tensor_info& current = *by_start[i].second;
        if (current.begin < previous.end) {
            fail("tensors " + detail::quote_name(*by_start[furthest].first) + " [" +
                 std::to_string(previous.begin) + ", " + std::to_string(previous.end) + ") and " +
                 detail::quote_name(*by_start[i].first) + " [" + std::to_string(current.begin) +
                 ", " + std::to_string(current.end) + ") overlap");
        }
    }
}

inline std::uint64_t safetensors_file::unsigned_field(const std::string& name, const char* field,
                                                      const nlohmann::json& v) const {
    if (v.is_number_unsigned()) {
        return v.get<std::uint64_t>();
    }
    const char* why = v.is_number_integer() ? "is negative"
                      : v.is_number()       ? "is not an integer (or exceeds 64 bits)"
                                            : "is not a number";
    std::string shown = v.dump();
    if (shown.size() > 40) {
        shown = shown.substr(0, 40) + "...";
    }
    fail("tensor " + detail::quote_name(name) + ": " + field + " entry " + shown + " " + why);
}

inline void safetensors_file::parse_entry(const std::string& name, const nlohmann::json& entry,
                                          std::size_t buffer_size) {
    const std::string quoted = detail::quote_name(name);
    if (!entry.is_object()) {
        fail("entry " + quoted + " is not an object");
    }
    const auto type_it = entry.find("dtype");
    if (type_it == entry.end() || !type_it->is_string()) {
        fail("tensor " + quoted + " has no dtype string");
    }
    const auto& type_name = type_it->get_ref<const std::string&>();
    const std::optional<dtype> type = dtype_from_name(type_name);
    if (!type) {
        fail("tensor " + quoted + " has unknown dtype " + detail::quote_name(type_name));
    }

    const auto shape_it = entry.find("shape");
    if (shape_it == entry.end() || !shape_it->is_array()) {
        fail("tensor " + quoted + " has no shape array");
    }
    tensor_info t;
    t.type = *type;
    t.shape.reserve(shape_it->size());
    // Count elements and bytes with overflow checks; a zero extent makes the count 0 whatever
    // the other extents are, so it is found before multiplying.
    constexpr std::uint64_t limit = std::numeric_limits<std::size_t>::max();
    bool empty = false;
    for (const auto& dim : *shape_it) {
        const std::uint64_t e = unsigned_field(name, "shape", dim);
        if (e > limit) {
            fail("tensor " + quoted + ": extent " + std::to_string(e) + " is too large");
        }
        empty = empty || e == 0;
        t.shape.push_back(static_cast<index_t>(e));
    }
    std::size_t bytes = 0;
    if (!empty) {
        bytes = dtype_size(t.type);
        for (index_t e : t.shape) {
            if (bytes > limit / e) {
                fail("tensor " + quoted + ": shape " + detail::shape_string(t.shape) +
                     " overflows the address space");
            }
            bytes *= e;
        }
    }

    const auto offsets_it = entry.find("data_offsets");
    if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2) {
        fail("tensor " + quoted + " has no data_offsets pair [begin, end]");
    }
    const std::uint64_t begin = unsigned_field(name, "data_offsets", (*offsets_it)[0]);
    const std::uint64_t end = unsigned_field(name, "data_offsets", (*offsets_it)[1]);
    const std::string range =
        detail::message("[", std::to_string(begin), ", ", std::to_string(end), "]");
    if (begin > end) {
        fail("tensor " + quoted + ": data_offsets " + range + " end before they begin");
    }
    if (end > buffer_size) {
        fail("tensor " + quoted + ": data_offsets " + range + " run past the byte buffer (" +
             std::to_string(buffer_size) + " bytes)");
    }
    if (end - begin != bytes) {
        fail("tensor " + quoted + ": data_offsets " + range + " hold " +
             std::to_string(end - begin) + " bytes but shape " + detail::shape_string(t.shape) +
             " of " + std::string(dtype_name(t.type)) + " needs " + std::to_string(bytes));
    }
    t.begin = static_cast<std::size_t>(begin);
    t.end = static_cast<std::size_t>(end);
    tensors_.emplace(name, std::move(t));
}

} // namespace ctt
