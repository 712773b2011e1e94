#pragma once
// deadline_list: many timed waits, one timer. A kernel timeout linked to every receive
// costs a timer set-up and tear-down per operation; instead, a wait registers its
// cancel_slot and deadline here while its operation is pending, and run() wakes every
// `period` to cancel the waits past their deadline (the waiter sees -ECANCELED with
// expired() set, and reports a timeout). Precision is `period`, which suits idle, header
// and upstream timeouts. One list per reactor thread; entries live in the waiting frames.

#include <chrono>

#include "runtime/io.hpp"
#include "runtime/task.hpp"

namespace runtime {

class deadline_list {
public:
    using clock = std::chrono::steady_clock;

    // One registration: construct it in the waiting frame, pass slot() to the operation.
    class wait {
    public:
        wait(deadline_list& list, clock::time_point deadline) : list_(list), deadline_(deadline) {
            next_ = list_.first_;
            if (next_ != nullptr) {
                next_->prev_ = this;
            }
            list_.first_ = this;
        }
        wait(const wait&) = delete;
        wait& operator=(const wait&) = delete;
        ~wait() {
            (prev_ != nullptr ? prev_->next_ : list_.first_) = next_;
            if (next_ != nullptr) {
                next_->prev_ = prev_;
            }
        }
        cancel_slot* slot() noexcept { return &slot_; }
        bool expired() const noexcept { return expired_; }
        // The result of the operation, with a cancellation by the sweeper as -ETIMEDOUT.
        int outcome(int result) const noexcept {
            return result == -ECANCELED && expired_ ? -ETIMEDOUT : result;
        }

    private:
        friend class deadline_list;
        deadline_list& list_;
        clock::time_point deadline_;
        cancel_slot slot_;
        bool expired_ = false;
        wait* prev_ = nullptr;
        wait* next_ = nullptr;
    };

    // Sweeps every `period` until stop(). Spawn it into the owner's scope.
    task<void> run(std::chrono::milliseconds period) {
        while (!stopping_) {
            co_await sleep_for(period).with_cancel(&sleep_);
            const auto now = clock::now();
            for (wait* entry = first_; entry != nullptr; entry = entry->next_) {
                if (!entry->expired_ && now >= entry->deadline_ && entry->slot_.pending()) {
                    entry->expired_ = true;
                    entry->slot_.cancel();
                }
            }
        }
    }

    // Cancels every wait now, as if each had passed its deadline (a server out of drain
    // time). Waits registered later are timed as usual.
    void expire_all() noexcept {
        for (wait* entry = first_; entry != nullptr; entry = entry->next_) {
            if (!entry->expired_ && entry->slot_.pending()) {
                entry->expired_ = true;
                entry->slot_.cancel();
            }
        }
    }

    // Ends run() at once (its sleep is cancelled).
    void stop() noexcept {
        stopping_ = true;
        sleep_.cancel();
    }

private:
    wait* first_ = nullptr;
    cancel_slot sleep_;
    bool stopping_ = false;
};

} // namespace runtime
