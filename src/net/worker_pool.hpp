#pragma once
// worker_pool: the threading model of docs/design.md for an HTTP server. One thread per
// worker, each with its own reactor, its own request_handler and its own http_server on
// its own SO_REUSEPORT listening socket (or on one shared inherited socket), so a
// connection lives on one thread for its whole life and nothing is shared on the request
// path. The constructor returns once every worker is serving, or throws startup_error
// with the first worker's failure (for example io_uring being blocked). stop() and
// abort() are thread-safe; wait_drained() and join() wait for every worker to drain.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "net/endpoint.hpp"
#include "net/http_server.hpp"
#include "net/unique_fd.hpp"
#include "runtime/reactor.hpp"

namespace net {

struct worker_pool_options {
    std::size_t threads = 1;
    // Listen here (one socket per worker); ignored when shared_listener is set.
    endpoint listen{};
    // A socket every worker accepts on (socket activation); the pool takes ownership.
    std::optional<unique_fd> shared_listener;
    server_limits limits{};
    runtime::reactor_options reactor{};
};

class worker_pool {
public:
    using handler_factory = std::function<std::unique_ptr<request_handler>(std::size_t worker)>;

    worker_pool(worker_pool_options options, handler_factory make_handler);
    ~worker_pool();
    worker_pool(const worker_pool&) = delete;
    worker_pool& operator=(const worker_pool&) = delete;

    // The address actually listened on (port 0 resolved).
    const endpoint& local_endpoint() const noexcept { return local_; }
    std::size_t size() const noexcept { return workers_.size(); }

    // Runs `function` on worker `index`'s thread. Thread-safe. False when that worker is
    // not serving (not started yet, or already drained): the function was dropped.
    bool post(std::size_t index, std::move_only_function<void()> function);
    // Stops every worker: no new connections, idle ones closed, in-flight ones finish.
    void stop();
    // After stop(): ends every request still in flight (http_server::abort).
    void abort();

    enum class drain_result : std::uint8_t { drained, timed_out, interrupted };
    // Blocks the calling thread until every worker has drained (after stop()), `timeout`
    // has passed, or `interrupt_fd` (a signalfd, say; -1 for none) became readable.
    drain_result wait_drained(std::chrono::milliseconds timeout, int interrupt_fd);
    // Waits until every worker has drained and exited.
    void join();

private:
    struct worker;
    // Posts `action` to every worker still serving, to run on its thread.
    void on_every_server(void (http_server::*action)());
    std::vector<std::unique_ptr<worker>> workers_;
    unique_fd shared_listener_; // a shared (inherited) listening socket, kept open
    unique_fd drained_fd_;      // an eventfd each worker adds 1 to once it has drained
    std::size_t drained_ = 0;   // workers drained, as counted by wait_drained
    endpoint local_{};
};

} // namespace net
