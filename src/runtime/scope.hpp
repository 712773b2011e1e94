#pragma once
// scope: the one way to start detached work (Seastar's gate). spawn() starts a task at
// once and keeps its frame alive until it finishes; the scope counts live frames, and
// join() completes when the count reaches zero, so shutdown can drain every connection
// before the reactor goes away. Single-threaded: a scope belongs to the thread that
// spawns into it. One small frame is allocated per spawn (from the frame pool).

#include <coroutine>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "runtime/reactor.hpp"
#include "runtime/task.hpp"

namespace runtime {

class scope {
public:
    scope() = default;
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;
    // NOTE: destroying a scope with live tasks is a bug: their frames would outlive it.
    ~scope() { assert(live_ == 0); }

    // Starts `work` now; it runs until its first suspension before spawn returns.
    // An exception escaping detached work is a bug: it is reported and the process aborts.
    void spawn(task<void> work) {
        ++live_;
        run_detached(this, std::move(work)).handle_.resume();
    }

    // Starts `work` on a later pass of this thread's reactor loop: spawn() for code that
    // must not run user code now, such as a completion handler inside the CQE walk (only
    // the frames are made here). Counted from this call on, like spawn().
    void spawn_scheduled(task<void> work) {
        ++live_;
        reactor::current().schedule(run_detached(this, std::move(work)).handle_);
    }

    std::size_t live() const noexcept { return live_; }

    // Completes once every spawned task has finished. One joiner at a time.
    task<void> join() {
        if (live_ != 0) {
            co_await join_awaiter{this};
        }
    }

private:
    struct detached {
        struct promise_type {
            detached get_return_object() noexcept {
                return {std::coroutine_handle<promise_type>::from_promise(*this)};
            }
            std::suspend_always initial_suspend() const noexcept { return {}; }
            // The frame frees itself when the work ends.
            std::suspend_never final_suspend() const noexcept { return {}; }
            void return_void() const noexcept {}
            void unhandled_exception() const noexcept { std::terminate(); }
            static void* operator new(std::size_t size) { return frame_pool::allocate(size); }
            static void operator delete(void* p, std::size_t size) noexcept {
                frame_pool::deallocate(p, size);
            }
        };
        std::coroutine_handle<promise_type> handle_;
    };

    struct join_awaiter {
        scope* owner_;
        bool await_ready() const noexcept { return owner_->live_ == 0; }
        void await_suspend(std::coroutine_handle<> joiner) noexcept {
            assert(!owner_->joiner_ && "scope::join has one joiner at a time");
            owner_->joiner_ = joiner;
        }
        void await_resume() const noexcept {}
    };

    static detached run_detached(scope* owner, task<void> work) {
        try {
            co_await work;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "fatal: exception escaped detached task: %s\n", e.what());
            std::abort();
        } catch (...) {
            std::fprintf(stderr, "fatal: unknown exception escaped detached task\n");
            std::abort();
        }
        owner->finished();
    }

    void finished() noexcept {
        assert(live_ > 0);
        if (--live_ == 0 && joiner_) {
            // TRICKY: the joiner may destroy this scope; nothing of *this is touched after.
            std::exchange(joiner_, {}).resume();
        }
    }

    std::size_t live_ = 0;
    std::coroutine_handle<> joiner_;
};

} // namespace runtime
