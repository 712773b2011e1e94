#pragma once
// replica_set: the control plane's replicas and their whole lifecycle, as a state machine
// without I/O (docs/design.md, "Replica lifecycle"). The control thread tells it what happened
// (a spawn finished or failed, a heartbeat passed or failed, a replica exited, time passed,
// the control API asked for a change) and carries out what it asks for (spawn, stop, probe:
// take_commands()). Every answer names the replica and the incarnation it is about, and an
// answer for an older incarnation is ignored, so nothing depends on when answers arrive.
// Records are found by name at every event: no reference to one is kept across a wait.
// Tests drive it with a fake orchestrator and a fake clock (tests/unit/balancer).
// Control thread only; allocates per replica and per command.

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hashing/membership.hpp"
#include "net/endpoint.hpp"

namespace balancer {

enum class replica_state : std::uint8_t {
    joining,    // started by an /add that has not answered yet: not a member
    starting,   // (re)started, waiting for its first passing heartbeat: not routable
    up,         // serving
    suspect,    // serving, but its last heartbeat failed (fewer than `fall` in a row)
    down,       // not routable; a spawning backend replaces it, a static one probes on
    respawning, // its replacement is being started, or waits out its backoff
    removing,   // removed (/rm, or replaced under a new name): being stopped
};

std::string_view to_string(replica_state state) noexcept;

struct replica_command {
    enum class kind : std::uint8_t { spawn, stop, probe };
    kind what = kind::probe;
    std::string name;
    std::uint64_t id = 0;
    std::uint64_t incarnation = 0;
    net::endpoint address{}; // probe: where
    bool graceful = false;   // stop: let requests in flight finish first (else at once)
    bool respawn = false;    // stop: what is left goes before the same name starts again
};

struct lifecycle_options {
    bool spawns = true; // false: a static backend (nothing is started, stopped or replaced)
    int fall = 2;       // failed heartbeats in a row that take a replica out
    std::chrono::milliseconds heartbeat{500};
    std::chrono::milliseconds startup_probe{20}; // probe interval while starting
    std::chrono::milliseconds startup_timeout{10'000};
    // A replica that keeps dying waits first_backoff before its second restart in a row,
    // doubling up to max_backoff; one that stayed up for stable_after restarts at once.
    std::chrono::milliseconds first_backoff{100};
    std::chrono::milliseconds max_backoff{5'000};
    std::chrono::milliseconds stable_after{10'000};
    bool new_name_on_respawn = false; // --respawn-name new
};

// Something that happened to a replica, for logs and the dashboard.
struct lifecycle_event {
    std::chrono::system_clock::time_point when;
    std::string what; // added, removed, up, down, respawned, replaced
    std::string name;
    std::string detail;
};

struct replica_record {
    std::string name;
    std::uint64_t id = 0;
    std::uint32_t weight = 1;
    replica_state state = replica_state::starting;
    std::uint64_t incarnation = 0; // one per spawn
    std::optional<net::endpoint> address;
    int failures = 0;
    std::chrono::milliseconds backoff{0}; // the next respawn's delay
    std::chrono::steady_clock::time_point next_probe{};
    std::chrono::steady_clock::time_point deadline{}; // joining, starting: healthy by then
    std::chrono::steady_clock::time_point respawn_at{};
    std::chrono::steady_clock::time_point up_since{};
    bool probing = false;
    bool spawning = false;
    bool stopping = false;
    bool healthy = false;     // joining: has passed a heartbeat
    bool probed_once = false; // joining: has been probed (a static /add answers after one)
    bool exited_while_spawning = false;
    bool member = false;       // part of the routing membership
    bool stop_pending = false; // removing: stop once the table without it is published
    std::uint64_t respawns = 0;
    std::uint64_t spawn_failures = 0;
    std::string last_failure;
};

class replica_set {
public:
    using clock = std::chrono::steady_clock;
    using time_point = clock::time_point;

    explicit replica_set(lifecycle_options options) : options_(options) {}

    // A member from the start (initial replicas, static upstreams, adopted containers): it
    // is started (spawn) and joins the ring once it passes a heartbeat.
    void add_member(std::string name, std::uint64_t id, std::uint32_t weight, time_point now);

    // /add: replicas started but not members until commit(); abandon() stops them again.
    void join(std::string name, std::uint64_t id, std::uint32_t weight, time_point now);
    struct join_progress {
        enum class kind : std::uint8_t { pending, ready, failed } state = kind::pending;
        std::string reason; // failed: what went wrong
    };
    join_progress progress(std::string_view name) const;
    void commit(std::span<const std::string> names, time_point now);
    void abandon(std::span<const std::string> names);

    // /rm: no longer members; stopped (gracefully) once release_removed() says the table
    // without them is published.
    void remove(std::span<const std::string> names);
    void release_removed();

    // Answers to commands, and what the orchestrator and the proxy report.
    void spawned(std::string_view name, std::uint64_t incarnation, net::endpoint where,
                 time_point now);
    void spawn_failed(std::string_view name, std::uint64_t incarnation, std::string reason,
                      time_point now);
    void probed(std::string_view name, std::uint64_t incarnation, bool passed, time_point now);
    void stopped(std::string_view name, std::uint64_t incarnation, time_point now);
    void exited(std::string_view name, std::string reason, time_point now);
    void suspect(std::string_view name, time_point now);
    // Time passed: probes, startup deadlines, respawns after their backoff.
    void tick(time_point now);

    std::vector<replica_command> take_commands();
    // The earliest time tick() has something to do, if any.
    std::optional<time_point> next_due() const;

    // The routing membership: names, ids and weights of the members, in the order they
    // became members (only `spec` cares), their addresses, and which may be picked now.
    hashing::membership members() const;
    std::vector<std::optional<net::endpoint>> member_addresses() const;
    std::vector<std::uint8_t> routable() const;
    // /rep: the members that serve, in member order.
    std::vector<std::string> serving() const;
    // Every member's name, for /rm and the name checks of /add.
    std::vector<std::string> member_names() const;
    // Names taken by any record (members, replicas joining or being removed).
    bool in_use(std::string_view name) const { return records_.contains(name); }
    // Ids are never handed out twice in a process's life (a removed replica's id is not
    // reused), so a new replica is never taken for an old one.
    std::uint64_t next_id() const;

    // Bumped when the membership changes (a new table) and when only who may be picked
    // changes (health, no new table).
    std::uint64_t membership_version() const noexcept { return membership_version_; }
    std::uint64_t health_version() const noexcept { return health_version_; }

    const replica_record* find(std::string_view name) const;
    const std::map<std::string, replica_record, std::less<>>& records() const noexcept {
        return records_;
    }
    // The latest lifecycle events, oldest first (at most 100).
    const std::deque<lifecycle_event>& events() const noexcept { return events_; }
    // Events ever recorded (the deque keeps the latest): what is new since a count seen.
    std::uint64_t events_recorded() const noexcept { return events_recorded_; }
    std::uint64_t respawns() const noexcept { return respawns_; }
    const lifecycle_options& options() const noexcept { return options_; }

private:
    replica_record* find_mutable(std::string_view name);
    // A record (a member unless joining), its id noted as used.
    replica_record& new_record(const std::string& name, std::uint64_t id, std::uint32_t weight,
                               replica_state state);
    static bool routable(const replica_record& record) noexcept;
    void set_state(replica_record& record, replica_state state);
    void issue_spawn(replica_record& record, time_point now);
    void issue_stop(replica_record& record, bool graceful, bool respawn = false);
    void issue_probe(replica_record& record);
    // A member died or failed: replace it (same name, or a new one), or mark it down.
    void replace(replica_record& record, std::string reason, time_point now);
    void become_up(replica_record& record, time_point now);
    void forget(std::string_view name);
    void log(std::string what, std::string_view name, std::string detail = {});
    std::string fresh_name() const;
    void note_id(std::uint64_t id) noexcept;

    lifecycle_options options_;
    std::map<std::string, replica_record, std::less<>> records_;
    std::vector<std::string> order_; // members, in the order they became members
    std::vector<replica_command> commands_;
    std::deque<lifecycle_event> events_;
    std::uint64_t highest_id_ = 0; // the highest id any record ever had
    std::uint64_t membership_version_ = 0;
    std::uint64_t health_version_ = 0;
    std::uint64_t respawns_ = 0;
    std::uint64_t events_recorded_ = 0;
};

} // namespace balancer
