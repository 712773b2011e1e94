#pragma once
// swarm_orchestrator: replicas as Docker Swarm services across the nodes of a swarm, through
// a manager's Engine API (docs/design.md, "Swarm"). Each replica is one service named after
// its hostname, with one task, DNS round robin (no VIP), on an attachable overlay network;
// Swarm itself restarts and reschedules its task, lbd routes to the running task's overlay
// address. Several balancers with the same instance share the services: each polls the
// instance's services and their tasks (every `poll`, and at once on a service event), and
// reports the membership the others changed (on_membership), so that they all build the same
// table. A task that stops running is reported as an exit at once. Shutting down leaves the
// services running for the other balancers (and for this one's next life, which adopts
// them). Calls that hang (a leader election) time out; a failed poll changes nothing, so lbd
// keeps routing by the last membership it knew. Control thread only.

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "orchestrator/docker_api.hpp"
#include "orchestrator/engine_labels.hpp"
#include "orchestrator/orchestrator.hpp"
#include "orchestrator/swarm_api.hpp"
#include "runtime/alarm.hpp"
#include "runtime/io.hpp"
#include "runtime/scope.hpp"

namespace orchestrator {

struct swarm_options : engine_options { // socket: a manager's Engine API
    std::chrono::milliseconds poll{250};
    std::chrono::milliseconds call_timeout{3000};
    std::chrono::milliseconds start_timeout{10'000}; // until a service's task runs
};

// Of services sharing one lbd.id (two balancers added different names at once), the one
// created first keeps it, then the lower name: every balancer drops the same ones. Also
// drops services without a name or an id label. Sorted by name.
std::vector<swarm_service> agreed_services(std::vector<swarm_service> services);

class swarm_orchestrator final : public orchestrator {
public:
    explicit swarm_orchestrator(swarm_options options);
    ~swarm_orchestrator() override;

    runtime::task<std::expected<net::endpoint, spawn_failure>>
    spawn(spawn_request request) override;
    runtime::task<void> remove(std::string name, std::chrono::milliseconds grace) override;
    runtime::task<void> clear_for_respawn(std::string name) override;
    void begin_shutdown() override;
    runtime::task<void> remove_all(std::chrono::milliseconds grace) override;
    runtime::task<std::vector<adopted_replica>> adopt() override;
    void on_exit(exit_handler handler) override { exit_handler_ = std::move(handler); }
    void on_membership(membership_handler handler) override {
        membership_handler_ = std::move(handler);
    }
    bool spawns() const override { return true; }
    std::string_view name() const override { return "swarm"; }

private:
    struct tracked {
        std::string service_id;
        std::string task_id;  // the running task routed to; "" while waiting for one
        bool created = false; // by this spawn (rolled back on failure)
        // The task routed to when the replica failed (its heartbeats): a respawn takes
        // another one, unless Swarm still runs it after suspect_grace.
        std::string suspect_task;
        std::chrono::steady_clock::time_point suspect_since{};
    };
    static constexpr std::chrono::milliseconds suspect_grace{3000};
    runtime::task<std::optional<docker_error>> ready();
    runtime::task<std::expected<net::endpoint, spawn_failure>> create(const spawn_request& request);
    runtime::task<std::expected<net::endpoint, spawn_failure>> await_task(std::string name);
    runtime::task<std::optional<std::string>> find_made(const service_spec& spec);
    runtime::task<std::optional<spawn_failure>> check_id_taken(const spawn_request& request,
                                                               const std::string& service_id);
    // Removes a service by ID; one the manager did not remove is retried at every poll.
    runtime::task<void> delete_service(std::string service_id);
    runtime::task<void> poll_loop();
    runtime::task<void> follow_events();
    // Reports the tracked replicas of the `watched` services whose task no longer runs.
    void check_tasks(const std::vector<swarm_task>& tasks, const std::set<std::string>& watched);
    void report(const std::vector<swarm_service>& services);
    std::vector<std::string> instance_filter() const;
    void start_background();

    swarm_options options_;
    docker_api engine_;
    swarm_api swarm_;
    bool connected_ = false;
    bool started_ = false;
    bool stopping_ = false;
    int events_fd_ = -1;
    std::uint64_t changes_ = 0; // bumped by every change of tracked_: an overlapping poll waits
    std::map<std::string, tracked> tracked_;    // replicas this balancer routes to, by name
    std::map<std::string, swarm_service> seen_; // the instance's services at the last report
    std::set<std::string> dead_tasks_;          // tasks reported as stopped
    std::set<std::string> undeleted_;           // services to remove, by ID, not removed yet
    bool poll_soon_ = false;                    // an event came while a poll ran
    runtime::alarm poll_wake_;
    runtime::cancel_slot events_backoff_;
    exit_handler exit_handler_;
    membership_handler membership_handler_;
    runtime::scope background_;
};

} // namespace orchestrator
