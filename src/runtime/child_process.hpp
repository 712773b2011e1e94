#pragma once
// child_process: launches a program with fork/exec and follows it through a pidfd, so its
// exit is one awaitable on the reactor (a poll on the pidfd, then waitid(P_PIDFD)).
// The child can inherit one listening socket as fd 3 (LISTEN_FDS=1, the systemd socket
// activation convention) and is tied to the parent with PR_SET_PDEATHSIG.
// NOTE: the death signal fires when the *thread* that forked exits: launch from a thread
// that lives as long as the process. Owned by the thread that launched it.

#include <csignal>
#include <expected>
#include <string>
#include <vector>

#include <sys/types.h>

#include "runtime/task.hpp"

namespace runtime {

struct launch_options {
    std::string program;                  // a path; not searched in PATH
    std::vector<std::string> arguments;   // argv[1...]
    std::vector<std::string> environment; // "NAME=value", added to (and overriding) ours
    int inherited_fd = -1;                // when >= 0, becomes fd 3 in the child, with LISTEN_FDS=1
    int death_signal = SIGTERM;
};

struct exit_status {
    int code = 0;   // exit code when the child exited
    int signal = 0; // the signal that killed it, else 0
    std::string describe() const;
};

class child_process {
public:
    // Starts the program. On failure returns -errno, including the errno of a failed
    // execve in the child (ENOENT for a missing binary), reported through a CLOEXEC pipe.
    static std::expected<child_process, int> launch(const launch_options& options);

    child_process(child_process&& other) noexcept;
    child_process& operator=(child_process&& other) noexcept;
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;
    // A child that was never waited for is killed and reaped here (blocking, briefly).
    ~child_process();

    pid_t pid() const noexcept { return pid_; }
    bool exited() const noexcept { return reaped_; }

    // Sends `signal` through the pidfd (no pid reuse race). Returns 0 or -errno.
    int send_signal(int signal) const noexcept;

    // Completes when the child exits, and reaps it. One waiter at a time.
    task<exit_status> wait();

private:
    child_process(pid_t pid, int pidfd) noexcept : pid_(pid), pidfd_(pidfd) {}
    void reset() noexcept;

    pid_t pid_ = -1;
    int pidfd_ = -1;
    bool reaped_ = false;
};

} // namespace runtime
