#include "runtime/child_process.hpp"

#include <cerrno>
#include <cstring>
#include <string_view>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/io.hpp"

extern char** environ;

namespace runtime {

namespace {
int pidfd_open(pid_t pid) {
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

bool overridden(std::string_view entry, const std::vector<std::string>& extra) {
    const auto name = entry.substr(0, entry.find('=') + 1);
    for (const auto& item : extra) {
        if (std::string_view{item}.starts_with(name)) {
            return true;
        }
    }
    return false;
}

// Everything the child needs is built before fork: after fork, only async-signal-safe
// calls are allowed (the parent is multithreaded).
struct prepared_exec {
    std::vector<std::string> owned_environment;
    std::vector<char*> argv;
    std::vector<char*> envp;

    explicit prepared_exec(const launch_options& options) {
        argv.push_back(const_cast<char*>(options.program.c_str()));
        for (const auto& argument : options.arguments) {
            argv.push_back(const_cast<char*>(argument.c_str()));
        }
        argv.push_back(nullptr);

        std::vector<std::string> extra = options.environment;
        if (options.inherited_fd >= 0) {
            extra.emplace_back("LISTEN_FDS=1");
        }
        for (char** entry = environ; *entry != nullptr; ++entry) {
            if (!overridden(*entry, extra) && !std::string_view{*entry}.starts_with("LISTEN_")) {
                owned_environment.emplace_back(*entry);
            }
        }
        owned_environment.insert(owned_environment.end(), extra.begin(), extra.end());
        for (auto& entry : owned_environment) {
            envp.push_back(entry.data());
        }
        envp.push_back(nullptr);
    }
};

[[noreturn]] void run_child(const launch_options& options, prepared_exec& exec, pid_t parent,
                            int error_pipe) {
    if (prctl(PR_SET_PDEATHSIG, options.death_signal) != 0 || getppid() != parent) {
        // The parent died before the death signal was armed: nobody to serve.
        _exit(127);
    }
    if (options.inherited_fd >= 0) {
        if (options.inherited_fd == 3) {
            fcntl(3, F_SETFD, 0);
        } else if (dup2(options.inherited_fd, 3) < 0) {
            const int error = errno;
            [[maybe_unused]] auto ignored = write(error_pipe, &error, sizeof error);
            _exit(127);
        }
    }
    // The parent blocks SIGINT/SIGTERM for its signalfd and ignores SIGPIPE; a mask and an
    // ignored disposition survive execve, so give the child a clean slate.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    execve(options.program.c_str(), exec.argv.data(), exec.envp.data());
    const int error = errno;
    [[maybe_unused]] auto ignored = write(error_pipe, &error, sizeof error);
    _exit(127);
}
} // namespace

std::string exit_status::describe() const {
    if (signal != 0) {
        return std::string("killed by signal ") + std::to_string(signal) + " (" +
               sigabbrev_np(signal) + ")";
    }
    return "exited with code " + std::to_string(code);
}

std::expected<child_process, int> child_process::launch(const launch_options& options) {
    prepared_exec exec{options};
    int error_pipe[2];
    if (pipe2(error_pipe, O_CLOEXEC) != 0) {
        return std::unexpected(-errno);
    }
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) {
        const int error = errno;
        ::close(error_pipe[0]);
        ::close(error_pipe[1]);
        return std::unexpected(-error);
    }
    if (pid == 0) {
        ::close(error_pipe[0]);
        run_child(options, exec, parent, error_pipe[1]);
    }
    ::close(error_pipe[1]);
    // The pipe closes on a successful exec (CLOEXEC); otherwise it carries the errno.
    int child_error = 0;
    ssize_t got;
    do {
        got = ::read(error_pipe[0], &child_error, sizeof child_error);
    } while (got < 0 && errno == EINTR);
    ::close(error_pipe[0]);
    if (got == static_cast<ssize_t>(sizeof child_error)) {
        waitpid(pid, nullptr, 0);
        return std::unexpected(-child_error);
    }
    const int pidfd = pidfd_open(pid);
    if (pidfd < 0) {
        const int error = errno;
        ::kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
        return std::unexpected(-error);
    }
    return child_process{pid, pidfd};
}

child_process::child_process(child_process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), pidfd_(std::exchange(other.pidfd_, -1)),
      reaped_(other.reaped_) {}

child_process& child_process::operator=(child_process&& other) noexcept {
    if (this != &other) {
        reset();
        pid_ = std::exchange(other.pid_, -1);
        pidfd_ = std::exchange(other.pidfd_, -1);
        reaped_ = other.reaped_;
    }
    return *this;
}

child_process::~child_process() {
    reset();
}

void child_process::reset() noexcept {
    if (pidfd_ < 0) {
        return;
    }
    if (!reaped_) {
        send_signal(SIGKILL);
        siginfo_t info{};
        waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_), &info, WEXITED);
    }
    ::close(pidfd_);
    pidfd_ = -1;
}

int child_process::send_signal(int signal) const noexcept {
    if (pidfd_ < 0 || reaped_) {
        return -ESRCH;
    }
    if (::syscall(SYS_pidfd_send_signal, pidfd_, signal, nullptr, 0) != 0) {
        return -errno;
    }
    return 0;
}

task<exit_status> child_process::wait() {
    assert(pidfd_ >= 0);
    while (!reaped_) {
        // A pidfd polls readable once the process has exited.
        const int ready = co_await poll(pidfd_, POLLIN);
        if (ready < 0 && ready != -EINTR) {
            co_return exit_status{-1, 0};
        }
        siginfo_t info{};
        if (waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_), &info,
                   WEXITED | WNOHANG) != 0) {
            co_return exit_status{-1, 0};
        }
        if (info.si_pid == 0) {
            continue; // not exited yet (spurious wake-up)
        }
        reaped_ = true;
        if (info.si_code == CLD_EXITED) {
            co_return exit_status{info.si_status, 0};
        }
        co_return exit_status{0, info.si_status};
    }
    co_return exit_status{-1, 0};
}

} // namespace runtime
