#include "runtime/reactor.hpp"

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include <sched.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif

namespace runtime {

namespace {
thread_local reactor* current_reactor = nullptr;

// Linux 6.12: io_uring_getevents_arg's former `pad` is a minimum wait in microseconds.
constexpr unsigned feature_min_timeout = 1U << 15;

// Tries the best ring first, then what older kernels accept: SINGLE_ISSUER needs 6.0,
// COOP_TASKRUN and TASKRUN_FLAG 5.19.
// NOTE: not DEFER_TASKRUN. With it, a worker waiting for one completion stayed asleep for
// 24 ms while 721 receive completions piled up in a burst of 1,000 new connections (its
// deferred task work ran only when the wait ended): the burst's p99 was 30 to 45 ms
// behind HAProxy's. Without it, the same burst matches HAProxy, at a steady-state cost
// within the noise of bench/compare.sh (docs/design.md, "Coroutines and the ring").
int set_up_ring(io_uring& ring, const reactor_options& options, unsigned& features) {
    const unsigned base = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
    const unsigned attempts[] = {
        base | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
        base | IORING_SETUP_COOP_TASKRUN,
        base,
    };
    int rc = -EINVAL;
    for (unsigned flags : attempts) {
        io_uring_params params{};
        params.flags = flags;
        params.cq_entries = options.cq_entries;
        rc = io_uring_queue_init_params(options.sq_entries, &ring, &params);
        features = params.features;
        if (rc != -EINVAL) {
            return rc;
        }
    }
    return rc;
}
} // namespace

std::string describe_ring_setup_failure(int negative_errno) {
    std::string message = "io_uring_setup failed: ";
    message += std::strerror(-negative_errno);
    if (negative_errno == -EPERM || negative_errno == -ENOSYS) {
        message += ". io_uring is blocked or disabled here. Likely causes: a container seccomp "
                   "profile that denies the io_uring_* system calls (Docker 25 and later and "
                   "recent Podman do by default; run with the profile shipped in "
                   "containers/seccomp-io-uring.json), or the host setting "
                   "kernel.io_uring_disabled=1 or 2 (sysctl kernel.io_uring_disabled=0 "
                   "re-enables it), or a kernel older than 5.19";
    }
    if (negative_errno == -ENOMEM) {
        // NOTE: without CAP_IPC_LOCK (any container, any user but root) the kernel counts
        // every ring's memory against RLIMIT_MEMLOCK, summed over all the processes of the
        // same user: a few lbd and lb-replica processes of one user in containers share
        // Docker's default 8 MiB.
        rlimit limit{};
        getrlimit(RLIMIT_MEMLOCK, &limit);
        message += ". The locked-memory limit is likely too small for io_uring's rings (";
        message += limit.rlim_cur == RLIM_INFINITY ? std::string("unlimited")
                                                   : std::to_string(limit.rlim_cur / 1024) + " KiB";
        message += ", counted over every process of this user): raise it (ulimit -l, docker "
                   "run --ulimit memlock=-1, compose ulimits: memlock: -1) or grant "
                   "CAP_IPC_LOCK";
    }
    return message;
}

reactor::reactor(reactor_options options) {
    if (current_reactor != nullptr) {
        throw startup_error("a reactor already exists on this thread");
    }
    unsigned features = 0;
    if (int rc = set_up_ring(ring_, options, features); rc < 0) {
        throw startup_error(describe_ring_setup_failure(rc));
    }
    if ((features & feature_min_timeout) != 0 && options.batch_wait.count() > 0 &&
        options.batch > 1) {
        batch_wait_us_ = static_cast<std::uint32_t>(options.batch_wait.count());
        batch_ = options.batch;
    }
#ifdef RUNNING_ON_VALGRIND
    // NOTE: valgrind (3.19, Debian 12's) runs one thread at a time and keeps its lock
    // while a thread sleeps in io_uring_enter, so one idle reactor would stop every other
    // thread for good. Under valgrind (bench/instructions.sh) waits last 1 ms at most and
    // then yield.
    sliced_waits_ = RUNNING_ON_VALGRIND != 0;
#endif
    try {
        server_buffers_ = std::make_unique<buffer_ring>(ring_, 0, options.server_buffers.count,
                                                        options.server_buffers.size);
        client_buffers_ = std::make_unique<buffer_ring>(ring_, 1, options.client_buffers.count,
                                                        options.client_buffers.size);
        wake_fd_ = eventfd(0, EFD_CLOEXEC);
        if (wake_fd_ < 0) {
            throw startup_error(std::string("eventfd: ") + std::strerror(errno));
        }
    } catch (...) {
        server_buffers_.reset();
        client_buffers_.reset();
        io_uring_queue_exit(&ring_);
        throw;
    }
    ready_.reserve(256);
    running_.reserve(256);
    wake_read_.on_cqe_ = [](completion*, int, std::uint32_t) {
        current_reactor->mail_pending_ = true;
    };
    current_reactor = this;
    arm_mailbox();
}

reactor::~reactor() {
    // io_uring_queue_exit cancels whatever is still queued (the mailbox read at least)
    // and the kernel drops those CQEs with the ring: nothing can resume after this.
    server_buffers_.reset();
    client_buffers_.reset();
    io_uring_queue_exit(&ring_);
    ::close(wake_fd_);
    current_reactor = nullptr;
}

reactor& reactor::current() noexcept {
    assert(current_reactor != nullptr && "no reactor on this thread");
    return *current_reactor;
}

io_uring_sqe* reactor::sqe() {
    io_uring_sqe* entry = io_uring_get_sqe(&ring_);
    if (entry == nullptr) {
        // SQ full within one turn: hand what we have to the kernel and take a fresh slot.
        io_uring_submit(&ring_);
        ++enter_calls_;
        entry = io_uring_get_sqe(&ring_);
    }
    assert(entry != nullptr);
    return entry;
}

void reactor::reserve_sqes(unsigned count) {
    if (io_uring_sq_space_left(&ring_) < count) {
        io_uring_submit(&ring_);
        ++enter_calls_;
    }
}

void reactor::cancel(completion* target) {
    io_uring_sqe* entry = sqe();
    io_uring_prep_cancel64(entry, user_data_of(target), 0);
    io_uring_sqe_set_data64(entry, 0);
}

void reactor::post(std::move_only_function<void()> function) {
    bool was_empty = false;
    {
        std::lock_guard lock(mailbox_mutex_);
        was_empty = mailbox_.empty();
        mailbox_.push_back(std::move(function));
    }
    // Only the empty -> non-empty transition needs a wake-up: the owner swaps the whole
    // mailbox out when it drains, so later posts see it empty again and write again.
    if (was_empty) {
        const std::uint64_t one = 1;
        [[maybe_unused]] ssize_t written = ::write(wake_fd_, &one, sizeof one);
    }
}

std::chrono::steady_clock::time_point turn_time() noexcept {
    return current_reactor != nullptr && current_reactor->running()
               ? current_reactor->turn_started()
               : std::chrono::steady_clock::now();
}

void reactor::run() {
    turn_started_ = std::chrono::steady_clock::now();
    running_loop_ = true;
    while (!stopping_) {
        running_.swap(ready_);
        for (std::size_t i = 0; i < running_.size(); ++i) {
            running_[i].resume();
        }
        running_.clear();
        if (stopping_) {
            break;
        }
        turn(ready_.empty());
    }
    running_loop_ = false;
    stopping_ = false;
}

void reactor::turn(bool may_block) {
    // One io_uring_enter per turn: it submits every SQE queued since the last turn and
    // runs the completion work the kernel queued for this thread (GETEVENTS).
    const int rc = !may_block                        ? io_uring_submit_and_get_events(&ring_)
                   : sliced_waits_                   ? submit_and_wait_slice()
                   : batch_wait_us_ > 0 && batching_ ? submit_and_wait_batch()
                                                     : io_uring_submit_and_wait(&ring_, 1);
    ++enter_calls_;
    turn_started_ = std::chrono::steady_clock::now();
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY && rc != -ETIME) {
        std::fprintf(stderr, "fatal: io_uring_enter: %s\n", std::strerror(-rc));
        std::abort();
    }
    reap();
    if (mail_pending_) {
        drain_mailbox();
    }
}

int reactor::submit_and_wait_batch() {
    // Publish the SQEs queued since the last submission, as liburing's submit does, so
    // that this one io_uring_enter both submits them and waits.
    io_uring_sq& sq = ring_.sq;
    if (sq.sqe_head != sq.sqe_tail) {
        sq.sqe_head = sq.sqe_tail;
        io_uring_smp_store_release(sq.ktail, sq.sqe_tail);
    }
    const unsigned to_submit = sq.sqe_tail - io_uring_smp_load_acquire(sq.khead);
    // The overall timeout only turns the minimum wait into "then until the first
    // completion": without one the kernel would return empty-handed after batch_wait.
    __kernel_timespec forever{.tv_sec = 3600, .tv_nsec = 0};
    io_uring_getevents_arg arg{};
    arg.pad = batch_wait_us_;
    arg.ts = reinterpret_cast<std::uint64_t>(&forever);
    const long rc = ::syscall(__NR_io_uring_enter, ring_.ring_fd, to_submit, batch_,
                              IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof arg);
    return rc < 0 ? -errno : static_cast<int>(rc);
}

int reactor::submit_and_wait_slice() {
    __kernel_timespec slice{.tv_sec = 0, .tv_nsec = 1'000'000};
    io_uring_cqe* first = nullptr;
    const int rc = io_uring_submit_and_wait_timeout(&ring_, &first, 1, &slice, nullptr);
    // valgrind hands its lock to another thread at a yield; a timed wait alone keeps it.
    sched_yield();
    return rc;
}

void reactor::reap() {
    io_uring_cqe* batch[256];
    for (;;) {
        const unsigned count = io_uring_peek_batch_cqe(&ring_, batch, 256);
        if (count == 0) {
            return;
        }
        for (unsigned i = 0; i < count; ++i) {
            const io_uring_cqe* cqe = batch[i];
            const std::uint64_t data = cqe->user_data;
            if (data == 0) {
                continue;
            }
            auto* target = reinterpret_cast<completion*>(data & ~timeout_tag);
            if ((data & timeout_tag) != 0) {
                // The linked timeout's own CQE: -ETIME when it fired, -ECANCELED when the
                // operation finished first. The operation's CQE says -ECANCELED if it fired.
                if (cqe->res == -ETIME) {
                    target->timed_out_ = true;
                }
            } else if (target->on_cqe_ != nullptr) {
                target->on_cqe_(target, cqe->res, cqe->flags);
                continue;
            } else {
                target->result_ = cqe->res;
                target->flags_ = cqe->flags;
            }
            if (--target->pending_ == 0) {
                ready_.push_back(target->waiter_);
            }
        }
        // Advance once per batch; the coroutines run only after the walk (run()).
        io_uring_cq_advance(&ring_, count);
    }
}

void reactor::arm_mailbox() {
    io_uring_sqe* entry = sqe();
    io_uring_prep_read(entry, wake_fd_, &wake_count_, sizeof wake_count_, 0);
    io_uring_sqe_set_data64(entry, user_data_of(&wake_read_));
}

void reactor::drain_mailbox() {
    mail_pending_ = false;
    {
        std::lock_guard lock(mailbox_mutex_);
        draining_.swap(mailbox_);
    }
    for (auto& function : draining_) {
        function();
    }
    draining_.clear();
    arm_mailbox();
}

} // namespace runtime
