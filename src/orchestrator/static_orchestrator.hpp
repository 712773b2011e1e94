#pragma once
// static_orchestrator: a fixed set of host:port upstreams. Nothing is spawned or stopped:
// "spawning" a replica named "host:port" finds that address, and health checks alone
// decide whether it may be picked. A name given to /add must be a numeric address unless
// lbd was started with --allow-dns-upstreams; names (and those of --upstream, which the
// operator chose) are resolved off the control thread, with a timeout (net::resolve).
// Control thread only.

#include <chrono>
#include <set>
#include <string>

#include "orchestrator/orchestrator.hpp"

namespace orchestrator {

class static_orchestrator final : public orchestrator {
public:
    static constexpr std::chrono::milliseconds resolve_timeout{2000};

    // `configured`: the --upstream names, resolved whatever `allow_names` says.
    explicit static_orchestrator(std::set<std::string, std::less<>> configured = {},
                                 bool allow_names = false)
        : configured_(std::move(configured)), allow_names_(allow_names) {}

    runtime::task<std::expected<net::endpoint, spawn_failure>>
    spawn(spawn_request request) override;
    runtime::task<void> remove(std::string, std::chrono::milliseconds) override { co_return; }
    runtime::task<void> remove_all(std::chrono::milliseconds) override { co_return; }
    void on_exit(exit_handler) override {}
    bool spawns() const override { return false; }
    std::string_view name() const override { return "static"; }

private:
    std::set<std::string, std::less<>> configured_;
    bool allow_names_;
};

} // namespace orchestrator
