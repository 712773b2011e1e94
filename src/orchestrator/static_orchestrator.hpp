#pragma once
// static_orchestrator: a fixed set of host:port upstreams. Nothing is spawned or stopped:
// "spawning" a replica named "host:port" resolves that address, and health checks alone
// decide whether it is in the ring. Control thread only.

#include "orchestrator/orchestrator.hpp"

namespace orchestrator {

class static_orchestrator final : public orchestrator {
public:
    runtime::task<std::expected<net::endpoint, spawn_failure>> spawn(std::string name,
                                                                     std::uint64_t id) override;
    runtime::task<void> remove(std::string, std::chrono::milliseconds) override { co_return; }
    runtime::task<void> remove_all(std::chrono::milliseconds) override { co_return; }
    void on_exit(exit_handler) override {}
    bool spawns() const override { return false; }
    std::string_view name() const override { return "static"; }
};

} // namespace orchestrator
