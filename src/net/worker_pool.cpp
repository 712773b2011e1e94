#include "net/worker_pool.hpp"

#include <cerrno>
#include <cstring>
#include <exception>
#include <future>
#include <mutex>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "net/listener.hpp"
#include "runtime/startup_error.hpp"

namespace net {

struct worker_pool::worker {
    std::thread thread;
    // Guards `reactor`: it is null before the thread serves and after it has drained, so
    // posting to a worker that has gone is a no-op instead of a use-after-free.
    std::mutex mutex;
    runtime::reactor* reactor = nullptr;
    http_server* server = nullptr;
    unique_fd own_listener;
    int listen_fd = -1;
};

worker_pool::worker_pool(worker_pool_options options, handler_factory make_handler)
    : drained_fd_(eventfd(0, EFD_CLOEXEC)) {
    if (!drained_fd_) {
        throw runtime::startup_error(std::string("eventfd: ") + std::strerror(errno));
    }
    int shared_fd = -1;
    std::optional<unique_fd> shared = std::move(options.shared_listener);
    if (shared) {
        shared_fd = shared->get();
    }
    for (std::size_t index = 0; index < std::max<std::size_t>(1, options.threads); ++index) {
        auto slot = std::make_unique<worker>();
        if (shared_fd >= 0) {
            slot->listen_fd = shared_fd;
        } else {
            // The first socket fixes the port (0 means "any"); the others join it.
            const endpoint& where = index == 0 ? options.listen : local_;
            auto opened = listen_on(where);
            if (!opened) {
                throw runtime::startup_error(opened.error());
            }
            slot->own_listener = std::move(*opened);
            slot->listen_fd = slot->own_listener.get();
        }
        if (index == 0) {
            auto bound = endpoint::of_socket(slot->listen_fd);
            if (!bound) {
                throw runtime::startup_error(bound.error());
            }
            local_ = *bound;
        }
        workers_.push_back(std::move(slot));
    }

    std::vector<std::future<void>> started;
    for (std::size_t index = 0; index < workers_.size(); ++index) {
        std::promise<void> ready;
        started.push_back(ready.get_future());
        worker* self = workers_[index].get();
        const int drained_fd = drained_fd_.get();
        self->thread = std::thread(
            [self, index, drained_fd, &options, &make_handler](std::promise<void> announce) {
                std::unique_ptr<runtime::reactor> loop;
                std::unique_ptr<request_handler> handler;
                std::unique_ptr<http_server> server;
                try {
                    loop = std::make_unique<runtime::reactor>(options.reactor);
                    handler = make_handler(index);
                    server = std::make_unique<http_server>(*handler, options.limits);
                } catch (...) {
                    announce.set_exception(std::current_exception());
                    return;
                }
                {
                    std::lock_guard lock(self->mutex);
                    self->reactor = loop.get();
                    self->server = server.get();
                }
                // NOTE: options and make_handler belong to the constructor's frame; they
                // are not touched after this point.
                announce.set_value();
                loop->block_on(server->serve(self->listen_fd));
                {
                    std::lock_guard lock(self->mutex);
                    self->reactor = nullptr;
                    self->server = nullptr;
                }
                const std::uint64_t one = 1;
                [[maybe_unused]] const ssize_t written = ::write(drained_fd, &one, sizeof one);
            },
            std::move(ready));
    }
    std::exception_ptr failure;
    for (auto& future : started) {
        try {
            future.get();
        } catch (...) {
            if (!failure) {
                failure = std::current_exception();
            }
        }
    }
    if (failure) {
        stop();
        join();
        std::rethrow_exception(failure);
    }
    // Keep the shared socket open for as long as the workers accept on it.
    if (shared) {
        shared_listener_ = std::move(*shared);
    }
}

worker_pool::~worker_pool() {
    stop();
    join();
}

bool worker_pool::post(std::size_t index, std::move_only_function<void()> function) {
    worker& target = *workers_.at(index);
    std::lock_guard lock(target.mutex);
    if (target.reactor == nullptr) {
        return false;
    }
    target.reactor->post(std::move(function));
    return true;
}

void worker_pool::on_every_server(void (http_server::*action)()) {
    for (auto& slot : workers_) {
        std::lock_guard lock(slot->mutex);
        if (slot->reactor != nullptr) {
            http_server* server = slot->server;
            slot->reactor->post([server, action] { (server->*action)(); });
        }
    }
}

void worker_pool::stop() {
    on_every_server(&http_server::stop);
}

void worker_pool::abort() {
    on_every_server(&http_server::abort);
}

worker_pool::drain_result worker_pool::wait_drained(std::chrono::milliseconds timeout,
                                                    int interrupt_fd) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (drained_ < workers_.size()) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return drain_result::timed_out;
        }
        pollfd watched[2] = {{drained_fd_.get(), POLLIN, 0}, {interrupt_fd, POLLIN, 0}};
        const int ready = ::poll(watched, interrupt_fd >= 0 ? 2 : 1,
                                 static_cast<int>(std::min<long long>(left.count(), 1 << 30)));
        if (ready < 0 && errno != EINTR) {
            return drain_result::timed_out;
        }
        if (interrupt_fd >= 0 && (watched[1].revents & POLLIN) != 0) {
            return drain_result::interrupted;
        }
        if ((watched[0].revents & POLLIN) != 0) {
            std::uint64_t count = 0;
            if (::read(drained_fd_.get(), &count, sizeof count) == sizeof count) {
                drained_ += count;
            }
        }
    }
    return drain_result::drained;
}

void worker_pool::join() {
    for (auto& slot : workers_) {
        if (slot->thread.joinable()) {
            slot->thread.join();
        }
    }
}

} // namespace net
