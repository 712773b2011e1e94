#include "balancer/replica_set.hpp"

#include <algorithm>
#include <cassert>
#include <utility>

namespace balancer {

using std::chrono::milliseconds;

std::string_view to_string(replica_state state) noexcept {
    switch (state) {
    case replica_state::joining:
        return "joining";
    case replica_state::starting:
        return "starting";
    case replica_state::up:
        return "up";
    case replica_state::suspect:
        return "suspect";
    case replica_state::down:
        return "down";
    case replica_state::respawning:
        return "respawning";
    case replica_state::removing:
        return "removing";
    }
    return "unknown";
}

bool replica_set::routable(const replica_record& record) noexcept {
    return record.member &&
           (record.state == replica_state::up || record.state == replica_state::suspect);
}

replica_record* replica_set::find_mutable(std::string_view name) {
    auto found = records_.find(name);
    return found == records_.end() ? nullptr : &found->second;
}

const replica_record* replica_set::find(std::string_view name) const {
    auto found = records_.find(name);
    return found == records_.end() ? nullptr : &found->second;
}

void replica_set::log(std::string what, std::string_view name, std::string detail) {
    events_.push_back(
        {std::chrono::system_clock::now(), std::move(what), std::string(name), std::move(detail)});
    ++events_recorded_;
    if (events_.size() > 100) {
        events_.pop_front();
    }
}

void replica_set::set_state(replica_record& record, replica_state state) {
    const bool was = routable(record);
    record.state = state;
    if (routable(record) != was) {
        ++health_version_;
    }
}

void replica_set::issue_spawn(replica_record& record, time_point now) {
    assert(!record.spawning && !record.stopping);
    ++record.incarnation;
    record.spawning = true;
    record.probing = false;
    record.healthy = false;
    record.probed_once = false;
    record.exited_while_spawning = false;
    record.address.reset();
    record.failures = 0;
    record.deadline = now + options_.startup_timeout;
    commands_.push_back({replica_command::kind::spawn, record.name, record.id, record.incarnation});
}

void replica_set::issue_stop(replica_record& record, bool graceful, bool respawn) {
    record.stopping = true;
    record.probing = false;
    commands_.push_back({replica_command::kind::stop,
                         record.name,
                         record.id,
                         record.incarnation,
                         {},
                         graceful,
                         respawn});
}

void replica_set::issue_probe(replica_record& record) {
    assert(record.address);
    record.probing = true;
    commands_.push_back({replica_command::kind::probe, record.name, record.id, record.incarnation,
                         *record.address});
}

replica_record& replica_set::new_record(const std::string& name, std::uint64_t id,
                                        std::uint32_t weight, replica_state state) {
    assert(!records_.contains(name));
    note_id(id);
    replica_record& record = records_[name];
    record.name = name;
    record.id = id;
    record.weight = weight;
    record.state = state;
    if (state != replica_state::joining) {
        record.member = true;
        order_.push_back(name);
        ++membership_version_;
    }
    return record;
}

void replica_set::add_member(std::string name, std::uint64_t id, std::uint32_t weight,
                             time_point now) {
    issue_spawn(new_record(name, id, weight, replica_state::starting), now);
}

void replica_set::join(std::string name, std::uint64_t id, std::uint32_t weight, time_point now) {
    issue_spawn(new_record(name, id, weight, replica_state::joining), now);
}

replica_set::join_progress replica_set::progress(std::string_view name) const {
    const replica_record* record = find(name);
    if (record == nullptr || record->state != replica_state::joining) {
        return {join_progress::kind::failed, record == nullptr ? "gone" : record->last_failure};
    }
    if (!record->last_failure.empty()) {
        return {join_progress::kind::failed, record->last_failure};
    }
    // A static backend's /add answers after one probe, pass or fail (a server may come later).
    const bool ready = options_.spawns ? record->healthy : record->probed_once;
    return {ready ? join_progress::kind::ready : join_progress::kind::pending, {}};
}

void replica_set::commit(std::span<const std::string> names, time_point now) {
    for (const std::string& name : names) {
        replica_record* record = find_mutable(name);
        if (record == nullptr || record->state != replica_state::joining) {
            continue;
        }
        record->member = true;
        order_.push_back(record->name);
        log("added", record->name, record->address ? record->address->to_string() : "");
        if (record->healthy) {
            become_up(*record, now);
        } else {
            set_state(*record, replica_state::down);
            record->next_probe = now + options_.heartbeat;
        }
    }
    ++membership_version_;
}

void replica_set::abandon(std::span<const std::string> names) {
    for (const std::string& name : names) {
        replica_record* record = find_mutable(name);
        if (record == nullptr || record->state != replica_state::joining) {
            continue;
        }
        set_state(*record, replica_state::removing);
        if (!record->spawning && !record->stopping) {
            issue_stop(*record, false);
        }
    }
}

void replica_set::remove(std::span<const std::string> names) {
    for (const std::string& name : names) {
        replica_record* record = find_mutable(name);
        if (record == nullptr || !record->member) {
            continue;
        }
        set_state(*record, replica_state::removing);
        record->member = false;
        record->stop_pending = true;
        std::erase(order_, record->name);
        log("removed", record->name);
    }
    ++membership_version_;
}

void replica_set::release_removed() {
    for (auto& [name, record] : records_) {
        if (record.state == replica_state::removing && record.stop_pending) {
            record.stop_pending = false;
            if (!record.spawning && !record.stopping) {
                issue_stop(record, true);
            }
        }
    }
}

void replica_set::become_up(replica_record& record, time_point now) {
    record.failures = 0;
    record.up_since = now;
    record.next_probe = now + options_.heartbeat;
    if (record.state != replica_state::up && record.state != replica_state::suspect) {
        log("up", record.name, record.address ? record.address->to_string() : "");
    }
    set_state(record, replica_state::up);
}

void replica_set::spawned(std::string_view name, std::uint64_t incarnation, net::endpoint where,
                          time_point now) {
    replica_record* record = find_mutable(name);
    if (record == nullptr || record->incarnation != incarnation || !record->spawning) {
        return;
    }
    record->spawning = false;
    record->address = where;
    record->deadline = now + options_.startup_timeout; // counted from the start, not the request
    if (record->state == replica_state::removing) {
        // Removed while it was being started: stop what was just started.
        issue_stop(*record, false);
        return;
    }
    if (record->state == replica_state::respawning) {
        ++record->respawns;
        ++respawns_;
        log("respawned", record->name, where.to_string());
        set_state(*record, replica_state::starting);
    }
    if (record->exited_while_spawning) {
        exited(name, "exited while starting", now);
        return;
    }
    record->next_probe = now; // probe at once
    tick(now);
}

void replica_set::spawn_failed(std::string_view name, std::uint64_t incarnation, std::string reason,
                               time_point now) {
    replica_record* record = find_mutable(name);
    if (record == nullptr || record->incarnation != incarnation || !record->spawning) {
        return;
    }
    record->spawning = false;
    ++record->spawn_failures;
    record->last_failure = reason;
    switch (record->state) {
    case replica_state::removing:
        forget(name);
        return;
    case replica_state::joining:
        return; // progress() reports it; the /add rolls back
    default:
        // An initial member or a replacement that could not start: try again after the
        // backoff (the start-up of lbd looks at spawn_failures and gives up instead).
        set_state(*record, replica_state::respawning);
        record->respawn_at = now + record->backoff;
        record->backoff =
            std::clamp(record->backoff * 2, options_.first_backoff, options_.max_backoff);
        return;
    }
}

void replica_set::probed(std::string_view name, std::uint64_t incarnation, bool passed,
                         time_point now) {
    replica_record* record = find_mutable(name);
    if (record == nullptr || record->incarnation != incarnation || !record->probing) {
        return;
    }
    record->probing = false;
    switch (record->state) {
    case replica_state::joining:
        record->probed_once = true;
        record->healthy = record->healthy || passed;
        record->next_probe = now + options_.startup_probe;
        return;
    case replica_state::starting:
        if (passed) {
            become_up(*record, now);
        } else {
            record->next_probe =
                now + (options_.spawns ? options_.startup_probe : options_.heartbeat);
        }
        return;
    case replica_state::up:
    case replica_state::suspect:
        if (passed) {
            if (record->state == replica_state::suspect) {
                log("up", record->name, "heartbeat passed again");
            }
            record->failures = 0;
            set_state(*record, replica_state::up);
            record->next_probe = now + options_.heartbeat;
            return;
        }
        if (++record->failures >= options_.fall) {
            replace(*record, "heartbeat", now);
            return;
        }
        if (record->state == replica_state::up) {
            log("suspect", record->name, "heartbeat failed");
        }
        set_state(*record, replica_state::suspect);
        record->next_probe = now + options_.heartbeat;
        return;
    case replica_state::down:
        if (passed) {
            become_up(*record, now);
        } else {
            record->next_probe = now + options_.heartbeat;
        }
        return;
    case replica_state::respawning:
    case replica_state::removing:
        return;
    }
}

void replica_set::stopped(std::string_view name, std::uint64_t incarnation, time_point now) {
    replica_record* record = find_mutable(name);
    if (record == nullptr || record->incarnation != incarnation || !record->stopping) {
        return;
    }
    record->stopping = false;
    if (record->state == replica_state::removing) {
        forget(name);
        return;
    }
    // A respawning record spawns now, or once its backoff is over.
    if (record->state == replica_state::respawning && now >= record->respawn_at) {
        issue_spawn(*record, now);
    }
}

void replica_set::exited(std::string_view name, std::string reason, time_point now) {
    replica_record* record = find_mutable(name);
    if (record == nullptr || !options_.spawns) {
        return;
    }
    if (record->spawning) {
        // The die of what is being started (Docker may report it before the start call
        // returns): act on it once the spawn answers.
        record->exited_while_spawning = true;
        return;
    }
    switch (record->state) {
    case replica_state::joining:
        record->last_failure = "exited while starting";
        return;
    case replica_state::starting:
    case replica_state::up:
    case replica_state::suspect:
    case replica_state::down:
        replace(*record, std::move(reason), now);
        return;
    case replica_state::respawning:
    case replica_state::removing:
        return; // it was on its way out already
    }
}

void replica_set::suspect(std::string_view name, time_point now) {
    replica_record* record = find_mutable(name);
    if (record == nullptr ||
        (record->state != replica_state::up && record->state != replica_state::suspect)) {
        return;
    }
    // The proxy saw it fail: one failed probe more takes it out.
    record->failures = std::max(record->failures, options_.fall - 1);
    if (!record->probing) {
        record->next_probe = now;
        tick(now);
    }
}

void replica_set::replace(replica_record& record, std::string reason, time_point now) {
    log("down", record.name, reason);
    record.last_failure = reason;
    if (!options_.spawns) {
        set_state(record, replica_state::down);
        record.failures = 0;
        record.next_probe = now + options_.heartbeat;
        return;
    }
    // One that stayed up long enough restarts at once again; one that keeps dying waits.
    if (record.state == replica_state::up && now - record.up_since >= options_.stable_after) {
        record.backoff = milliseconds{0};
    }
    const milliseconds delay = record.backoff;
    record.backoff = std::clamp(record.backoff * 2, options_.first_backoff, options_.max_backoff);
    if (options_.new_name_on_respawn && record.member) {
        // Replaced under a new name and id: the dead name leaves at once.
        const std::string old_name = record.name;
        const milliseconds next_backoff = record.backoff;
        const std::uint32_t weight = record.weight;
        const std::uint64_t id = next_id();
        const std::string new_name = fresh_name();
        std::vector<std::string> gone{old_name};
        remove(gone);
        // Not routable already: it may stop at once, before the new table is out.
        record.stop_pending = false;
        if (!record.stopping && !record.spawning) {
            issue_stop(record, false);
        }
        replica_record& fresh = new_record(new_name, id, weight, replica_state::respawning);
        fresh.backoff = next_backoff;
        fresh.respawn_at = now + delay;
        log("replaced", old_name, new_name);
        tick(now);
        return;
    }
    set_state(record, replica_state::respawning);
    record.respawn_at = now + delay;
    // Whatever is left of it goes first (a hung process, a dead container blocking the name).
    if (!record.stopping) {
        issue_stop(record, false, true);
    }
}

void replica_set::forget(std::string_view name) {
    auto found = records_.find(name);
    if (found != records_.end()) {
        assert(!found->second.member);
        records_.erase(found);
    }
}

void replica_set::tick(time_point now) {
    for (auto& [name, record] : records_) {
        switch (record.state) {
        case replica_state::joining:
        case replica_state::starting: {
            if (!record.address || record.spawning || record.probing) {
                break; // a probe in flight at the deadline gets its answer first
            }
            if (options_.spawns && now >= record.deadline && !record.healthy) {
                if (record.state == replica_state::joining) {
                    if (record.last_failure.empty()) {
                        record.last_failure = "did not become healthy";
                    }
                } else {
                    replace(record, "no heartbeat within the start-up timeout", now);
                }
                break;
            }
            // A joining replica that failed waits for its /add to roll back.
            const bool failed =
                record.state == replica_state::joining && !record.last_failure.empty();
            if (now >= record.next_probe && !failed) {
                issue_probe(record);
            }
            break;
        }
        case replica_state::up:
        case replica_state::suspect:
        case replica_state::down:
            if (record.address && !record.probing && now >= record.next_probe) {
                issue_probe(record);
            }
            break;
        case replica_state::respawning:
            if (!record.stopping && !record.spawning && now >= record.respawn_at) {
                issue_spawn(record, now);
            }
            break;
        case replica_state::removing:
            break;
        }
    }
}

std::optional<replica_set::time_point> replica_set::next_due() const {
    std::optional<time_point> due;
    const auto consider = [&due](time_point t) { due = due ? std::min(*due, t) : t; };
    for (const auto& [name, record] : records_) {
        switch (record.state) {
        case replica_state::joining:
        case replica_state::starting:
            if (record.address && !record.spawning) {
                if (record.state == replica_state::joining && !record.last_failure.empty()) {
                    break; // waits for its /add to roll back
                }
                if (record.probing) {
                    break; // its answer comes first, deadline or not
                }
                consider(record.next_probe);
                if (options_.spawns && !record.healthy) {
                    consider(record.deadline);
                }
            }
            break;
        case replica_state::up:
        case replica_state::suspect:
        case replica_state::down:
            if (record.address && !record.probing) {
                consider(record.next_probe);
            }
            break;
        case replica_state::respawning:
            if (!record.stopping && !record.spawning) {
                consider(record.respawn_at);
            }
            break;
        case replica_state::removing:
            break;
        }
    }
    return due;
}

std::vector<replica_command> replica_set::take_commands() {
    return std::exchange(commands_, {});
}

hashing::membership replica_set::members() const {
    hashing::membership out;
    out.reserve(order_.size());
    for (const std::string& name : order_) {
        const replica_record& record = records_.find(name)->second;
        out.push_back({record.name, record.id, record.weight});
    }
    return out;
}

std::vector<std::optional<net::endpoint>> replica_set::member_addresses() const {
    std::vector<std::optional<net::endpoint>> out;
    out.reserve(order_.size());
    for (const std::string& name : order_) {
        out.push_back(records_.find(name)->second.address);
    }
    return out;
}

std::vector<std::uint8_t> replica_set::routable() const {
    std::vector<std::uint8_t> out;
    out.reserve(order_.size());
    for (const std::string& name : order_) {
        out.push_back(routable(records_.find(name)->second) ? 1 : 0);
    }
    return out;
}

std::vector<std::string> replica_set::serving() const {
    std::vector<std::string> out;
    for (const std::string& name : order_) {
        if (routable(records_.find(name)->second)) {
            out.push_back(name);
        }
    }
    return out;
}

std::vector<std::string> replica_set::member_names() const {
    return order_;
}

std::uint64_t replica_set::next_id() const {
    std::uint64_t highest = highest_id_;
    for (const auto& [name, record] : records_) {
        highest = std::max(highest, record.id);
    }
    return highest + 1;
}

void replica_set::note_id(std::uint64_t id) noexcept {
    highest_id_ = std::max(highest_id_, id);
}

std::string replica_set::fresh_name() const {
    for (std::uint64_t k = 1;; ++k) {
        std::string candidate = "Server" + std::to_string(k);
        if (!records_.contains(candidate)) {
            return candidate;
        }
    }
}

} // namespace balancer
