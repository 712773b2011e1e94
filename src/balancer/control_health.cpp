// The control thread's health keeping: heartbeats with a fall threshold, passive marking
// from the proxy, child exits, and respawn with the same name and id (control_plane
// members kept apart from the membership and publication logic).

#include <algorithm>

#include "balancer/control_plane.hpp"
#include "balancer/log.hpp"
#include "net/http_client.hpp"
#include "runtime/io.hpp"

namespace balancer {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

runtime::task<bool> control_plane::heartbeat(const net::endpoint& address) {
    const milliseconds timeout = std::min<milliseconds>(config_.heartbeat, 1s);
    auto answer = co_await net::fetch(address, {.target = "/heartbeat"}, timeout, 4096);
    co_return answer && answer->status == 200;
}

runtime::task<bool> control_plane::wait_healthy(net::endpoint address, milliseconds within,
                                                std::string name) {
    const auto deadline = std::chrono::steady_clock::now() + within;
    while (!stopping_) {
        if (auto found = starting_.find(name); found != starting_.end() && found->second) {
            co_return false; // it exited: no point in waiting for its heartbeat
        }
        if (co_await heartbeat(address)) {
            co_return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            break;
        }
        co_await runtime::sleep_for(probe_interval);
    }
    co_return false;
}

runtime::task<void> control_plane::health_loop() {
    while (!stopping_) {
        for (const auto& record : replicas_) {
            if (record.has_address && !record.probing && !record.respawning) {
                background_.spawn(check(record.name));
            }
        }
        // Sleep in short steps so a stop is noticed quickly.
        const auto wake = std::chrono::steady_clock::now() + config_.heartbeat;
        while (!stopping_ && std::chrono::steady_clock::now() < wake) {
            co_await runtime::sleep_for(std::min<milliseconds>(config_.heartbeat, 50ms));
        }
    }
}

runtime::task<void> control_plane::check(std::string name) {
    replica_record* record = find(name);
    if (record == nullptr || record->probing) {
        co_return;
    }
    record->probing = true;
    const net::endpoint address = record->address;
    const bool passed = co_await heartbeat(address);
    record = find(name); // the table may have changed while we waited
    if (record == nullptr) {
        co_return;
    }
    record->probing = false;
    if (!(record->address == address)) {
        co_return; // a probe of the replica this one replaced
    }
    if (record->respawning) {
        co_return;
    }
    if (passed) {
        record->failures = 0;
        if (record->state != health::up) {
            record->state = health::up;
            record->backoff = 0ms;
            log_event("info", "replica_up", {{"name", name}, {"address", address.to_string()}});
            co_await publish();
        }
        co_return;
    }
    if (record->state == health::up && ++record->failures >= config_.fall) {
        mark_down(*record, "heartbeat");
        co_await publish();
        if (backend_->spawns() && !stopping_) {
            co_await respawn(name, "heartbeat");
        }
    }
}

void control_plane::mark_down(replica_record& record, std::string_view reason) {
    record.state = health::down;
    record.failures = 0;
    log_event("warn", "replica_down", {{"name", record.name}, {"reason", reason}});
}

void control_plane::report_suspect(std::string name) {
    replica_record* record = find(name);
    if (record == nullptr || record->state != health::up || record->probing || record->respawning) {
        return;
    }
    // One failed probe is enough here: the proxy already saw the replica fail.
    record->failures = std::max(record->failures, config_.fall - 1);
    background_.spawn(check(std::move(name)));
}

void control_plane::on_replica_exit(const std::string& name, const std::string& reason) {
    if (auto starting = starting_.find(name); starting != starting_.end()) {
        starting->second = true;
        return;
    }
    replica_record* record = find(name);
    if (record == nullptr || stopping_) {
        return;
    }
    const bool was_up = record->state == health::up;
    mark_down(*record, reason);
    record->has_address = false;
    background_.spawn([](control_plane* self, bool publish_now, std::string who,
                         std::string why) -> runtime::task<void> {
        if (publish_now) {
            co_await self->publish(); // out of the ring at once
        }
        co_await self->respawn(std::move(who), std::move(why));
    }(this, was_up, name, reason));
}

runtime::task<void> control_plane::respawn(std::string name, std::string reason) {
    replica_record* record = find(name);
    if (record == nullptr || record->respawning) {
        co_return;
    }
    record->respawning = true;
    // A replica that keeps dying is restarted with a growing delay, not in a tight loop.
    if (record->backoff > 0ms) {
        co_await runtime::sleep_for(record->backoff);
    }
    record = find(name);
    if (record == nullptr || stopping_) {
        co_return;
    }
    record->backoff =
        std::min<milliseconds>(max_backoff, std::max<milliseconds>(100ms, record->backoff * 2));
    co_await backend_->remove(name, 0ms); // a hung process, if any
    const std::uint64_t id = record->id;
    auto spawned = co_await backend_->spawn(name, id);
    record = find(name);
    if (record == nullptr) {
        if (spawned) {
            co_await backend_->remove(name, stop_grace); // removed by /rm meanwhile
        }
        co_return;
    }
    record->respawning = false;
    if (!spawned) {
        log_event("error", "respawn_failed", {{"name", name}, {"error", spawned.error().message}});
        background_.spawn(respawn(name, reason));
        co_return;
    }
    record->address = *spawned;
    record->has_address = true;
    record->state = health::starting;
    ++record->respawns;
    ++counters_.respawns;
    log_event("info", "replica_respawned",
              {{"name", name}, {"reason", reason}, {"address", spawned->to_string()}});
    if (co_await wait_healthy(*spawned, config_.startup_timeout)) {
        record = find(name);
        if (record != nullptr && record->state != health::up && record->has_address &&
            record->address == *spawned) {
            record->state = health::up;
            record->failures = 0;
            log_event("info", "replica_up", {{"name", name}, {"address", spawned->to_string()}});
            co_await publish();
        }
    }
}

} // namespace balancer
