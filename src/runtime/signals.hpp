#pragma once
// signal_set: SIGINT/SIGTERM (or any set) delivered to a reactor through a signalfd, so
// shutdown is an ordinary coroutine. block_in_process() must run in main() before any
// thread starts, so that every thread inherits the mask and no handler ever runs.
// Owned by one reactor thread; holds one fd.

#include <initializer_list>

#include "runtime/task.hpp"

namespace runtime {

class signal_set {
public:
    // Throws startup_error when the signalfd cannot be made.
    explicit signal_set(std::initializer_list<int> signals);
    ~signal_set();
    signal_set(const signal_set&) = delete;
    signal_set& operator=(const signal_set&) = delete;

    // Blocks `signals` for the calling thread (and threads it starts later).
    static void block_in_process(std::initializer_list<int> signals);

    // The next signal number delivered, or -errno (-ECANCELED when cancelled).
    task<int> next();
    int fd() const noexcept { return fd_; }

private:
    int fd_ = -1;
};

} // namespace runtime
