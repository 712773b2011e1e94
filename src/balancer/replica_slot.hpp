#pragma once
// replica_slot: one worker's share of one replica of its routing table (docs/design.md,
// "Budgets and admission control"):
//   - admission: at most `max_in_flight` requests at once (the worker's share of
//     --max-in-flight-per-replica and of --max-upstream-connections); past it, requests
//     wait in a bounded FIFO queue for up to queue_timeout, then are refused (503);
//   - the keep-alive pool: idle connections, newest reused first, each with its next
//     receive armed, so a connection the replica closes leaves the pool at once; they
//     expire after idle_timeout (before the replica's own keep-alive closes them) and are
//     never pooled once the replica has left the table;
//   - the replica's request counters (an element of the worker's metrics map, found once).
// A request holds a slot from acquire() to release(); open connections to the replica
// are then at most its requests in flight plus its idle ones. Owned by one worker
// thread; a slot that left the table lives on until its last request releases it.

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <optional>
#include <vector>

#include "balancer/metrics.hpp"
#include "balancer/routing_table.hpp"
#include "net/http_client.hpp"

namespace balancer {

struct slot_limits {
    std::uint32_t max_in_flight = 0; // 0: no limit
    std::uint32_t max_queued = 0;    // requests waiting for a slot; 0: none wait
    std::chrono::milliseconds queue_timeout{1000};
    std::size_t max_idle = 1024;
    std::chrono::milliseconds idle_timeout{4000};
};

class replica_slot {
public:
    using clock = std::chrono::steady_clock;
    enum class admission : std::uint8_t { granted, queue_full, timed_out, retired, aborted };

    replica_slot(upstream_target target, replica_counters& counters, const slot_limits& limits);
    ~replica_slot();
    replica_slot(const replica_slot&) = delete;
    replica_slot& operator=(const replica_slot&) = delete;

    const upstream_target& target() const noexcept { return target_; }
    replica_counters& counters() noexcept { return counters_; }
    std::uint32_t in_flight() const noexcept { return in_flight_; }
    std::size_t queued() const noexcept { return queued_; }
    std::size_t idle() const noexcept { return idle_count_; }
    bool retired() const noexcept { return retired_; }
    clock::time_point retired_at() const noexcept { return retired_at_; }

    // Where this slot's in-flight count also goes: the worker's per-table load vector
    // (for `bounded`) and its total. Null cells: not counted there.
    void count_into(std::uint32_t* cell, std::uint64_t* total) noexcept;

    // Takes a slot for one request: at once when under the limit, else after waiting in
    // the queue. Anything but `granted` holds nothing.
    struct waiter;
    struct acquire_awaiter {
        replica_slot& slot_;
        waiter* node_;
        bool await_ready() noexcept;
        void await_suspend(std::coroutine_handle<> handle) noexcept;
        admission await_resume() const noexcept;
    };
    acquire_awaiter acquire(waiter& node) noexcept { return {*this, &node}; }
    // Gives a granted slot back, to the first waiter if any.
    void release() noexcept;

    // The newest idle connection, unwatched and ready to send on; nullopt when none.
    std::optional<net::client_connection> take_idle();
    // Keeps a connection that finished cleanly for the next request (its receive armed);
    // closes it when it cannot be reused, the pool is full or the replica left the table.
    void give_back(net::client_connection connection);

    // Upkeep, from the worker's timer: refuses queued requests past queue_timeout and
    // closes idle connections past idle_timeout. Both lists are in time order.
    void expire(clock::time_point now);
    // The replica left the routing table: idle connections close, none is pooled again,
    // and queued requests are told to pick again.
    void retire();
    // The worker is aborting: queued requests are refused now.
    void abort_waiters();

    struct waiter {
        std::coroutine_handle<> handle;
        clock::time_point deadline{};
        admission result = admission::granted;
        waiter* prev = nullptr;
        waiter* next = nullptr;
    };

private:
    struct pooled {
        std::optional<net::client_connection> connection;
        clock::time_point since{};
        replica_slot* owner = nullptr;
        pooled* prev = nullptr;
        pooled* next = nullptr;
    };

    static void on_idle_end(void* context);
    void unlink(pooled* node) noexcept;
    void recycle(pooled* node) noexcept;
    void wake_first(admission result) noexcept;
    void count_in() noexcept;
    void count_out() noexcept;

    upstream_target target_;
    replica_counters& counters_;
    slot_limits limits_;
    std::uint32_t in_flight_ = 0;
    std::uint32_t* load_cell_ = nullptr;
    std::uint64_t* load_total_ = nullptr;
    bool retired_ = false;
    clock::time_point retired_at_{};

    waiter* first_waiter_ = nullptr;
    waiter* last_waiter_ = nullptr;
    std::size_t queued_ = 0;

    // Idle connections, oldest first; nodes are recycled through free_nodes_.
    pooled* oldest_ = nullptr;
    pooled* newest_ = nullptr;
    std::size_t idle_count_ = 0;
    pooled* free_nodes_ = nullptr;
    std::vector<std::unique_ptr<pooled>> nodes_;
};

} // namespace balancer
