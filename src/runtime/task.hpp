#pragma once
// task<T>: a lazy, move-only coroutine that owns its frame and hands control back to its
// awaiter by symmetric transfer (the shape of cppcoro's and libcoro's task.hpp). Nothing
// runs until the task is awaited; the awaiter is resumed straight from final_suspend, so
// chains of tasks never grow the stack. A value or an exception travels to the awaiter.
// Destroying a task destroys its frame wherever it is suspended; the caller must make sure
// no I/O still points into it (docs/design.md, "Coroutines and the ring": cancel, then
// await the completion). Frames come from the per-thread frame_pool.

#include <cassert>
#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "runtime/frame_pool.hpp"

namespace runtime {

template <typename T = void> class task;

namespace detail {

struct task_promise_base {
    std::coroutine_handle<> continuation_;
    std::exception_ptr exception_;

    struct final_awaiter {
        bool await_ready() const noexcept { return false; }
        template <typename Promise>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) noexcept {
            std::coroutine_handle<> next = self.promise().continuation_;
            return next ? next : std::noop_coroutine();
        }
        void await_resume() const noexcept {}
    };

    std::suspend_always initial_suspend() const noexcept { return {}; }
    final_awaiter final_suspend() const noexcept { return {}; }
    void unhandled_exception() noexcept { exception_ = std::current_exception(); }

    static void* operator new(std::size_t size) { return frame_pool::allocate(size); }
    static void operator delete(void* p, std::size_t size) noexcept {
        frame_pool::deallocate(p, size);
    }

    void rethrow_if_failed() const {
        if (exception_) {
            std::rethrow_exception(exception_);
        }
    }
};

template <typename T> struct task_promise : task_promise_base {
    std::optional<T> value_;

    task<T> get_return_object() noexcept;

    // The default argument lets `co_return {};` and other braced lists initialise a T.
    template <typename U = T>
    requires std::is_convertible_v<U&&, T>
    void return_value(U&& value) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
        value_.emplace(std::forward<U>(value));
    }

    T take() {
        rethrow_if_failed();
        assert(value_.has_value());
        return std::move(*value_);
    }
};

template <> struct task_promise<void> : task_promise_base {
    task<void> get_return_object() noexcept;
    void return_void() const noexcept {}
    void take() const { rethrow_if_failed(); }
};

} // namespace detail

template <typename T> class [[nodiscard]] task {
public:
    using promise_type = detail::task_promise<T>;
    using handle_type = std::coroutine_handle<promise_type>;

    task() noexcept = default;
    explicit task(handle_type handle) noexcept : handle_(handle) {}
    task(task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
    task& operator=(task&& other) noexcept {
        if (this != &other) {
            destroy();
            handle_ = std::exchange(other.handle_, {});
        }
        return *this;
    }
    task(const task&) = delete;
    task& operator=(const task&) = delete;
    ~task() { destroy(); }

    bool valid() const noexcept { return static_cast<bool>(handle_); }
    bool done() const noexcept { return !handle_ || handle_.done(); }

    struct awaiter {
        handle_type handle_;

        bool await_ready() const noexcept { return !handle_ || handle_.done(); }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
            handle_.promise().continuation_ = awaiting;
            return handle_;
        }
        T await_resume() {
            assert(handle_ && "awaited an empty task");
            return handle_.promise().take();
        }
    };

    awaiter operator co_await() const& noexcept { return awaiter{handle_}; }
    awaiter operator co_await() const&& noexcept { return awaiter{handle_}; }

    // For runners that drive a task without awaiting it (scope, reactor::block_on).
    handle_type handle() const noexcept { return handle_; }

private:
    void destroy() noexcept {
        if (handle_) {
            handle_.destroy();
            handle_ = {};
        }
    }

    handle_type handle_;
};

namespace detail {
template <typename T> task<T> task_promise<T>::get_return_object() noexcept {
    return task<T>{std::coroutine_handle<task_promise<T>>::from_promise(*this)};
}
inline task<void> task_promise<void>::get_return_object() noexcept {
    return task<void>{std::coroutine_handle<task_promise<void>>::from_promise(*this)};
}
} // namespace detail

} // namespace runtime
