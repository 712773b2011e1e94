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

buffer_lease buffer_ring::adopt_selected(std::uint32_t cqe_flags, int result) noexcept {
    if ((cqe_flags & IORING_CQE_F_BUFFER) == 0) {
        return {};
    }
    return adopt(static_cast<std::uint16_t>(cqe_flags >> IORING_CQE_BUFFER_SHIFT),
                 result > 0 ? static_cast<std::uint32_t>(result) : 0);
}

void buffer_ring::enqueue(buffer_waiter* waiter) noexcept {
    waiter->prev = last_waiter_;
    waiter->next = nullptr;
    (last_waiter_ != nullptr ? last_waiter_->next : first_waiter_) = waiter;
    last_waiter_ = waiter;
    waiter->queued = true;
    ++waiting_;
    ++exhausted_;
}

void buffer_ring::dequeue(buffer_waiter* waiter) noexcept {
    if (!waiter->queued) {
        return;
    }
    (waiter->prev != nullptr ? waiter->prev->next : first_waiter_) = waiter->next;
    (waiter->next != nullptr ? waiter->next->prev : last_waiter_) = waiter->prev;
    waiter->prev = waiter->next = nullptr;
    waiter->queued = false;
    --waiting_;
}

void buffer_ring::give_back(std::uint16_t id) noexcept {
    io_uring_buf_ring_add(shared_, storage_.get() + std::size_t{id} * buffer_size_,
                          static_cast<unsigned>(buffer_size_), id, io_uring_buf_ring_mask(count_),
                          0);
    // The kernel sees the new tail only after this release store (liburing's advance).
    io_uring_buf_ring_advance(shared_, 1);
    --leased_;
    ++returns_;
    // One buffer, one waiter: waking every waiter for each buffer would send them all
    // back to the kernel to find, all but one, no buffer again. The wait is a kernel
    // timer; cancelling it resumes the waiter (after the CQE walk, like any completion),
    // and `woken` tells it that a buffer, not its deadline, ended the wait.
    if (buffer_waiter* first = first_waiter_) {
        dequeue(first);
        first->woken = true;
        reactor::current().cancel(first->timer);
    }
}

} // namespace runtime
