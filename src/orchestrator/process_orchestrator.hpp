#pragma once
// process_orchestrator: replicas as local lb-replica children. For each replica lbd binds
// 127.0.0.1:0 itself and hands the listening socket to the child as fd 3 (LISTEN_FDS=1),
// so there is no port race and the address is known before the child runs. Children get
// PR_SET_PDEATHSIG: none outlives lbd, even after kill -9 of lbd. Each child's pidfd is
// awaited on the control thread, so an exit is reported at once, and remove() waits for
// that same exit (no polling).
// NOTE: launch only from the control thread, which lives as long as lbd (the death
// signal follows the forking thread).

#include <map>
#include <memory>
#include <string>

#include "orchestrator/orchestrator.hpp"
#include "runtime/alarm.hpp"
#include "runtime/child_process.hpp"
#include "runtime/scope.hpp"

namespace orchestrator {

class process_orchestrator final : public orchestrator {
public:
    explicit process_orchestrator(std::string replica_binary,
                                  server_id_kind server_id = server_id_kind::number);
    ~process_orchestrator() override;

    runtime::task<std::expected<net::endpoint, spawn_failure>>
    spawn(spawn_request request) override;
    runtime::task<void> remove(std::string name, std::chrono::milliseconds grace) override;
    runtime::task<void> remove_all(std::chrono::milliseconds grace) override;
    void on_exit(exit_handler handler) override { exit_handler_ = std::move(handler); }
    bool spawns() const override { return true; }
    std::string_view name() const override { return "process"; }

private:
    struct child {
        runtime::child_process process;
        bool removing = false;
        bool exited = false;
        runtime::alarm reaped; // rung by the watcher once the child is reaped
    };
    static runtime::task<void> watch(process_orchestrator* self, std::string name,
                                     std::shared_ptr<child> watched);

    std::string binary_;
    server_id_kind server_id_;
    std::map<std::string, std::shared_ptr<child>> children_;
    exit_handler exit_handler_;
    runtime::scope watchers_;
};

} // namespace orchestrator
