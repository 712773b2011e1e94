#pragma once
// remote_call: awaits a task that runs on another reactor's thread. The caller's frame
// stays suspended on its own thread; the work is started in `target_scope` on the target
// thread (so shutdown can drain it), and its result comes back by a post() to the
// caller's reactor, which schedules the caller. Nothing else is shared between the two
// threads, and post()'s mutex orders the write of the result before its read.
// NOTE: the target reactor must keep running until the call completes (shutdown order:
// stop callers first).
// TRICKY: g++ 12 may relocate a prvalue awaiter bitwise into the coroutine frame, which
// breaks objects that point into themselves (a lambda capturing a short std::string in a
// move_only_function's inline buffer did). The factory therefore lives on the heap, and
// callers should co_await a named remote_call.

#include <coroutine>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "runtime/reactor.hpp"
#include "runtime/scope.hpp"
#include "runtime/task.hpp"

namespace runtime {

template <typename T> class remote_call {
public:
    using work_factory = std::move_only_function<task<T>()>;

    remote_call(reactor& target, scope& target_scope, work_factory make_work)
        : target_(target), scope_(target_scope),
          make_work_(std::make_unique<work_factory>(std::move(make_work))) {}

    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> waiter) {
        waiter_ = waiter;
        home_ = &reactor::current();
        target_.post([this] { scope_.spawn(run(this)); });
    }
    T await_resume() { return std::move(*result_); }

private:
    static task<void> run(remote_call* self) {
        T value = co_await (*self->make_work_)();
        self->result_.emplace(std::move(value));
        // TRICKY: once posted, the caller may resume and destroy *self on its thread:
        // take what we need first and touch nothing of self afterwards.
        reactor* home = self->home_;
        std::coroutine_handle<> waiter = self->waiter_;
        home->post([home, waiter] { home->schedule(waiter); });
    }

    reactor& target_;
    scope& scope_;
    std::unique_ptr<work_factory> make_work_;
    std::optional<T> result_;
    reactor* home_ = nullptr;
    std::coroutine_handle<> waiter_;
};

} // namespace runtime
