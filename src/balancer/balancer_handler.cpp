#include "balancer/balancer_handler.hpp"

#include <algorithm>
#include <cerrno>

#include <sys/socket.h>

#include "balancer/control_access.hpp"
#include "balancer/control_api.hpp"
#include "balancer/respond.hpp"
#include "json/json_writer.hpp"

namespace balancer {

namespace {
// A worker's share of a process-wide limit (0, no limit, stays 0).
std::uint32_t share(std::size_t limit, std::size_t workers) {
    if (limit == 0) {
        return 0;
    }
    return static_cast<std::uint32_t>(std::max<std::size_t>(1, (limit + workers - 1) / workers));
}

std::uint32_t tighter(std::uint32_t a, std::uint32_t b) {
    return a == 0 ? b : (b == 0 ? a : std::min(a, b));
}
} // namespace

balancer_handler::balancer_handler(const balancer_config& config, control_link& control,
                                   std::shared_ptr<const routing_table> initial)
    : config_(config), control_(control), home_(runtime::reactor::current()) {
    const std::size_t workers = std::max<std::size_t>(1, config.threads);
    // One request holds one upstream connection: the connection limit bounds requests in
    // flight as well, and open connections are then at most in flight plus idle.
    slot_limits_.max_in_flight =
        tighter(share(config.max_in_flight_per_replica, workers),
                static_cast<std::uint32_t>(config.max_upstream_connections));
    slot_limits_.max_queued = share(config.max_queued_per_replica, workers);
    slot_limits_.queue_timeout = config.queue_timeout;
    slot_limits_.max_idle = config.upstream_idle;
    if (slot_limits_.max_in_flight != 0) {
        slot_limits_.max_idle =
            std::min<std::size_t>(slot_limits_.max_idle, slot_limits_.max_in_flight);
    }
    slot_limits_.idle_timeout = config.upstream_idle_timeout;
    adopt(std::move(initial));
    timers_.spawn(deadlines_.run(std::chrono::milliseconds{50}));
    timers_.spawn(upkeep());
}

balancer_handler::~balancer_handler() = default;

void balancer_handler::on_stop() {}

void balancer_handler::abort() {
    aborting_ = true;
    // Upstream answers awaited, slots awaited, and sockets in use all end now.
    deadlines_.expire_all();
    for (auto& slot : slots_) {
        slot->abort_waiters();
    }
    for (auto& slot : retired_) {
        slot->abort_waiters();
    }
    for (active_upstream* node = active_; node != nullptr; node = node->next) {
        ::shutdown(node->fd, SHUT_RDWR);
    }
}

runtime::task<void> balancer_handler::drain() {
    co_await calls_.join();
    stopping_ = true;
    upkeep_sleep_.cancel();
    deadlines_.stop();
    co_await timers_.join();
    // Every request is over: idle connections close with their slots.
    slots_.clear();
    retired_.clear();
}

runtime::task<void> balancer_handler::upkeep() {
    while (!stopping_) {
        co_await runtime::sleep_for(std::chrono::milliseconds{50}).with_cancel(&upkeep_sleep_);
        const auto now = replica_slot::clock::now();
        for (auto& slot : slots_) {
            slot->expire(now);
        }
        for (auto& slot : retired_) {
            slot->expire(now);
        }
        close_retired_tunnels(now);
        // A slot that left the table goes once its last request is done.
        std::erase_if(retired_, [](const std::unique_ptr<replica_slot>& slot) {
            return slot->in_flight() == 0 && slot->queued() == 0;
        });
    }
}

void balancer_handler::track(active_upstream& node, int fd) noexcept {
    node.fd = fd;
    node.waiting_on = nullptr;
    node.cut = false;
    node.prev = nullptr;
    node.next = active_;
    if (active_ != nullptr) {
        active_->prev = &node;
    }
    active_ = &node;
}

bool balancer_handler::routable(const replica_slot& slot) const noexcept {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        if (slots_[i].get() == &slot) {
            return table_->routable[i] != 0;
        }
    }
    return false;
}

void balancer_handler::cut_unroutable() noexcept {
    if (!table_->any_routable) {
        // Nowhere to retry: a cut would turn what may still be a slow answer into a 502 (a
        // replica too busy to answer heartbeats in time is marked down while it works).
        return;
    }
    for (active_upstream* node = active_; node != nullptr; node = node->next) {
        if (node->waiting_on == nullptr || node->cut) {
            continue;
        }
        // By name: a replica that left the table (/rm) finishes what it has; one still in it
        // but out of picking, or at another address (being replaced: its old slot retired
        // with this request), is down. (The slot lives while its request holds it.)
        const upstream_target& was = node->waiting_on->target();
        for (std::size_t i = 0; i < table_->targets.size(); ++i) {
            const upstream_target& now = table_->targets[i];
            if (now.name == was.name &&
                (table_->routable[i] == 0 || now.pool_key != was.pool_key)) {
                node->cut = true;
                ::shutdown(node->fd, SHUT_RDWR);
            }
        }
    }
}

void balancer_handler::untrack(active_upstream& node) noexcept {
    (node.prev != nullptr ? node.prev->next : active_) = node.next;
    if (node.next != nullptr) {
        node.next->prev = node.prev;
    }
    node.prev = node.next = nullptr;
}

worker_metrics balancer_handler::metrics() const {
    worker_metrics copy = metrics_;
    if (server_ != nullptr) {
        const net::server_stats& s = server_->stats();
        copy.connections = connection_counters{
            .open = s.open,
            .idle = s.idle,
            .accepted = s.accepted,
            .paused = s.paused,
            .at_limit = s.at_limit ? 1U : 0U,
            .header_timeouts = s.header_timeouts,
            .body_timeouts = s.body_timeouts,
            .idle_closed = s.idle_closed,
            .rejected = s.rejected,
            .buffer_waits = s.buffer_waits,
            .lingering = s.lingering,
            .max = server_->limits().max_connections,
        };
    }
    return copy;
}

std::uint64_t balancer_handler::body_limit(const http::request_head& head) const {
    return is_control_path(head.path) ? 64 * 1024 : config_.proxy_body_limit;
}

bool balancer_handler::streams_body(const http::request_head& head) const {
    return !is_control_path(head.path);
}

void balancer_handler::append_error(std::string& out, int status, std::string_view reason) const {
    append_error_answer(out, status, reason);
}

void balancer_handler::adopt(std::shared_ptr<const routing_table> table) {
    // Slots carry over to the new table when the replica (name and address) stays, with
    // their pools, counts and queues; the others retire.
    std::vector<std::unique_ptr<replica_slot>> next;
    next.reserve(table->targets.size());
    for (const upstream_target& target : table->targets) {
        auto same = std::find_if(slots_.begin(), slots_.end(), [&](const auto& slot) {
            return slot && slot->target().name == target.name &&
                   slot->target().pool_key == target.pool_key;
        });
        if (same != slots_.end()) {
            next.push_back(std::move(*same));
        } else {
            // One map lookup per replica and table, none per request: the element stays put.
            next.push_back(std::make_unique<replica_slot>(target, metrics_.replicas[target.name],
                                                          slot_limits_));
        }
    }
    for (auto& left : slots_) {
        if (left) {
            left->retire();
            if (left->in_flight() > 0 || left->queued() > 0) {
                retired_.push_back(std::move(left));
            }
        }
    }
    slots_ = std::move(next);
    table_ = std::move(table);
    cut_unroutable();
    loads_.assign(slots_.size(), 0);
    loads_total_ = 0;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        slots_[i]->count_into(&loads_[i], &loads_total_);
        loads_total_ += slots_[i]->in_flight();
    }
}

runtime::task<void> balancer_handler::handle(net::request_context& request) {
    if (is_control_path(request.head.path)) {
        co_await control_request(request);
    } else {
        co_await proxy(request);
    }
}

runtime::task<void> balancer_handler::control_request(net::request_context& request) {
    const http::request_head& head = request.head;
    const std::string_view path = head.path;
    if (path == "/rep") {
        if (head.method != http::method::get && head.method != http::method::head) {
            static constexpr http::header_field allow[] = {{"Allow", "GET, HEAD"}};
            respond_failure(request, 405, "<Error> Method not allowed", allow);
            co_return;
        }
        respond_json(request, 200, render_replicas(table_->listed));
        co_return;
    }
    const bool is_add = path == "/add";
    if (!admit_change(request, config_, is_add)) {
        co_return;
    }
    const bool body_empty = blank(request.body);
    json::control_payload_result payload = payload_parser_.parse(request.body);
    const api_answer answer = co_await control_.change(is_add, std::move(payload), body_empty);
    respond_json(request, answer.status, answer.body);
}

} // namespace balancer
