#pragma once
// orchestrator: how lbd gets replicas. spawn() starts one and returns where it listens,
// remove() stops it, and the exit handler hears at once when one dies on its own. The
// backends: process (local lb-replica children, the default), static (fixed host:port
// upstreams, nothing spawned), docker (containers through the Docker Engine API) and swarm
// (Docker Swarm services across nodes, shared by several balancers). Every call
// runs on the control thread, which owns the orchestrator; spawn and remove may suspend but never
// block the thread.

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <string>
#include <vector>

#include "net/endpoint.hpp"
#include "runtime/task.hpp"

namespace orchestrator {

// A replica found running: from an earlier life of lbd (docker, swarm), or added by another
// balancer sharing the backend (swarm).
struct adopted_replica {
    std::string name;
    std::uint64_t id = 0;
    std::uint32_t weight = 0; // 0: not recorded by the backend (the configured one holds)
};

// What a spawn is for: a replica an /add introduces (a name another balancer already runs is
// a conflict, 409), or a member lbd takes as given (an initial replica, a respawn, one another
// balancer added), which a shared backend takes over when it runs already.
enum class spawn_kind : std::uint8_t { fresh, member };

struct spawn_request {
    std::string name;
    std::uint64_t id = 0;
    std::uint32_t weight = 1;
    spawn_kind kind = spawn_kind::member;
};

// What a replica's SERVER_ID (the id its /home answers with) is: its integer id (the
// assignment's, which the spec ring hashes), or its name (--replica-id name). Routing uses
// the integer id either way.
enum class server_id_kind : std::uint8_t { number, name };

inline std::string server_id_of(const std::string& name, std::uint64_t id, server_id_kind kind) {
    return kind == server_id_kind::name ? name : std::to_string(id);
}

struct spawn_failure {
    int http_status = 500; // how /add should answer: 500 for our side, 502 for a daemon, ...
    std::string message;   // for the user, e.g. "cannot start lb-replica: No such file"
};

class orchestrator {
public:
    // name: the replica's hostname; reason: a short token ("exited", "killed", ...).
    using exit_handler = std::function<void(const std::string& name, const std::string& reason)>;

    virtual ~orchestrator() = default;

    // appeared: replicas found since the last report (by whichever balancer added them);
    // vanished: names whose replica is gone since (removed by whichever balancer). Returns
    // the names of those appeared it cannot take yet (the name is still leaving): they are
    // reported again next time.
    using membership_handler = std::function<std::vector<std::string>(
        const std::vector<adopted_replica>& appeared, const std::vector<std::string>& vanished)>;

    // Starts the replica; completes once it was started (not yet healthy).
    virtual runtime::task<std::expected<net::endpoint, spawn_failure>>
    spawn(spawn_request request) = 0;
    // Stops and forgets `name`, letting requests in flight finish first (SIGTERM, then a
    // hard stop after `grace`). Unknown names are ignored.
    virtual runtime::task<void> remove(std::string name, std::chrono::milliseconds grace) = 0;
    // Clears what is left of `name` (a hung process, a dead container holding the name)
    // before it is spawned again under the same name. A backend that restarts replicas
    // itself (swarm) keeps it.
    virtual runtime::task<void> clear_for_respawn(std::string name) {
        co_await remove(std::move(name), std::chrono::milliseconds{0});
    }
    // lbd is stopping: spawns still waiting give up now (before remove_all()).
    virtual void begin_shutdown() {}
    // Stops everything it started (shutdown).
    virtual runtime::task<void> remove_all(std::chrono::milliseconds grace) = 0;
    // Replicas still running from an earlier lbd, which spawn() will hand back instead
    // of starting new ones; stale stopped ones are removed. Empty for most backends.
    virtual runtime::task<std::vector<adopted_replica>> adopt() { co_return {}; }
    // Called on the control thread when a replica dies without remove().
    virtual void on_exit(exit_handler handler) = 0;
    // Backends several balancers share (swarm) report the membership others change, on the
    // control thread; the others never call it.
    virtual void on_membership(membership_handler) {}
    // False for backends that cannot start replicas (static): /add then registers servers.
    virtual bool spawns() const = 0;
    virtual std::string_view name() const = 0;
};

} // namespace orchestrator
