#include "runtime/acceptor.hpp"

#include <cassert>
#include <cerrno>

#include <sys/socket.h>
#include <unistd.h>

#include "runtime/io.hpp"
#include "runtime/reactor.hpp"

namespace runtime {

acceptor::acceptor(int listen_fd) : listen_fd_(listen_fd) {
    completion_.on_cqe_ = &on_cqe;
    completion_.owner_ = this;
}

acceptor::~acceptor() {
    assert(!armed_ && "acceptor destroyed while its multishot accept is armed");
    for (int fd : accepted_) {
        ::close(fd);
    }
}

void acceptor::arm() {
    io_uring_sqe* entry = reactor::current().sqe();
    io_uring_prep_multishot_accept(entry, listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(entry, user_data_of(&completion_));
    armed_ = true;
}

void acceptor::on_cqe(completion* self, int result, std::uint32_t flags) {
    acceptor* owner = owned_completion<acceptor>::owner_of(self);
    if (result >= 0) {
        owner->accepted_.push_back(result);
    } else if (result != -ECANCELED || !(owner->stopping_ || owner->cancelling_)) {
        owner->last_error_ = result;
    }
    if ((flags & IORING_CQE_F_MORE) == 0) {
        // The multishot is over; next() re-arms unless we are stopping.
        owner->armed_ = false;
        owner->cancelling_ = false;
        if (owner->stop_waiter_) {
            reactor::current().schedule(std::exchange(owner->stop_waiter_, {}));
        }
    }
    if (owner->waiter_) {
        reactor::current().schedule(std::exchange(owner->waiter_, {}));
    }
}

struct acceptor::next_awaiter {
    acceptor* owner_;
    bool await_ready() const noexcept {
        return !owner_->accepted_.empty() || owner_->last_error_ != 0 || owner_->stopping_;
    }
    void await_suspend(std::coroutine_handle<> waiter) noexcept { owner_->waiter_ = waiter; }
    void await_resume() const noexcept {}
};

task<int> acceptor::next() {
    for (;;) {
        if (!accepted_.empty()) {
            const int fd = accepted_.front();
            accepted_.pop_front();
            co_return fd;
        }
        if (stopping_) {
            co_return -ECANCELED;
        }
        if (last_error_ != 0) {
            // EMFILE and friends: report once, then keep accepting on the next call.
            co_return std::exchange(last_error_, 0);
        }
        if (!armed_) {
            arm();
        }
        paused_ = false;
        co_await next_awaiter{this};
    }
}

struct stop_awaiter {
    std::coroutine_handle<>* slot_;
    bool* armed_;
    bool await_ready() const noexcept { return !*armed_; }
    void await_suspend(std::coroutine_handle<> waiter) noexcept { *slot_ = waiter; }
    void await_resume() const noexcept {}
};

void acceptor::pause() {
    if (paused_ || stopping_) {
        return;
    }
    paused_ = true;
    if (armed_ && !cancelling_) {
        cancelling_ = true;
        reactor::current().cancel(&completion_);
    }
}

void acceptor::request_stop() {
    if (stopping_) {
        return;
    }
    stopping_ = true;
    if (waiter_) {
        reactor::current().schedule(std::exchange(waiter_, {}));
    }
    if (armed_) {
        reactor::current().cancel(&completion_);
    }
}

task<void> acceptor::stop() {
    request_stop();
    if (armed_) {
        co_await stop_awaiter{&stop_waiter_, &armed_};
    }
    for (int fd : accepted_) {
        ::close(fd);
    }
    accepted_.clear();
}

} // namespace runtime
