// libFuzzer target: any bytes as a safetensors file read in place (`from_buffer`), then every
// accessor on every tensor it declares. A file is either refused with `io_error` or every read
// of it stays inside the buffer; any other exception, a crash or a sanitizer report is a bug.
#include <ctt/io/safetensors.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace {

template <class F>
void either_reads_or_refuses(F&& read) {
    try {
        read();
    } catch (const ctt::io_error&) {
    }
}

void read_every_way(const ctt::safetensors_file& f, const std::string& name) {
    using ctt::dyn;
    using ctt::shape;
    const ctt::tensor_info& t = f.info(name);
    // Every declared range lies inside the buffer: touch its first and last bytes.
    const auto raw = f.raw_bytes(name);
    volatile std::byte sink{};
    if (!raw.empty()) {
        sink = raw.front();
        sink = raw.back();
    }
    (void)sink;
    either_reads_or_refuses([&] { (void)f.load_floats(name); });
    either_reads_or_refuses([&] { (void)f.load_ints(name); });
    either_reads_or_refuses([&] { (void)f.load_vector<double>(name); });
    either_reads_or_refuses([&] { (void)f.load_vector<std::uint8_t>(name); });
    either_reads_or_refuses([&] { (void)f.load_vector<std::int64_t>(name); });
    either_reads_or_refuses([&] { (void)f.load<float, shape<dyn>>(name); });
    either_reads_or_refuses([&] { (void)f.load<float, shape<dyn, dyn>>(name); });
    either_reads_or_refuses([&] { (void)f.load<std::int32_t, shape<dyn, 2>>(name); });
    if (t.shape.size() == 2 && t.element_count() > 0) {
        // A strided destination: the tensor as the left columns of a wider matrix.
        ctt::tensor<float, shape<dyn, dyn>> wide(shape<dyn, dyn>(t.shape[0], t.shape[1] + 3));
        either_reads_or_refuses([&] { f.read_into(name, wide.view().cols(0, t.shape[1])); });
    }
    f.release_pages(name);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
    try {
        const auto f = ctt::safetensors_file::from_buffer(bytes, "fuzz");
        (void)f.metadata();
        for (const std::string& name : f.names()) {
            read_every_way(f, name);
        }
        either_reads_or_refuses([&] { (void)f.info("no such tensor"); });
    } catch (const ctt::io_error&) {
    }
    return 0;
}
