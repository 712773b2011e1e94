#include "runtime/signals.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>

#include <sys/signalfd.h>
#include <unistd.h>

#include "runtime/io.hpp"
#include "runtime/startup_error.hpp"

namespace runtime {

namespace {
sigset_t make_set(std::initializer_list<int> signals) {
    sigset_t set;
    sigemptyset(&set);
    for (int number : signals) {
        sigaddset(&set, number);
    }
    return set;
}
} // namespace

void signal_set::block_in_process(std::initializer_list<int> signals) {
    const sigset_t set = make_set(signals);
    if (int rc = pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0) {
        throw startup_error(std::string("pthread_sigmask: ") + std::strerror(rc));
    }
}

signal_set::signal_set(std::initializer_list<int> signals) {
    const sigset_t set = make_set(signals);
    fd_ = signalfd(-1, &set, SFD_CLOEXEC);
    if (fd_ < 0) {
        throw startup_error(std::string("signalfd: ") + std::strerror(errno));
    }
}

signal_set::~signal_set() {
    ::close(fd_);
}

task<int> signal_set::next() {
    signalfd_siginfo info{};
    const int result = co_await read_some(fd_, &info, sizeof info);
    if (result < 0) {
        co_return result;
    }
    if (result != static_cast<int>(sizeof info)) {
        co_return -EIO;
    }
    co_return static_cast<int>(info.ssi_signo);
}

} // namespace runtime
