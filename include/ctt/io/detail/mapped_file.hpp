#pragma once
/**
 * @file
 * @brief A read-only memory mapping of a whole file, released on destruction (POSIX `mmap`).
 *        Where `mmap` is unavailable the file is read into memory instead.
 */

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "ctt/core/errors.hpp"

#if __has_include(<sys/mman.h>) && __has_include(<unistd.h>)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define CTT_IO_HAVE_MMAP 1
#else
#include <fstream>
#include <iterator>
#define CTT_IO_HAVE_MMAP 0
#endif

namespace ctt::detail {

/// Owns a read-only view of a file's bytes. Move-only.
class mapped_file {
public:
    mapped_file() noexcept = default;

    /// Maps `path`; throws `io_error` naming the file and the system's reason on failure.
    explicit mapped_file(const std::filesystem::path& path) {
#if CTT_IO_HAVE_MMAP
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fail(path, "cannot open");
        }
        struct ::stat st {};
        if (::fstat(fd, &st) != 0) {
            const int err = errno;
            ::close(fd);
            errno = err;
            fail(path, "cannot stat");
        }
        if (!S_ISREG(st.st_mode)) {
            ::close(fd);
            throw io_error("cannot read " + path.string() + ": not a regular file");
        }
        size_ = static_cast<std::size_t>(st.st_size);
        if (size_ > 0) { // mmap rejects an empty length; an empty file maps to nothing.
            void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                const int err = errno;
                ::close(fd);
                errno = err;
                fail(path, "cannot map");
            }
            data_ = static_cast<const std::byte*>(p);
        }
        ::close(fd); // the mapping keeps the file alive
#else
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            throw io_error("cannot open " + path.string());
        }
        std::vector<char> chars((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
        fallback_.resize(chars.size());
        std::memcpy(fallback_.data(), chars.data(), chars.size());
        data_ = fallback_.data();
        size_ = fallback_.size();
#endif
    }

    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;
    mapped_file(mapped_file&& other) noexcept
        : data_(std::exchange(other.data_, nullptr))
        , size_(std::exchange(other.size_, 0))
#if !CTT_IO_HAVE_MMAP
        , fallback_(std::move(other.fallback_))
#endif
    {
    }
    mapped_file& operator=(mapped_file&& other) noexcept {
        if (this != &other) {
            release();
            data_ = std::exchange(other.data_, nullptr);
            size_ = std::exchange(other.size_, 0);
#if !CTT_IO_HAVE_MMAP
            fallback_ = std::move(other.fallback_);
#endif
        }
        return *this;
    }
    ~mapped_file() {
        release();
    }

    [[nodiscard]] std::span<const std::byte> bytes() const noexcept {
        return {data_, size_};
    }

    /**
     * @brief Hands the pages wholly inside `range` back to the system (they stay in the page
     *        cache and fault in again if read): a loader that has copied a tensor out keeps the
     *        process's resident memory at the model's size, not the model's plus the file's.
     */
    void drop(std::span<const std::byte> range) const noexcept {
#if CTT_IO_HAVE_MMAP
        const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
        const auto begin = reinterpret_cast<std::uintptr_t>(range.data());
        const auto end = begin + range.size();
        const std::uintptr_t first = (begin + page - 1) / page * page;
        const std::uintptr_t last = end / page * page;
        if (data_ != nullptr && last > first) {
            // Advice only: a failure leaves the pages resident, which is harmless.
            (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED); // NOLINT
        }
#else
        (void)range;
#endif
    }

private:
    [[noreturn]] static void fail(const std::filesystem::path& path, const char* what) {
        const int err = errno;
        throw io_error(std::string(what) + " " + path.string() + ": " +
                       std::generic_category().message(err));
    }

    void release() noexcept {
#if CTT_IO_HAVE_MMAP
        if (data_ != nullptr) {
            // The const_cast only hands back the address mmap returned.
            ::munmap(const_cast<std::byte*>(data_), size_); // NOLINT
        }
#endif
        data_ = nullptr;
        size_ = 0;
    }

    const std::byte* data_ = nullptr;
    std::size_t size_ = 0;
#if !CTT_IO_HAVE_MMAP
    std::vector<std::byte> fallback_;
#endif
};

} // namespace ctt::detail
