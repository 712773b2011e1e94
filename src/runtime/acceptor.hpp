#pragma once
// acceptor: a multishot accept on one listening socket. One SQE keeps producing a CQE per
// connection; the CQE walk only queues the new fds, and the coroutine waiting in next()
// is scheduled. The SQE is re-armed only when a CQE arrives without IORING_CQE_F_MORE
// (the kernel ended the multishot, e.g. after an error). pause() cancels the multishot, so
// that new connections wait in the kernel's backlog (a server at its connection limit);
// the next call to next() arms it again. Owned by one reactor thread. The accepted-fd
// queue holds what the kernel delivered before a pause or a stop took effect: a handful.

#include <coroutine>
#include <deque>

#include "runtime/completion.hpp"
#include "runtime/task.hpp"

namespace runtime {

class acceptor {
public:
    explicit acceptor(int listen_fd);
    // NOTE: stop() must have completed first: the kernel may still hold our completion.
    ~acceptor();
    acceptor(const acceptor&) = delete;
    acceptor& operator=(const acceptor&) = delete;

    // The next accepted fd (>= 0), or -ECANCELED once stop() ran, or another -errno.
    // One waiter at a time.
    task<int> next();

    // Stops taking connections off the backlog until next() is called again. Fds accepted
    // before the cancellation lands stay queued for next(). Safe to call more than once.
    void pause();
    bool paused() const noexcept { return paused_; }

    // Starts stopping: next() returns -ECANCELED from now on and the multishot accept is
    // cancelled. Safe to call from any coroutine of the owning thread, more than once.
    void request_stop();
    // request_stop(), then waits for the last CQE and closes fds nobody took.
    task<void> stop();

private:
    struct next_awaiter;
    static void on_cqe(completion* self, int result, std::uint32_t flags);
    void arm();

    int listen_fd_;
    owned_completion<acceptor> completion_;
    bool armed_ = false;
    bool stopping_ = false;
    bool paused_ = false;
    bool cancelling_ = false; // pause() cancelled the multishot; its last CQE is due
    std::deque<int> accepted_;
    int last_error_ = 0;
    std::coroutine_handle<> waiter_;
    std::coroutine_handle<> stop_waiter_;
};

} // namespace runtime
