#pragma once
// alarm: a bounded wait that another coroutine on the same thread can end early. wait()
// sleeps (one io_uring timeout) until its limit or until ring(); nothing polls. One waiter
// at a time; a ring() while nobody waits does nothing, so waiters test their condition
// first and wait in a loop. Single-threaded; no allocation beyond the waiter's frame.

#include <chrono>

#include "runtime/io.hpp"
#include "runtime/task.hpp"

namespace runtime {

class alarm {
public:
    // Completes after `limit`, or sooner once ring() is called.
    task<void> wait(std::chrono::nanoseconds limit) {
        co_await sleep_for(limit).with_cancel(&slot_);
    }
    // Ends the current wait, if any. A second ring() before the waiter resumes is a no-op.
    void ring() noexcept {
        if (slot_.pending()) {
            slot_.cancel();
            slot_.detach();
        }
    }
    bool waiting() const noexcept { return slot_.pending(); }

private:
    cancel_slot slot_;
};

} // namespace runtime
