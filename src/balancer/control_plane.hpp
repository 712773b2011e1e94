#pragma once
// control_plane: the control thread of docs/design.md. It owns the replica table, the
// orchestrator, the health checks and the routing tables: every membership change (/add,
// /rm, a replica dying or failing its heartbeats, a replacement passing its first one)
// builds a new immutable routing_table and sends it to every worker, and /add and /rm
// answer only once every worker has acknowledged it. Workers reach it only by messages
// (post, remote_call). Everything below runs on the control thread unless it says
// "thread-safe".

#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "balancer/config.hpp"
#include "balancer/control_api.hpp"
#include "balancer/metrics.hpp"
#include "balancer/routing_table.hpp"
#include "net/http_server.hpp"
#include "net/unique_fd.hpp"
#include "orchestrator/orchestrator.hpp"
#include "runtime/reactor.hpp"
#include "runtime/scope.hpp"

namespace balancer {

class balancer_handler;

struct api_answer {
    int status = 200;
    std::string body; // JSON
};

// How control reaches one worker: a thread-safe post (false when the worker is gone), and
// the worker's handler.
struct worker_link {
    std::move_only_function<bool(std::move_only_function<void()>)> post;
    balancer_handler* handler = nullptr;
};

class control_plane {
public:
    control_plane(const balancer_config& config,
                  std::unique_ptr<orchestrator::orchestrator> backend);
    ~control_plane();

    // Starts the control thread, starts the initial replicas and waits until each has
    // passed a heartbeat. Throws runtime::startup_error on failure (nothing left running).
    void start();
    // The routing table of the moment (thread-safe; for workers being created).
    std::shared_ptr<const routing_table> current() const;
    // Connects the workers; they get the current table at once (thread-safe).
    void attach(std::vector<worker_link> workers);
    // Forgets the workers before they stop, and waits until control has (thread-safe):
    // from then on nothing is sent to them (tables, metrics requests).
    void detach();
    // Stops health checks and every replica, then the thread (thread-safe); join() waits.
    void stop();
    void join();

    runtime::reactor& reactor() noexcept { return *reactor_; }
    runtime::scope& scope() noexcept { return calls_; }

    // Control thread: the control API.
    runtime::task<api_answer> add(json::control_payload_result payload, bool body_empty);
    runtime::task<api_answer> remove(json::control_payload_result payload, bool body_empty);
    // Control thread: a worker saw a connect error or reset from `name`: probe it now.
    void report_suspect(std::string name);
    // Control thread: admin answers.
    runtime::task<std::string> metrics_text();
    std::string ring_json() const;
    runtime::task<std::string> stats_json();

private:
    static constexpr std::chrono::milliseconds stop_grace{10'000};
    static constexpr std::chrono::milliseconds probe_interval{20};
    static constexpr std::chrono::milliseconds max_backoff{5'000};

    enum class health : std::uint8_t { starting, up, down };
    struct replica_record {
        std::string name;
        std::uint64_t id = 0;
        net::endpoint address{};
        bool has_address = false;
        health state = health::starting;
        int failures = 0;
        bool probing = false;
        bool respawning = false;
        std::uint64_t respawns = 0;
        std::chrono::milliseconds backoff{0};
    };

    runtime::task<void> run(std::promise<void>* started);
    runtime::task<void> serve_admin(int listen_fd);
    runtime::task<bool> start_initial();
    runtime::task<void> health_loop();
    runtime::task<void> check(std::string name);
    runtime::task<bool> heartbeat(const net::endpoint& address);
    // Polls GET /heartbeat until it passes (true), `within` runs out, or the replica called
    // `name` exits meanwhile (false at once).
    runtime::task<bool> wait_healthy(net::endpoint address, std::chrono::milliseconds within,
                                     std::string name = {});
    runtime::task<void> respawn(std::string name, std::string reason);
    runtime::task<void> publish();
    runtime::task<worker_metrics> collect_metrics();
    void on_replica_exit(const std::string& name, const std::string& reason);
    void mark_down(replica_record& record, std::string_view reason);
    replica_record* find(std::string_view name);
    std::vector<std::string> managed_names() const;
    std::uint64_t next_id() const;

    balancer_config config_;
    std::unique_ptr<orchestrator::orchestrator> backend_;
    std::thread thread_;
    runtime::reactor* reactor_ = nullptr;
    std::vector<replica_record> replicas_;
    std::vector<worker_link> workers_;
    runtime::scope calls_;
    runtime::scope background_;
    bool stopping_ = false;
    bool changing_ = false; // an /add or /rm is in progress: one at a time
    std::uint64_t generation_ = 0;
    // Replicas being started by /add (not in the table yet): name -> exited meanwhile.
    std::map<std::string, bool> starting_;
    control_metrics counters_;
    std::mt19937_64 random_{std::random_device{}()};
    std::string startup_error_;

    std::unique_ptr<net::request_handler> admin_handler_;
    std::unique_ptr<net::http_server> admin_server_;
    net::unique_fd admin_listener_;

    mutable std::mutex current_mutex_; // guards current_ for the thread-safe reader
    std::shared_ptr<const routing_table> current_;
};

} // namespace balancer
