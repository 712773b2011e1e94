#pragma once
// control_plane: the control thread of docs/design.md. It drives the replicas' lifecycle
// (a replica_set: a state machine without I/O) by carrying out its commands with the
// orchestrator and the heartbeat client and feeding it back what happened; and it owns the
// routing tables: every change (a replica up or down, /add, /rm) makes a new immutable
// routing_table that is sent to every worker, and /add and /rm answer only once every
// worker has acknowledged a table with their change. Waits are awaited completions: the
// timer sleeps until the replica_set's next due time, the acknowledgements are counted
// down, and whoever waits for progress is woken by it. Workers reach it only by messages
// (post, remote_call). Everything below runs on the control thread unless it says
// "thread-safe".

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "balancer/config.hpp"
#include "balancer/control_api.hpp"
#include "balancer/control_link.hpp"
#include "balancer/metrics.hpp"
#include "balancer/replica_set.hpp"
#include "balancer/routing_table.hpp"
#include "net/http_server.hpp"
#include "net/unique_fd.hpp"
#include "orchestrator/orchestrator.hpp"
#include "runtime/alarm.hpp"
#include "runtime/reactor.hpp"
#include "runtime/scope.hpp"

namespace balancer {

class balancer_handler;

// How control reaches one worker: a thread-safe post (false when the worker is gone), and
// the worker's handler.
struct worker_link {
    std::move_only_function<bool(std::move_only_function<void()>)> post;
    balancer_handler* handler = nullptr;
};

class control_plane final : public control_link {
public:
    control_plane(const balancer_config& config,
                  std::unique_ptr<orchestrator::orchestrator> backend);
    ~control_plane() override;

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

    const balancer_config& config() const noexcept { return config_; }

    // Control thread: the control API.
    runtime::task<api_answer> add(json::control_payload_result payload, bool body_empty);
    runtime::task<api_answer> remove(json::control_payload_result payload, bool body_empty);
    // control_link, from a worker's thread.
    void report_suspect(std::string name) override;
    runtime::task<api_answer> change(bool add, json::control_payload_result payload,
                                     bool body_empty) override;
    // Control thread: admin answers.
    runtime::task<std::string> metrics_text();
    std::string ring_json() const;
    runtime::task<std::string> stats_json();

private:
    static constexpr std::chrono::milliseconds stop_grace{10'000};

    runtime::task<void> run();
    runtime::task<void> serve_admin(int listen_fd);
    // Adopts, adds the initial members and waits for them; the start-up error, if any.
    runtime::task<std::optional<std::string>> start_initial();
    std::optional<std::string> initial_failure(const replica_record& record) const;

    // Carries out the replica_set's commands, asks for a table when routing changed, moves
    // the timer earlier when needed and wakes whoever waits for progress. Called after
    // every event fed to the replica_set.
    void pump();
    // Logs the lifecycle events recorded since the last call (event=replica_up, ...).
    void log_lifecycle();
    runtime::task<void> run_spawn(replica_command command);
    runtime::task<void> run_probe(replica_command command);
    runtime::task<void> run_stop(replica_command command);
    runtime::task<bool> heartbeat(const net::endpoint& address);
    // Sleeps until the replica_set's next due time, ticks it, and again (until stopping).
    runtime::task<void> timer_loop();
    void on_replica_exit(const std::string& name, const std::string& reason);
    // Shutdown: the replicas of an /add or /rm it cut short are removed.
    runtime::task<void> finish_cut_short_changes(std::chrono::milliseconds grace);
    // A shared backend's report of what other balancers changed: replicas to take as
    // members, names to let go. Returns the names it cannot take yet.
    std::vector<std::string>
    on_membership(const std::vector<orchestrator::adopted_replica>& appeared,
                  const std::vector<std::string>& vanished);
    // The /add in progress: waits until each of `names` is ready or one failed.
    runtime::task<std::optional<api_answer>> await_joined(const std::vector<std::string>& names);
    // Until no record of `names` is left but members (a rolled-back /add's replicas are
    // stopped; a member is one another balancer added meanwhile), at most `limit`, and not
    // while lbd stops: the answer to a failed /add leaves the names free for a retry.
    runtime::task<void> await_forgotten(const std::vector<std::string>& names,
                                        std::chrono::milliseconds limit);

    // Publication: one coroutine sends tables in order, each once every worker has
    // acknowledged the one before (within 5 s). publish_needed() asks for a new one;
    // published(request) completes once a table built after that request is acknowledged.
    std::uint64_t publish_needed();
    runtime::task<void> publisher();
    runtime::task<void> send_table(std::shared_ptr<const routing_table> table);
    std::shared_ptr<const routing_table> build_table();
    runtime::task<void> published(std::uint64_t request);

    runtime::task<worker_metrics> collect_metrics();
    naming_rules rules() const;
    // The answer when no /add or /rm may start now (stopping, or another in progress).
    std::optional<api_answer> refuse_change() const;
    replica_set::time_point now() const { return replica_set::clock::now(); }

    balancer_config config_;
    std::unique_ptr<orchestrator::orchestrator> backend_;
    std::thread thread_;
    std::promise<void> started_; // lives with *this: the thread may report after start()
    bool announced_ = false;
    runtime::reactor* reactor_ = nullptr;
    replica_set set_;
    std::vector<worker_link> workers_;
    runtime::scope calls_;
    runtime::scope background_;
    bool stopping_ = false;
    bool changing_ = false;       // an /add or /rm is in progress: one at a time
    bool changes_closed_ = false; // shutting down (detach()): no /add or /rm goes on
    std::mt19937_64 random_{std::random_device{}()};
    // Why a replica joining through /add could not be started, and the status to answer.
    std::map<std::string, int, std::less<>> spawn_status_;
    std::uint64_t events_logged_ = 0;

    runtime::alarm timer_;                               // the timer loop's sleep
    std::optional<replica_set::time_point> armed_until_; // ... while it sleeps
    runtime::alarm progress_;                            // start-up and /add wait on it
    runtime::alarm stop_;                                // run() waits on it until stop()

    // Publication state. Tables are built from set_ when the publisher gets to them, so a
    // burst of changes makes one table, not one each.
    std::uint64_t generation_ = 0;
    std::uint64_t requested_ = 0; // publication requests made
    std::uint64_t built_ = 0;     // the request the latest table was built after
    std::uint64_t acked_ = 0;     // ... and the one every worker acknowledged last
    std::uint64_t requested_membership_ = ~0ULL;
    std::uint64_t requested_health_ = ~0ULL;
    std::uint64_t ring_membership_ = ~0ULL; // the membership version ring_ was built from
    std::shared_ptr<const hashing::ring_snapshot> ring_;
    runtime::alarm publisher_wake_;
    std::vector<std::pair<std::uint64_t, std::coroutine_handle<>>> publication_waiters_;
    std::uint64_t ring_changes_ = 0;

    std::unique_ptr<net::request_handler> admin_handler_;
    std::unique_ptr<net::http_server> admin_server_;
    net::unique_fd admin_listener_;

    mutable std::mutex current_mutex_; // guards current_ for the thread-safe reader
    std::shared_ptr<const routing_table> current_;
};

} // namespace balancer
