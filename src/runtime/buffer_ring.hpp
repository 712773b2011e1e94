#pragma once
// buffer_ring: a provided-buffer ring registered with one io_uring. Receives pick a buffer
// in the kernel (IOSQE_BUFFER_SELECT), so an idle connection holds no memory; the data
// comes back as a buffer_lease, a move-only handle that returns its slot to the ring when
// destroyed. All buffers are allocated once at start-up. Owned by the reactor's thread:
// leases must be destroyed on that thread.

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

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

    // Called by the reactor when a CQE carries IORING_CQE_F_BUFFER.
    buffer_lease adopt(std::uint16_t id, std::uint32_t length) noexcept {
        ++leased_;
        return buffer_lease{this, id, length};
    }
    const char* data(std::uint16_t id) const noexcept {
        return storage_.get() + std::size_t{id} * buffer_size_;
    }

    // A receive that got -ENOBUFS parks here until some lease comes back (STYLE.md: hold
    // the re-arm until buffers return). Waiters are scheduled, never resumed inline.
    struct available_awaiter {
        buffer_ring* ring_;
        bool await_ready() const noexcept { return ring_->leased_ < ring_->count_; }
        void await_suspend(std::coroutine_handle<> waiter) { ring_->waiters_.push_back(waiter); }
        void await_resume() const noexcept {}
    };
    available_awaiter buffers_available() noexcept { return {this}; }

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
    std::vector<std::coroutine_handle<>> waiters_;
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
