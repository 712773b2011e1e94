#include "balancer/replica_slot.hpp"

#include <cassert>

#include "runtime/reactor.hpp"

namespace balancer {

replica_slot::replica_slot(upstream_target target, replica_counters& counters,
                           const slot_limits& limits)
    : target_(std::move(target)), counters_(counters), limits_(limits) {}

replica_slot::~replica_slot() {
    assert(in_flight_ == 0 && queued_ == 0);
    while (oldest_ != nullptr) {
        pooled* node = oldest_;
        unlink(node);
        node->connection.reset(); // cancels its armed receive, closes the socket
    }
}

void replica_slot::count_into(std::uint32_t* cell, std::uint64_t* total) noexcept {
    load_cell_ = cell;
    load_total_ = total;
    if (load_cell_ != nullptr) {
        *load_cell_ = in_flight_;
    }
}

void replica_slot::count_in() noexcept {
    ++in_flight_;
    ++counters_.in_flight;
    if (load_cell_ != nullptr) {
        ++*load_cell_;
        ++*load_total_;
    }
}

void replica_slot::count_out() noexcept {
    --in_flight_;
    --counters_.in_flight;
    if (load_cell_ != nullptr) {
        --*load_cell_;
        --*load_total_;
    }
}

bool replica_slot::acquire_awaiter::await_ready() noexcept {
    replica_slot& slot = slot_;
    if (slot.retired_) {
        node_->result = admission::retired;
        return true;
    }
    // Queued requests go first: a newcomer does not overtake them.
    if ((slot.limits_.max_in_flight == 0 || slot.in_flight_ < slot.limits_.max_in_flight) &&
        slot.first_waiter_ == nullptr) {
        slot.count_in();
        node_->result = admission::granted;
        return true;
    }
    if (slot.queued_ >= slot.limits_.max_queued) {
        ++slot.counters_.rejected;
        node_->result = admission::queue_full;
        return true;
    }
    return false;
}

void replica_slot::acquire_awaiter::await_suspend(std::coroutine_handle<> handle) noexcept {
    replica_slot& slot = slot_;
    node_->handle = handle;
    node_->deadline = runtime::turn_time() + slot.limits_.queue_timeout;
    node_->prev = slot.last_waiter_;
    node_->next = nullptr;
    (slot.last_waiter_ != nullptr ? slot.last_waiter_->next : slot.first_waiter_) = node_;
    slot.last_waiter_ = node_;
    ++slot.queued_;
    ++slot.counters_.queued;
    ++slot.counters_.queued_total;
}

replica_slot::admission replica_slot::acquire_awaiter::await_resume() const noexcept {
    return node_->result;
}

void replica_slot::wake_first(admission result) noexcept {
    waiter* node = first_waiter_;
    first_waiter_ = node->next;
    (first_waiter_ != nullptr ? first_waiter_->prev : last_waiter_) = nullptr;
    --queued_;
    --counters_.queued;
    node->result = result;
    if (result == admission::granted) {
        count_in();
    }
    runtime::reactor::current().schedule(node->handle);
}

void replica_slot::release() noexcept {
    count_out();
    if (first_waiter_ != nullptr && !retired_) {
        wake_first(admission::granted);
    }
}

void replica_slot::unlink(pooled* node) noexcept {
    (node->prev != nullptr ? node->prev->next : oldest_) = node->next;
    (node->next != nullptr ? node->next->prev : newest_) = node->prev;
    node->prev = node->next = nullptr;
    --idle_count_;
}

void replica_slot::recycle(pooled* node) noexcept {
    node->next = free_nodes_;
    free_nodes_ = node;
}

std::optional<net::client_connection> replica_slot::take_idle() {
    pooled* node = newest_;
    if (node == nullptr) {
        return std::nullopt;
    }
    unlink(node);
    std::optional<net::client_connection> taken = std::move(node->connection);
    node->connection.reset();
    taken->unwatch();
    recycle(node);
    return taken;
}

void replica_slot::give_back(net::client_connection connection) {
    if (!connection.reusable() || retired_ || idle_count_ >= limits_.max_idle) {
        return; // closed by its destructor
    }
    pooled* node = free_nodes_;
    if (node != nullptr) {
        free_nodes_ = node->next;
    } else {
        nodes_.push_back(std::make_unique<pooled>());
        node = nodes_.back().get();
    }
    node->owner = this;
    node->since = runtime::turn_time();
    node->connection.emplace(std::move(connection));
    // The next response's receive goes to the kernel now: until the connection is used
    // again, its completion means the replica closed it (or sent bytes nobody asked for).
    node->connection->arm_receive();
    node->connection->watch(&on_idle_end, node);
    node->prev = newest_;
    node->next = nullptr;
    (newest_ != nullptr ? newest_->next : oldest_) = node;
    newest_ = node;
    ++idle_count_;
}

void replica_slot::on_idle_end(void* context) {
    // Inside the CQE walk: only unlink and close (the connection's destructor closes the
    // socket synchronously; nothing is pending on it any more).
    auto* node = static_cast<pooled*>(context);
    replica_slot* slot = node->owner;
    slot->unlink(node);
    node->connection.reset();
    ++slot->counters_.closed_by_replica;
    slot->recycle(node);
}

void replica_slot::expire(clock::time_point now) {
    while (first_waiter_ != nullptr && first_waiter_->deadline <= now) {
        ++counters_.rejected;
        wake_first(admission::timed_out);
    }
    while (oldest_ != nullptr && now - oldest_->since >= limits_.idle_timeout) {
        pooled* node = oldest_;
        unlink(node);
        node->connection.reset();
        ++counters_.expired_idle;
        recycle(node);
    }
}

void replica_slot::retire() {
    retired_ = true;
    retired_at_ = clock::now();
    while (first_waiter_ != nullptr) {
        wake_first(admission::retired);
    }
    while (oldest_ != nullptr) {
        pooled* node = oldest_;
        unlink(node);
        node->connection.reset();
        recycle(node);
    }
    if (load_cell_ != nullptr) {
        load_cell_ = nullptr;
        load_total_ = nullptr;
    }
}

void replica_slot::abort_waiters() {
    while (first_waiter_ != nullptr) {
        wake_first(admission::aborted);
    }
}

} // namespace balancer
