#pragma once
// docker_orchestrator: replicas as containers, through the Docker Engine API over its Unix
// socket (docker_api). Containers carry labels (managed by lbd, instance, name, id), the
// replica's name as container name, hostname and network alias, and SERVER_ID. A follower
// of GET /events hears a replica die at once (also while it is being started) and, when the
// daemon restarts, reconnects from the last event it saw (since=), so no death is lost.
// A restarted lbd adopts the running containers of its instance and removes its stopped
// ones. Control thread only.

#include <map>
#include <memory>
#include <set>
#include <string>

#include "orchestrator/docker_api.hpp"
#include "orchestrator/engine_labels.hpp"
#include "orchestrator/orchestrator.hpp"
#include "runtime/io.hpp"
#include "runtime/scope.hpp"

namespace orchestrator {

struct docker_options : engine_options {
    std::string seccomp_path; // the seccomp profile's path on the engine's host (Podman)
};

class docker_orchestrator final : public orchestrator {
public:
    explicit docker_orchestrator(docker_options options);
    ~docker_orchestrator() override;

    runtime::task<std::expected<net::endpoint, spawn_failure>>
    spawn(spawn_request request) override;
    runtime::task<void> remove(std::string name, std::chrono::milliseconds grace) override;
    runtime::task<void> remove_all(std::chrono::milliseconds grace) override;
    runtime::task<std::vector<adopted_replica>> adopt() override;
    void on_exit(exit_handler handler) override { exit_handler_ = std::move(handler); }
    bool spawns() const override { return true; }
    std::string_view name() const override { return "docker"; }

private:
    struct container {
        std::string id;
        net::endpoint address; // unset while it starts
    };
    runtime::task<std::optional<docker_error>> ready();
    runtime::task<void> follow_events();
    void on_death(const std::string& action, const std::string& id,
                  const std::map<std::string, std::string>& attributes);
    std::map<std::string, std::string> labels_for(const std::string& name, std::uint64_t id) const;
    std::vector<std::string> instance_filter() const;
    std::expected<net::endpoint, std::string> replica_endpoint(const std::string& address) const;

    docker_options options_;
    docker_api api_;
    bool connected_ = false;
    bool stopping_ = false;
    int events_fd_ = -1;
    runtime::cancel_slot events_backoff_;
    std::map<std::string, container> containers_;
    std::map<std::string, container> adopted_;
    std::set<std::string> reported_; // ids of containers whose death was reported
    exit_handler exit_handler_;
    runtime::scope background_;
};

} // namespace orchestrator
