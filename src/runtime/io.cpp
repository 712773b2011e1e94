#include "runtime/io.hpp"

#include <algorithm>
#include <cerrno>

namespace runtime {

namespace {
// The remaining budget of an overall deadline, for one more step of a looping operation.
nanoseconds remaining(std::chrono::steady_clock::time_point deadline) {
    return std::max(nanoseconds{1}, deadline - turn_time());
}

std::chrono::steady_clock::time_point deadline_after(nanoseconds timeout) {
    if (timeout == nanoseconds::max()) {
        return std::chrono::steady_clock::time_point::max();
    }
    return turn_time() + timeout;
}

// Drops the first `written` bytes of `vectors`.
void consume(std::span<iovec>& vectors, std::size_t written) {
    while (!vectors.empty() && written >= vectors.front().iov_len) {
        written -= vectors.front().iov_len;
        vectors = vectors.subspan(1);
    }
    if (written > 0) {
        vectors.front().iov_base = static_cast<char*>(vectors.front().iov_base) + written;
        vectors.front().iov_len -= written;
    }
}

unsigned at_most_iov_max(std::span<iovec> vectors) {
    return static_cast<unsigned>(std::min<std::size_t>(vectors.size(), IOV_MAX));
}

// The loop send_all and writev_all share. `Bytes` is what is left to send (a string_view, a
// span of iovecs); `step(fd, bytes, flags)` makes one send of it, `advance(bytes, n)` drops the
// n bytes that went.
template <typename Bytes, typename Step, typename Advance>
task<int> send_everything(int fd, Bytes bytes, nanoseconds timeout, int flags, Step step,
                          Advance advance) {
    if (timeout != nanoseconds::max() && !bytes.empty()) {
        // Most sends fit in the socket buffer at once: try without arming a timeout (a
        // linked timeout costs a timer set-up and tear-down in the kernel per operation).
        const int sent = co_await step(fd, bytes, flags | MSG_DONTWAIT);
        if (sent < 0 && sent != -EAGAIN) {
            co_return sent;
        }
        if (sent > 0) {
            advance(bytes, static_cast<std::size_t>(sent));
        }
    }
    const auto deadline = deadline_after(timeout);
    while (!bytes.empty()) {
        auto next = step(fd, bytes, flags);
        if (timeout != nanoseconds::max()) {
            next.with_timeout(remaining(deadline));
        }
        const int sent = co_await next;
        if (sent < 0) {
            co_return sent;
        }
        if (sent == 0) {
            co_return -EPIPE;
        }
        advance(bytes, static_cast<std::size_t>(sent));
    }
    co_return 0;
}
} // namespace

task<int> send_all(int fd, std::string_view data, nanoseconds timeout, int flags) {
    return send_everything(
        fd, data, timeout, flags,
        [](int to, std::string_view left, int with) {
            return send_op{to, left, with};
        },
        [](std::string_view& left, std::size_t sent) { left.remove_prefix(sent); });
}

task<int> writev_all(int fd, std::span<iovec> vectors, nanoseconds timeout, int flags) {
    return send_everything(
        fd, vectors, timeout, flags,
        [](int to, std::span<iovec> left, int with) {
            return writev_op{to, left.data(), at_most_iov_max(left), with};
        },
        [](std::span<iovec>& left, std::size_t sent) { consume(left, sent); });
}

received received_from(const completion& done, int result, buffer_ring& ring) {
    received out;
    out.result = result == -ENOBUFS && done.cancel_requested_ ? -ECANCELED : result;
    out.buffer = ring.adopt_selected(done.flags_, result);
    out.more = (done.flags_ & IORING_CQE_F_SOCK_NONEMPTY) != 0;
    return out;
}

task<received> receive_some(int fd, buffer_ring& ring, nanoseconds timeout, cancel_slot* slot) {
    using namespace std::chrono_literals;
    const auto deadline = deadline_after(timeout);
    for (;;) {
        receive_op step{fd, ring};
        if (timeout != nanoseconds::max()) {
            step.with_timeout(remaining(deadline));
        }
        step.with_cancel(slot);
        received got = co_await step;
        if (got.result != -ENOBUFS) {
            co_return got;
        }
        if (ring.returns() != step.returns_at_submit()) {
            continue; // a buffer came back meanwhile: try again now (buffer_ring::returns)
        }
        // Every buffer is leased: wait for one to come back rather than spin, with what is
        // left of the deadline (an hour at a time when there is none).
        buffer_wait_op wait{ring, timeout == nanoseconds::max() ? 1h : remaining(deadline)};
        wait.with_cancel(slot);
        const int waited = co_await wait;
        if (waited == -ETIMEDOUT && timeout == nanoseconds::max()) {
            continue;
        }
        if (waited < 0) {
            co_return received{waited, {}};
        }
    }
}

} // namespace runtime
