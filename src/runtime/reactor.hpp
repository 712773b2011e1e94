#pragma once
// reactor: one io_uring and one run loop per thread. Coroutines queue SQEs through sqe(),
// the loop submits them once per turn (one io_uring_enter), reaps a batch of CQEs,
// records each result in its completion, advances the CQ once, and only then resumes the
// coroutines that became ready (never inside the CQE walk). Other threads talk to a
// reactor only through post(), which queues a function and wakes the loop through an
// eventfd. Owns the ring, two provided-buffer rings and the mailbox; allocates them at
// construction (throws startup_error) and nothing per operation.
//
// The two buffer groups keep the two sides of a proxy apart: receives on connections this
// thread accepted (buffer_group::server) and on connections it opened (buffer_group::client)
// never draw from the same pool, so clients that exhaust theirs cannot starve the receive
// of the answers they wait for (docs/design.md, "Budgets and admission control").

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include <liburing.h>

#include "runtime/buffer_ring.hpp"
#include "runtime/completion.hpp"
#include "runtime/startup_error.hpp"
#include "runtime/task.hpp"

namespace runtime {

enum class buffer_group : std::uint8_t { server, client };

struct buffer_group_options {
    unsigned count = 512; // a power of two
    std::size_t size = 16 * 1024;
};

struct reactor_options {
    unsigned sq_entries = 256;
    // Room for a completion per pending operation: every idle connection has a receive
    // armed, and a burst completes many at once (the kernel keeps overflow, at a cost).
    unsigned cq_entries = 16384;
    buffer_group_options server_buffers{};
    buffer_group_options client_buffers{};
    // Wake-up batching, while batch_waits(true): a loop that has to wait sleeps until
    // `batch` completions are in, or `batch_wait` has passed with at least one; an idle
    // loop still sleeps until the first. Each completion that wakes a sleeping loop costs
    // the CPU it came from a cross-CPU wake-up; under load, batching spares it most of
    // them, at up to `batch_wait` of added latency per wait, which only pays when many
    // requests are in flight (the owner says when). Zero: never batch. Needs Linux 6.12
    // (IORING_FEAT_MIN_TIMEOUT); ignored on older kernels.
    std::chrono::microseconds batch_wait{0};
    unsigned batch = 32;
};

class reactor {
public:
    explicit reactor(reactor_options options = {});
    ~reactor();
    reactor(const reactor&) = delete;
    reactor& operator=(const reactor&) = delete;

    // The reactor of the calling thread; exactly one may exist per thread.
    static reactor& current() noexcept;

    // An SQE for the current turn. When the SQ is full, the queued SQEs are submitted
    // first, so this never fails for a ring that the kernel keeps consuming.
    io_uring_sqe* sqe();
    // Makes sure the next `count` calls to sqe() land in the same submission.
    void reserve_sqes(unsigned count);
    // Asks the kernel to cancel the pending operation whose user_data is `target`
    // (fire-and-forget: the operation's own CQE, -ECANCELED or its real result if it won
    // the race, still comes).
    void cancel(completion* target);

    // Resumes `handle` on a later pass of the loop (FIFO).
    void schedule(std::coroutine_handle<> handle) { ready_.push_back(handle); }

    // Thread-safe: runs `function` on this reactor's thread, between two loop turns.
    void post(std::move_only_function<void()> function);

    // Runs the loop until stop() is called (from this thread, or through post()).
    void run();
    void stop() noexcept { stopping_ = true; }

    // Runs `work` on this reactor until it finishes and returns its result (or rethrows).
    template <typename T> T block_on(task<T> work);

    // Turns wake-up batching on or off (reactor_options::batch_wait); off at first.
    void batch_waits(bool on) noexcept { batching_ = on; }
    bool batching_waits() const noexcept { return batching_; }

    buffer_ring& buffers(buffer_group group) noexcept {
        return group == buffer_group::server ? *server_buffers_ : *client_buffers_;
    }
    io_uring& ring() noexcept { return ring_; }
    // The number of io_uring_enter calls made so far (tests use it to prove batching).
    std::uint64_t enter_calls() const noexcept { return enter_calls_; }
    // When the current turn began (see turn_time()); whether run() is running.
    std::chrono::steady_clock::time_point turn_started() const noexcept { return turn_started_; }
    bool running() const noexcept { return running_loop_; }

private:
    void turn(bool may_block);
    // Submits and sleeps until the batch is in (see reactor_options::batch_wait).
    int submit_and_wait_batch();
    // Submits and sleeps for a completion or 1 ms, whichever comes first (under valgrind).
    int submit_and_wait_slice();
    void reap();
    void arm_mailbox();
    void drain_mailbox();
    template <typename T> static task<void> run_then_stop(reactor* self, task<T>* work);

    io_uring ring_{};
    std::uint32_t batch_wait_us_ = 0; // 0: no batching (off, or not supported)
    unsigned batch_ = 1;
    bool sliced_waits_ = false; // running under valgrind: see the constructor
    bool batching_ = false;
    bool stopping_ = false;
    bool running_loop_ = false;
    std::uint64_t enter_calls_ = 0;
    std::chrono::steady_clock::time_point turn_started_{}; // read only while run() runs
    std::vector<std::coroutine_handle<>> ready_;
    std::vector<std::coroutine_handle<>> running_;
    std::unique_ptr<buffer_ring> server_buffers_;
    std::unique_ptr<buffer_ring> client_buffers_;

    // Mailbox: written by any thread under the mutex, drained by the owner.
    int wake_fd_ = -1;
    std::uint64_t wake_count_ = 0;
    completion wake_read_;
    bool mail_pending_ = false;
    std::mutex mailbox_mutex_;
    std::vector<std::move_only_function<void()>> mailbox_;
    std::vector<std::move_only_function<void()>> draining_;
};

// When this thread's reactor began its current turn: the clock is read once per turn,
// after the wait, as nginx and HAProxy read it once per loop. For deadlines, which need no
// better than a turn's length (microseconds; a few milliseconds under heavy load); a
// latency measurement reads the clock itself. On a thread without a reactor, or whose
// reactor is not running (between two block_on calls): the clock.
std::chrono::steady_clock::time_point turn_time() noexcept;

template <typename T> task<void> reactor::run_then_stop(reactor* self, task<T>* work) {
    // Runs `work` to its end without taking its result: block_on takes the value or the
    // exception from the promise afterwards.
    struct run_awaiter {
        typename task<T>::handle_type handle_;
        bool await_ready() const noexcept { return handle_.done(); }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
            handle_.promise().continuation_ = awaiting;
            return handle_;
        }
        void await_resume() const noexcept {}
    };
    co_await run_awaiter{work->handle()};
    self->stop();
}

template <typename T> T reactor::block_on(task<T> work) {
    task<void> driver = run_then_stop(this, &work);
    schedule(driver.handle());
    run();
    assert(driver.done());
    stopping_ = false;
    return work.handle().promise().take();
}

} // namespace runtime
