#include "runtime/buffer_ring.hpp"

#include <cerrno>
#include <cstring>
#include <string>

#include <liburing.h>
#include <sys/mman.h>

#include "runtime/reactor.hpp"
#include "runtime/startup_error.hpp"

namespace runtime {

buffer_ring::buffer_ring(io_uring& ring, std::uint16_t group_id, unsigned count,
                         std::size_t buffer_size)
    : ring_(ring), group_id_(group_id), count_(count), buffer_size_(buffer_size),
      storage_(new char[std::size_t{count} * buffer_size]) {
    if (count == 0 || count > 32768 || (count & (count - 1)) != 0) {
        throw startup_error("buffer ring: count must be a power of two up to 32768");
    }
    // The ring the kernel reads buffer addresses from must be page-aligned memory.
    shared_bytes_ = std::size_t{count} * sizeof(io_uring_buf);
    void* memory =
        mmap(nullptr, shared_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (memory == MAP_FAILED) {
        throw startup_error(std::string("buffer ring: mmap: ") + std::strerror(errno));
    }
    shared_ = static_cast<io_uring_buf_ring*>(memory);
    io_uring_buf_ring_init(shared_);

    io_uring_buf_reg registration{};
    registration.ring_addr = reinterpret_cast<std::uintptr_t>(memory);
    registration.ring_entries = count;
    registration.bgid = group_id;
    if (int rc = io_uring_register_buf_ring(&ring_, &registration, 0); rc != 0) {
        munmap(memory, shared_bytes_);
        throw startup_error(std::string("buffer ring: io_uring_register_buf_ring: ") +
                            std::strerror(-rc) + " (needs Linux 5.19 or later)");
    }
    const int mask = io_uring_buf_ring_mask(count);
    for (unsigned id = 0; id < count; ++id) {
        io_uring_buf_ring_add(shared_, storage_.get() + std::size_t{id} * buffer_size_,
                              static_cast<unsigned>(buffer_size_), static_cast<std::uint16_t>(id),
                              mask, static_cast<int>(id));
    }
    io_uring_buf_ring_advance(shared_, static_cast<int>(count));
}

buffer_ring::~buffer_ring() {
    io_uring_unregister_buf_ring(&ring_, group_id_);
    munmap(shared_, shared_bytes_);
}

void buffer_ring::give_back(std::uint16_t id) noexcept {
    io_uring_buf_ring_add(shared_, storage_.get() + std::size_t{id} * buffer_size_,
                          static_cast<unsigned>(buffer_size_), id, io_uring_buf_ring_mask(count_),
                          0);
    // The kernel sees the new tail only after this release store (liburing's advance).
    io_uring_buf_ring_advance(shared_, 1);
    --leased_;
    if (!waiters_.empty()) {
        reactor& owner = reactor::current();
        for (auto waiter : waiters_) {
            owner.schedule(waiter);
        }
        waiters_.clear();
    }
}

} // namespace runtime
