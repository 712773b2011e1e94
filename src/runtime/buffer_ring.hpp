#pragma once
// buffer_ring: a provided-buffer ring registered with one io_uring. Receives pick a buffer
// in the kernel (IOSQE_BUFFER_SELECT), so an idle connection holds no memory; the data
// comes back as a buffer_lease, a move-only handle that returns its slot to the ring when
// destroyed. The buffers are allocated once at start-up (pages are touched only as the
// kernel fills them). Owned by the reactor's thread: leases must be destroyed on that
// thread.
//
// When every buffer is leased, a receive ends with -ENOBUFS and its owner waits for one to
// come back (runtime::receive_some does, through runtime::buffer_wait_op): waiters queue
// here in FIFO order, and each returned buffer wakes the first of them. The wait itself is
// a kernel timer, so it keeps the receive's deadline and can be cancelled like any other
// operation (docs/design.md, "Coroutines and the ring").

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>

#include "runtime/completion.hpp"

struct io_uring;
struct io_uring_buf_ring;

namespace runtime {

class buffer_ring;

class buffer_lease {
public:
    buffer_lease() noexcept = default;
    buffer_lease(buffer_ring* owner, std::uint16_t id, std::uint32_t length) noexcept
        : owner_(owner), id_(id), length_(length) {}
    buffer_lease(buffer_lease&& other) noexcept
        : owner_(std::exchange(other.owner_, nullptr)), id_(other.id_), length_(other.length_) {}
    buffer_lease& operator=(buffer_lease&& other) noexcept {
        if (this != &other) {
            release();
            owner_ = std::exchange(other.owner_, nullptr);
            id_ = other.id_;
            length_ = other.length_;
        }
        return *this;
    }
    buffer_lease(const buffer_lease&) = delete;
    buffer_lease& operator=(const buffer_lease&) = delete;
    ~buffer_lease() { release(); }

    explicit operator bool() const noexcept { return owner_ != nullptr; }
    std::string_view view() const noexcept;
    std::size_t size() const noexcept { return owner_ ? length_ : 0; }
    // Returns the slot to the ring now.
    void release() noexcept;

private:
    buffer_ring* owner_ = nullptr;
    std::uint16_t id_ = 0;
    std::uint32_t length_ = 0;
};

// One receive waiting for a buffer: lives in the waiting frame (inside buffer_wait_op).
struct buffer_waiter {
    completion* timer = nullptr; // the pending wait, cancelled to wake the waiter
    buffer_waiter* prev = nullptr;
    buffer_waiter* next = nullptr;
    bool queued = false;
    bool woken = false; // a buffer came back for this waiter
};

class buffer_ring {
public:
    // count must be a power of two (the kernel's ring mask), at most 32768.
    buffer_ring(io_uring& ring, std::uint16_t group_id, unsigned count, std::size_t buffer_size);
    ~buffer_ring();
    buffer_ring(const buffer_ring&) = delete;
    buffer_ring& operator=(const buffer_ring&) = delete;

    std::uint16_t group_id() const noexcept { return group_id_; }
    std::size_t buffer_size() const noexcept { return buffer_size_; }
    unsigned count() const noexcept { return count_; }
    unsigned leased() const noexcept { return leased_; }
    // Receives waiting for a buffer right now, and how many times one had to (-ENOBUFS).
    std::size_t waiting() const noexcept { return waiting_; }
    std::uint64_t exhausted() const noexcept { return exhausted_; }
    // Buffers given back so far. A receive that failed with -ENOBUFS waits only if none
    // came back since it was submitted: one that came back in between woke no waiter (the
    // receive was not queued yet), and waiting for the next would lose it.
    std::uint64_t returns() const noexcept { return returns_; }

    // Called by a receive whose CQE carries IORING_CQE_F_BUFFER.
    buffer_lease adopt(std::uint16_t id, std::uint32_t length) noexcept {
        ++leased_;
        return buffer_lease{this, id, length};
    }
    // The buffer a receive's CQE selected, when its flags say it has one (it is ours
    // whatever the result says, so it must be adopted to go back); else an empty lease.
    // `result` is the CQE's: the bytes in the buffer when positive.
    buffer_lease adopt_selected(std::uint32_t cqe_flags, int result) noexcept;
    const char* data(std::uint16_t id) const noexcept {
        return storage_.get() + std::size_t{id} * buffer_size_;
    }

    // The waiting queue (buffer_wait_op): enqueue when the wait is submitted, dequeue when
    // it completes (a no-op for a waiter a returned buffer already took off).
    void enqueue(buffer_waiter* waiter) noexcept;
    void dequeue(buffer_waiter* waiter) noexcept;

private:
    friend class buffer_lease;
    void give_back(std::uint16_t id) noexcept;

    io_uring& ring_;
    io_uring_buf_ring* shared_ = nullptr;
    std::size_t shared_bytes_ = 0;
    std::uint16_t group_id_;
    unsigned count_;
    std::size_t buffer_size_;
    unsigned leased_ = 0;
    std::unique_ptr<char[]> storage_; // not zeroed: the kernel writes before we read
    buffer_waiter* first_waiter_ = nullptr;
    buffer_waiter* last_waiter_ = nullptr;
    std::size_t waiting_ = 0;
    std::uint64_t exhausted_ = 0;
    std::uint64_t returns_ = 0;
};

inline std::string_view buffer_lease::view() const noexcept {
    return owner_ ? std::string_view{owner_->data(id_), length_} : std::string_view{};
}
inline void buffer_lease::release() noexcept {
    if (owner_ != nullptr) {
        std::exchange(owner_, nullptr)->give_back(id_);
    }
}

} // namespace runtime
