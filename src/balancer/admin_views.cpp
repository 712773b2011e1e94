// The control thread's admin answers: /metrics, /ring and /stats (control_plane members
// kept apart from the membership logic).

#include "balancer/balancer_handler.hpp"
#include "balancer/control_plane.hpp"
#include "runtime/remote_call.hpp"
#include "json/json_writer.hpp"

namespace balancer {

namespace {
runtime::task<worker_metrics> copy_metrics(balancer_handler* handler) {
    co_return handler->metrics();
}
} // namespace

runtime::task<worker_metrics> control_plane::collect_metrics() {
    worker_metrics total;
    // A copy: workers_ may be cleared (detach) while this waits.
    std::vector<balancer_handler*> handlers;
    for (const auto& worker : workers_) {
        handlers.push_back(worker.handler);
    }
    for (std::size_t i = 0; i < handlers.size(); ++i) {
        if (workers_.size() != handlers.size()) {
            break; // detached: the workers are stopping
        }
        // Each worker copies its own counters on its own thread: nothing is shared.
        balancer_handler* handler = handlers[i];
        runtime::remote_call<worker_metrics> call{handler->home(), handler->scope(),
                                                  [handler] { return copy_metrics(handler); }};
        const worker_metrics copy = co_await call;
        total.merge(copy);
    }
    co_return total;
}

runtime::task<std::string> control_plane::metrics_text() {
    const worker_metrics requests = co_await collect_metrics();
    control_metrics control;
    control.replicas_managed = set_.member_names().size();
    control.replicas_up = set_.serving().size();
    control.respawns = set_.respawns();
    control.ring_changes = ring_changes_;
    co_return render_prometheus(requests, control);
}

// Keys in sorted order throughout: the answers are jsonify's bytes (json_writer).
std::string control_plane::ring_json() const {
    const std::shared_ptr<const routing_table> table = current();
    const hashing::ring_snapshot& ring = *table->ring;
    std::string message;
    json::json_writer writer{message};
    writer.begin_object()
        .key("algorithm")
        .value(hashing::to_string(ring.algorithm()))
        .key("generation")
        .value(table->generation)
        .key("positions")
        .value(ring.position_space())
        .key("replicas")
        .begin_array();
    for (const auto& replica : ring.replicas()) {
        writer.begin_object()
            .key("id")
            .value(replica.id)
            .key("name")
            .value(replica.name)
            .key("weight")
            .value(replica.weight)
            .end_object();
    }
    writer.end_array().key("slots").begin_array();
    // Large tables (maglev: 65537 entries) are summarised as runs of one replica.
    std::size_t run_start = 0;
    for (std::size_t i = 0; i <= ring.slot_count(); ++i) {
        if (i == ring.slot_count() ||
            (i > run_start && ring.slot_at(i).replica != ring.slot_at(run_start).replica)) {
            if (i > run_start) {
                const hashing::slot_entry first = ring.slot_at(run_start);
                writer.begin_object()
                    .key("from")
                    .value(first.position)
                    .key("replica")
                    .value(ring.replicas()[first.replica].name)
                    .key("to")
                    .value(ring.slot_at(i - 1).position)
                    .end_object();
            }
            run_start = i;
        }
    }
    writer.end_array().end_object();
    std::string out;
    json::append_status_raw(out, message, true);
    return out;
}

runtime::task<std::string> control_plane::stats_json() {
    const worker_metrics requests = co_await collect_metrics();
    std::string message;
    json::json_writer writer{message};
    const connection_counters& c = requests.connections;
    std::uint64_t tunnels = 0;
    for (const auto& [name, counters] : requests.replicas) {
        tunnels += counters.tunnels;
    }
    writer.begin_object()
        .key("connections")
        .begin_object()
        .key("accept_paused")
        .value(c.paused)
        .key("body_timeouts")
        .value(c.body_timeouts)
        .key("header_timeouts")
        .value(c.header_timeouts)
        .key("idle")
        .value(c.idle)
        .key("max")
        .value(c.max)
        .key("open")
        .value(c.open)
        .key("tunnels")
        .value(tunnels)
        .key("workers_at_limit")
        .value(c.at_limit)
        .end_object()
        .key("events")
        .begin_array();
    for (const lifecycle_event& event : set_.events()) {
        const auto since_epoch = event.when.time_since_epoch();
        writer.begin_object()
            .key("detail")
            .value(event.detail)
            .key("name")
            .value(event.name)
            .key("time_ms")
            .value(static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count()))
            .key("what")
            .value(event.what)
            .end_object();
    }
    writer.end_array().key("replicas").begin_array();
    for (const std::string& name : set_.member_names()) {
        const replica_record& record = *set_.find(name);
        replica_counters counters;
        if (auto found = requests.replicas.find(record.name); found != requests.replicas.end()) {
            counters = found->second;
        }
        std::uint64_t total = 0;
        for (auto count : counters.by_class) {
            total += count;
        }
        writer.begin_object()
            .key("address")
            .value(record.address ? record.address->to_string() : "")
            .key("errors")
            .value(counters.by_class[0] + counters.by_class[5])
            .key("health")
            .value(to_string(record.state))
            .key("id")
            .value(record.id)
            .key("in_flight")
            .value(counters.in_flight)
            .key("last_failure")
            .value(record.last_failure)
            .key("name")
            .value(record.name)
            .key("queued")
            .value(counters.queued)
            .key("rejected")
            .value(counters.rejected)
            .key("requests")
            .value(total)
            .key("respawns")
            .value(record.respawns)
            .key("tunnels")
            .value(counters.tunnels)
            .key("weight")
            .value(record.weight)
            .end_object();
    }
    writer.end_array()
        .key("respawns")
        .value(set_.respawns())
        .key("ring_changes")
        .value(ring_changes_)
        .end_object();
    std::string out;
    json::append_status_raw(out, message, true);
    co_return out;
}

} // namespace balancer
