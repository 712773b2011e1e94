#pragma once
// Awaitable io_uring operations for the calling thread's reactor. Each awaitable keeps
// its completion (and any kernel-visible argument: sockaddr, timespec) inside itself, so
// inside the awaiting frame, for as long as the kernel may touch it; none allocates.
//
// Every operation returns the kernel's result, a negative errno on failure, and never
// throws. Two modifiers apply to any of them before it is awaited:
//   .with_timeout(d)  links an IORING_OP_LINK_TIMEOUT: if it fires first the operation
//                     is cancelled and the result is -ETIMEDOUT;
//   .with_cancel(&s)  lets another coroutine of this thread call s.cancel(): the
//                     operation then ends with -ECANCELED (an ordinary result).
// Either way the frame resumes only after every CQE aimed at it has been reaped.

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <span>
#include <string_view>

#include <liburing.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "runtime/buffer_ring.hpp"
#include "runtime/completion.hpp"
#include "runtime/reactor.hpp"
#include "runtime/task.hpp"

namespace runtime {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

inline __kernel_timespec to_timespec(nanoseconds duration) {
    if (duration.count() < 0) {
        duration = nanoseconds{0};
    }
    __kernel_timespec spec{};
    spec.tv_sec = static_cast<long long>(duration.count() / 1'000'000'000);
    spec.tv_nsec = static_cast<long long>(duration.count() % 1'000'000'000);
    return spec;
}

// Lets one coroutine cancel another's pending operation on the same thread.
class cancel_slot {
public:
    // Asks the kernel to cancel the pending operation, if any (fire-and-forget: the
    // operation's own CQE, -ECANCELED or its real result if it won the race, is what the
    // waiter sees).
    void cancel() noexcept;
    bool pending() const noexcept { return operation_ != nullptr; }
    // For an operation submitted outside io_operation (an armed receive): attach it while
    // it is awaited, detach once it completed.
    void attach(completion* operation) noexcept { operation_ = operation; }
    void detach() noexcept { operation_ = nullptr; }

private:
    template <typename> friend class io_operation;
    completion* operation_ = nullptr;
};

// CRTP base: Derived provides prepare(io_uring_sqe*) and finish(int result) -> value.
template <typename Derived> class io_operation {
public:
    Derived& with_timeout(nanoseconds timeout) & noexcept {
        timeout_ = to_timespec(timeout);
        has_timeout_ = true;
        return static_cast<Derived&>(*this);
    }
    Derived&& with_timeout(nanoseconds timeout) && noexcept {
        return std::move(with_timeout(timeout));
    }
    Derived& with_cancel(cancel_slot* slot) & noexcept {
        slot_ = slot;
        return static_cast<Derived&>(*this);
    }
    Derived&& with_cancel(cancel_slot* slot) && noexcept { return std::move(with_cancel(slot)); }

    bool await_ready() const noexcept { return false; }

    void await_suspend(std::coroutine_handle<> waiter) {
        reactor& loop = reactor::current();
        completion_.waiter_ = waiter;
        completion_.pending_ = has_timeout_ ? 2 : 1;
        if (has_timeout_) {
            // TRICKY: a link only holds within one submission, so the operation and its
            // timeout must not be split by a flush of a full SQ in between.
            loop.reserve_sqes(2);
        }
        io_uring_sqe* entry = loop.sqe();
        static_cast<Derived*>(this)->prepare(entry);
        io_uring_sqe_set_data64(entry, user_data_of(&completion_));
        if (has_timeout_) {
            entry->flags |= IOSQE_IO_LINK;
            io_uring_sqe* timer = loop.sqe();
            io_uring_prep_link_timeout(timer, &timeout_, 0);
            io_uring_sqe_set_data64(timer, timeout_user_data_of(&completion_));
        }
        if (slot_ != nullptr) {
            slot_->operation_ = &completion_;
        }
    }

    auto await_resume() {
        if (slot_ != nullptr) {
            slot_->operation_ = nullptr;
        }
        int result = completion_.result_;
        if (completion_.timed_out_ && result == -ECANCELED) {
            result = -ETIMEDOUT;
        }
        return static_cast<Derived*>(this)->finish(result);
    }

protected:
    completion completion_;

private:
    __kernel_timespec timeout_{};
    bool has_timeout_ = false;
    cancel_slot* slot_ = nullptr;
};

inline void cancel_slot::cancel() noexcept {
    if (operation_ == nullptr) {
        return;
    }
    operation_->cancel_requested_ = true;
    reactor::current().cancel(operation_);
}

class nop_op : public io_operation<nop_op> {
public:
    void prepare(io_uring_sqe* entry) { io_uring_prep_nop(entry); }
    int finish(int result) const noexcept { return result; }
};
inline nop_op nop() {
    return {};
}

// Completes with 0 after `duration` (or -ECANCELED when cancelled).
class sleep_op : public io_operation<sleep_op> {
public:
    explicit sleep_op(nanoseconds duration) : spec_(to_timespec(duration)) {}
    void prepare(io_uring_sqe* entry) { io_uring_prep_timeout(entry, &spec_, 0, 0); }
    int finish(int result) const noexcept { return result == -ETIME ? 0 : result; }

private:
    __kernel_timespec spec_;
};
inline sleep_op sleep_for(nanoseconds duration) {
    return sleep_op{duration};
}

class read_op : public io_operation<read_op> {
public:
    read_op(int fd, void* buffer, unsigned length) : fd_(fd), buffer_(buffer), length_(length) {}
    void prepare(io_uring_sqe* entry) { io_uring_prep_read(entry, fd_, buffer_, length_, -1); }
    int finish(int result) const noexcept { return result; }

private:
    int fd_;
    void* buffer_;
    unsigned length_;
};
inline read_op read_some(int fd, void* buffer, unsigned length) {
    return read_op{fd, buffer, length};
}

// A receive through one of the reactor's provided-buffer rings: the kernel picks the
// buffer when data arrives, so a waiting connection holds none. -ENOBUFS means every
// buffer of the ring is leased: receive_some() waits for one to come back.
struct received {
    int result = 0; // bytes (> 0), 0 at end of stream, or -errno
    buffer_lease buffer;
    bool more = false; // the socket had more bytes waiting (IORING_CQE_F_SOCK_NONEMPTY)
};

// A buffer-select receive's completion (`result` and `done`'s flags) as a `received`: a
// receive its owner cancelled that lost the race to -ENOBUFS reads -ECANCELED (it must not
// go on to wait for a buffer: the cancellation is the answer); the buffer it selected is
// adopted from `ring` whatever the result, so that it goes back.
received received_from(const completion& done, int result, buffer_ring& ring);

class receive_op : public io_operation<receive_op> {
public:
    receive_op(int fd, buffer_ring& ring) : fd_(fd), ring_(ring) {}
    void prepare(io_uring_sqe* entry) {
        io_uring_prep_recv(entry, fd_, nullptr, 0, 0);
        entry->flags |= IOSQE_BUFFER_SELECT;
        entry->buf_group = ring_.group_id();
        returns_at_submit_ = ring_.returns();
    }
    // buffer_ring::returns() when the receive was submitted.
    std::uint64_t returns_at_submit() const noexcept { return returns_at_submit_; }
    received finish(int result) { return received_from(completion_, result, ring_); }

private:
    int fd_;
    buffer_ring& ring_;
    std::uint64_t returns_at_submit_ = 0;
};
inline receive_op receive(int fd, buffer_ring& ring) {
    return receive_op{fd, ring};
}

// Waits until `ring` has a buffer again (0), `timeout` passes (-ETIMEDOUT) or the wait is
// cancelled (-ECANCELED). The wait is a kernel timer that the ring cancels when it hands a
// returned buffer to this waiter (buffer_ring.hpp), so deadlines and cancel_slots apply to
// it as to any operation. Do not add with_timeout(): the wait is a timeout already.
class buffer_wait_op : public io_operation<buffer_wait_op> {
public:
    buffer_wait_op(buffer_ring& ring, nanoseconds timeout)
        : ring_(ring), spec_(to_timespec(timeout)) {}
    void prepare(io_uring_sqe* entry) {
        io_uring_prep_timeout(entry, &spec_, 0, 0);
        waiter_.timer = &completion_;
        ring_.enqueue(&waiter_);
    }
    int finish(int result) noexcept {
        ring_.dequeue(&waiter_);
        if (waiter_.woken && !completion_.cancel_requested_) {
            return 0;
        }
        return result == -ETIME ? -ETIMEDOUT : result;
    }

private:
    buffer_ring& ring_;
    __kernel_timespec spec_;
    buffer_waiter waiter_;
};

class send_op : public io_operation<send_op> {
public:
    send_op(int fd, std::string_view data, int flags = 0)
        : fd_(fd), data_(data), flags_(flags | MSG_NOSIGNAL) {}
    void prepare(io_uring_sqe* entry) {
        io_uring_prep_send(entry, fd_, data_.data(), data_.size(), flags_);
    }
    int finish(int result) const noexcept { return result; }

private:
    int fd_;
    std::string_view data_;
    int flags_;
};
inline send_op send_some(int fd, std::string_view data) {
    return send_op{fd, data};
}

// A gathered send on a socket (sendmsg). MSG_MORE tells the kernel that more follows at
// once, so it may fill whole segments instead of sending one per call; MSG_DONTWAIT ends
// with -EAGAIN instead of waiting for room.
class writev_op : public io_operation<writev_op> {
public:
    writev_op(int fd, iovec* vectors, unsigned count, int flags = 0)
        : fd_(fd), flags_(flags | MSG_NOSIGNAL) {
        message_.msg_iov = vectors;
        message_.msg_iovlen = count;
    }
    void prepare(io_uring_sqe* entry) {
        io_uring_prep_sendmsg(entry, fd_, &message_, static_cast<unsigned>(flags_));
    }
    int finish(int result) const noexcept { return result; }

private:
    int fd_;
    int flags_;
    msghdr message_{}; // read by the kernel until the send completes: lives in the frame
};
inline writev_op writev_some(int fd, iovec* vectors, unsigned count, int flags = 0) {
    return writev_op{fd, vectors, count, flags};
}

class connect_op : public io_operation<connect_op> {
public:
    connect_op(int fd, const sockaddr* address, socklen_t length)
        : fd_(fd), address_(address), length_(length) {}
    void prepare(io_uring_sqe* entry) { io_uring_prep_connect(entry, fd_, address_, length_); }
    int finish(int result) const noexcept { return result; }

private:
    int fd_;
    const sockaddr* address_; // must outlive the operation: keep it in the awaiting frame
    socklen_t length_;
};
inline connect_op connect(int fd, const sockaddr* address, socklen_t length) {
    return connect_op{fd, address, length};
}

// A connect and the first send on the new connection, linked in one submission: the
// kernel sends as soon as the connection is up, without a round trip through this thread
// (a burst of new upstream connections then reaches the upstream while the rest of the
// burst is still being parsed). `timeout` bounds the connect only. The frame resumes
// after all three completions (connect, its timeout, send) are in.
struct connect_send_result {
    int connected = 0; // 0 or -errno (-ETIMEDOUT when the timeout fired)
    int sent = 0;      // bytes sent (maybe fewer than asked), or -errno (-ECANCELED when
                       // the connect failed)
};

class connect_send_op {
public:
    connect_send_op(int fd, const sockaddr* address, socklen_t length, nanoseconds timeout,
                    std::string_view data)
        : fd_(fd), address_(address), length_(length), timeout_(to_timespec(timeout)), data_(data) {
    }
    connect_send_op(const connect_send_op&) = delete;
    connect_send_op& operator=(const connect_send_op&) = delete;

    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> waiter) {
        reactor& loop = reactor::current();
        // TRICKY: a link only holds within one submission: the three SQEs go together.
        loop.reserve_sqes(3);
        connect_.waiter_ = waiter;
        connect_.pending_ = 3; // connect, its timeout, and the send (counted by on_send)
        send_.owner_ = this;
        send_.on_cqe_ = &on_send;
        io_uring_sqe* entry = loop.sqe();
        io_uring_prep_connect(entry, fd_, address_, length_);
        io_uring_sqe_set_data64(entry, user_data_of(&connect_));
        entry->flags |= IOSQE_IO_LINK;
        io_uring_sqe* timer = loop.sqe();
        io_uring_prep_link_timeout(timer, &timeout_, 0);
        io_uring_sqe_set_data64(timer, timeout_user_data_of(&connect_));
        timer->flags |= IOSQE_IO_LINK; // the chain goes on past the timeout, to the send
        io_uring_sqe* send = loop.sqe();
        io_uring_prep_send(send, fd_, data_.data(), data_.size(), MSG_NOSIGNAL);
        io_uring_sqe_set_data64(send, user_data_of(&send_));
    }
    connect_send_result await_resume() const noexcept {
        int connected = connect_.result_;
        if (connect_.timed_out_ && connected == -ECANCELED) {
            connected = -ETIMEDOUT;
        }
        return {connected, send_.result_};
    }

private:
    // Inside the CQE walk: records the send's result and counts it against the connect's
    // completion, which schedules the waiter when the last of the three is in.
    static void on_send(completion* self, int result, std::uint32_t) {
        self->result_ = result;
        completion& connect = owned_completion<connect_send_op>::owner_of(self)->connect_;
        if (--connect.pending_ == 0) {
            reactor::current().schedule(connect.waiter_);
        }
    }

    int fd_;
    const sockaddr* address_; // must outlive the operation: keep it in the awaiting frame
    socklen_t length_;
    __kernel_timespec timeout_;
    std::string_view data_;
    completion connect_;
    owned_completion<connect_send_op> send_;
};

class close_op : public io_operation<close_op> {
public:
    explicit close_op(int fd) : fd_(fd) {}
    void prepare(io_uring_sqe* entry) { io_uring_prep_close(entry, fd_); }
    int finish(int result) const noexcept { return result; }

private:
    int fd_;
};
inline close_op close(int fd) {
    return close_op{fd};
}

class poll_op : public io_operation<poll_op> {
public:
    poll_op(int fd, unsigned mask) : fd_(fd), mask_(mask) {}
    void prepare(io_uring_sqe* entry) { io_uring_prep_poll_add(entry, fd_, mask_); }
    int finish(int result) const noexcept { return result; }

private:
    int fd_;
    unsigned mask_;
};
inline poll_op poll(int fd, unsigned mask) {
    return poll_op{fd, mask};
}

// Sends all of `data` (looping over short sends), `flags` (MSG_MORE, say) with every send.
// Returns 0 or -errno. The caller keeps `data` alive until the task finishes.
task<int> send_all(int fd, std::string_view data, nanoseconds timeout = nanoseconds::max(),
                   int flags = 0);

// Sends every byte of `vectors` on socket `fd`; `vectors` is modified as it goes. `flags`
// (MSG_MORE, say) go with every send. Returns 0 or -errno.
task<int> writev_all(int fd, std::span<iovec> vectors, nanoseconds timeout = nanoseconds::max(),
                     int flags = 0);

// Waits for the next receive on `fd` into `ring`. When every buffer is leased it waits for
// one to come back, still within `timeout` and still cancellable through `slot`.
task<received> receive_some(int fd, buffer_ring& ring, nanoseconds timeout = nanoseconds::max(),
                            cancel_slot* slot = nullptr);

} // namespace runtime
