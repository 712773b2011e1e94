#pragma once
// event: a one-thread, manual-reset signal for coroutines (shutdown, "a slot is free").
// Waiters are scheduled on the reactor when set() runs, never resumed inline. Holds a
// vector of waiting handles; no other allocation.

#include <coroutine>
#include <vector>

#include "runtime/reactor.hpp"

namespace runtime {

class event {
public:
    bool is_set() const noexcept { return set_; }
    void set() {
        set_ = true;
        for (auto waiter : waiters_) {
            reactor::current().schedule(waiter);
        }
        waiters_.clear();
    }
    void reset() noexcept { set_ = false; }

    struct awaiter {
        event* owner_;
        bool await_ready() const noexcept { return owner_->set_; }
        void await_suspend(std::coroutine_handle<> waiter) { owner_->waiters_.push_back(waiter); }
        void await_resume() const noexcept {}
    };
    awaiter wait() noexcept { return {this}; }

    // A waiter whose frame is being destroyed must leave the list first.
    void forget(std::coroutine_handle<> waiter) noexcept { std::erase(waiters_, waiter); }

private:
    bool set_ = false;
    std::vector<std::coroutine_handle<>> waiters_;
};

} // namespace runtime
