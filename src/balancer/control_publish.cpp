// Publication of routing tables (docs/design.md, "Threading model"): one coroutine builds
// a table from the replica_set when asked, sends it to every worker and waits for their
// acknowledgements (awaited, bounded by 5 s), then wakes those who waited for it and lets
// removed replicas stop. A burst of changes makes one table. The ring is rebuilt only when
// the membership changed; health changes share the previous table's ring.

#include <algorithm>

#include "balancer/balancer_handler.hpp"
#include "balancer/control_plane.hpp"
#include "balancer/log.hpp"

namespace balancer {

using namespace std::chrono_literals;

std::uint64_t control_plane::publish_needed() {
    // A request the publisher has not built a table for yet covers this change too.
    if (requested_ == built_) {
        ++requested_;
        publisher_wake_.ring();
    }
    return requested_;
}

runtime::task<void> control_plane::published(std::uint64_t request) {
    struct awaiter {
        control_plane* self;
        std::uint64_t request;
        bool await_ready() const noexcept { return self->acked_ >= request || self->stopping_; }
        void await_suspend(std::coroutine_handle<> waiter) {
            self->publication_waiters_.emplace_back(request, waiter);
        }
        void await_resume() const noexcept {}
    };
    co_await awaiter{this, request};
}

runtime::task<void> control_plane::publisher() {
    while (true) {
        while (built_ == requested_ && !stopping_) {
            co_await publisher_wake_.wait(std::chrono::hours{24});
        }
        if (built_ != requested_ && !stopping_) {
            built_ = requested_;
            if (auto table = build_table()) {
                co_await send_table(std::move(table));
            }
            acked_ = built_;
            // The table without them is out: removed replicas may stop now.
            set_.release_removed();
            pump();
        }
        // Wake those waiting for what is now acknowledged (all of them when stopping).
        std::vector<std::pair<std::uint64_t, std::coroutine_handle<>>> still;
        for (const auto& [request, waiter] : publication_waiters_) {
            if (request <= acked_ || stopping_) {
                reactor_->schedule(waiter);
            } else {
                still.emplace_back(request, waiter);
            }
        }
        publication_waiters_ = std::move(still);
        if (stopping_) {
            break;
        }
    }
}

std::shared_ptr<const routing_table> control_plane::build_table() {
    if (!ring_ || ring_membership_ != set_.membership_version()) {
        // Names, ids and weights only: never addresses or the order replicas started in,
        // so every balancer given the same membership builds the same ring.
        auto ring = hashing::ring_snapshot::build(set_.members(), config_.ring, ++generation_);
        if (!ring) {
            log_event("error", "ring_build_failed", {{"error", ring.error().message}});
            return nullptr;
        }
        ring_ = *ring;
        ring_membership_ = set_.membership_version();
        ++ring_changes_;
    }
    const std::vector<std::string> names = set_.member_names();
    const std::vector<std::optional<net::endpoint>> addresses = set_.member_addresses();
    const std::vector<std::uint8_t> routable = set_.routable();
    routing_table table;
    table.ring = ring_;
    // Aligned with the ring, which may order replicas its own way.
    table.targets.resize(ring_->replicas().size());
    table.routable.assign(ring_->replicas().size(), 0);
    for (std::size_t i = 0; i < names.size(); ++i) {
        const std::size_t at = ring_->find(names[i]);
        if (at == hashing::ring_snapshot::no_replica) {
            continue;
        }
        upstream_target& target = table.targets[at];
        target.name = names[i];
        if (addresses[i]) {
            target.address = *addresses[i];
            target.pool_key = addresses[i]->to_string();
        }
        table.routable[at] = routable[i] != 0 && addresses[i] ? 1 : 0;
    }
    table.any_routable =
        std::find(table.routable.begin(), table.routable.end(), 1) != table.routable.end();
    // /rep: the members that serve now (a dead replica leaves it until it is back).
    table.listed = set_.serving();
    table.generation = ++generation_;
    auto shared = std::make_shared<const routing_table>(std::move(table));
    {
        std::lock_guard lock(current_mutex_);
        current_ = shared;
    }
    return shared;
}

runtime::task<void> control_plane::send_table(std::shared_ptr<const routing_table> table) {
    // Each worker swaps its own pointer and acknowledges by message. The count lives apart
    // from this frame: a late acknowledgement must find it alive.
    struct acknowledgements {
        std::size_t pending = 0;
        runtime::alarm all_in;
    };
    auto acks = std::make_shared<acknowledgements>();
    runtime::reactor* home = reactor_;
    for (auto& worker : workers_) {
        const bool sent = worker.post([handler = worker.handler, table, home, acks] {
            handler->adopt(table);
            home->post([acks] {
                if (--acks->pending == 0) {
                    acks->all_in.ring();
                }
            });
        });
        if (sent) {
            ++acks->pending; // a worker that is gone routes nothing: nothing to wait for
        }
    }
    // Bounded all the same: a worker that stops after taking the message never answers.
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (acks->pending > 0 && std::chrono::steady_clock::now() < deadline) {
        co_await acks->all_in.wait(deadline - std::chrono::steady_clock::now());
    }
    if (acks->pending > 0) {
        log_event("warn", "table_not_acknowledged",
                  {{"generation", std::to_string(table->generation)},
                   {"workers", std::to_string(acks->pending)}});
    }
}

} // namespace balancer
