// Snapshot publication (docs/design.md, "Threading model") under load: a control thread changes
// membership 10,000 times; worker threads route keys the whole time, each adopting new snapshots on
// its own thread. A mutex-protected mailbox per worker stands in for the reactor's post(), so
// that the test needs no sockets; what is under test is the ownership protocol the balancer's
// workers follow (balancer_handler::adopt): a worker keeps its own shared_ptr and reads the
// snapshot through it with plain loads, old snapshots die once every worker has moved on, and
// control proceeds only after every worker has acknowledged. Run it under ThreadSanitizer too.
#include "hashing/hash_range.hpp"
#include "hashing/ring_snapshot.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace hashing;

namespace {

constexpr std::uint64_t changes = 10000;
constexpr std::size_t worker_count = 2;

// The membership of generation g, a pure function of g, so a worker can check that the
// snapshot it received is the one control built without sharing any other state.
membership membership_for(std::uint64_t generation) {
    const std::uint64_t bits = mix64(generation) & 0xFFF;
    membership m;
    for (std::uint64_t i = 0; i < 12; ++i) {
        if (bits >> i & 1) {
            m.push_back({std::string("replica-").append(std::to_string(i)), i + 1});
        }
    }
    return m;
}

ring_params params_for(std::uint64_t generation) {
    ring_params p;
    // Cycle through every algorithm; a small Maglev table keeps 10,000 builds quick under TSan.
    p.algorithm = all_algorithms()[generation % all_algorithms().size()];
    p.table_size = 1021;
    p.points = 40;
    return p;
}

// Stand-in for the runtime's cross-thread message: the newest snapshot wins, as a worker only
// ever needs the latest.
struct mailbox {
    std::mutex mutex;
    std::shared_ptr<const ring_snapshot> pending;
};

struct acknowledgements {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<std::uint64_t> generation = std::vector<std::uint64_t>(worker_count, 0);
};

struct worker_report {
    std::uint64_t lookups = 0;
    std::uint64_t adopted = 0;
    std::uint64_t bad_lookups = 0;
    std::uint64_t bad_snapshots = 0;
};

void run_worker(std::size_t index, mailbox& inbox, acknowledgements& acks,
                const std::atomic<bool>& stop, worker_report& report) {
    std::shared_ptr<const ring_snapshot> current; // this worker's, touched only here
    std::uint64_t state = 0x9E3779B97F4A7C15ULL * (index + 1);
    // relaxed: `stop` only ends the loop; everything the worker checks travels through the
    // mailbox mutex.
    while (!stop.load(std::memory_order_relaxed)) {
        std::shared_ptr<const ring_snapshot> next;
        {
            std::lock_guard lock(inbox.mutex);
            next = std::move(inbox.pending);
        }
        if (next) {
            const std::uint64_t g = next->generation();
            if (next->replicas().size() != membership_for(g).size() ||
                !std::equal(next->replicas().begin(), next->replicas().end(),
                            membership_for(g).begin())) {
                ++report.bad_snapshots;
            }
            // Drop the old snapshot before acknowledging, so control can check it is gone.
            std::exchange(current, std::move(next)).reset();
            ++report.adopted;
            {
                std::lock_guard lock(acks.mutex);
                acks.generation[index] = g;
            }
            acks.changed.notify_one();
        }
        const ring_snapshot* snapshot = current.get();
        if (snapshot == nullptr) {
            std::this_thread::yield();
            continue;
        }
        for (int i = 0; i < 32; ++i) {
            state = mix64(state + 1);
            const request_key key = make_request_key(100000 + state % 900000);
            const std::size_t r = snapshot->lookup(key);
            const std::size_t retry = snapshot->lookup_excluding(key, r);
            const bool ok = snapshot->empty() ? r == ring_snapshot::no_replica
                                              : r < snapshot->size() &&
                                                    (snapshot->size() == 1
                                                         ? retry == ring_snapshot::no_replica
                                                         : retry < snapshot->size() && retry != r);
            report.bad_lookups += !ok;
            ++report.lookups;
        }
        // Two cores are shared with the control thread: let it run.
        std::this_thread::yield();
    }
}

} // namespace

TEST_CASE("workers adopt 10,000 snapshots while routing, and old snapshots are freed") {
    std::vector<mailbox> inboxes(worker_count);
    acknowledgements acks;
    std::atomic<bool> stop{false};
    std::vector<worker_report> reports(worker_count);
    std::vector<std::thread> workers;
    for (std::size_t w = 0; w < worker_count; ++w) {
        workers.emplace_back(run_worker, w, std::ref(inboxes[w]), std::ref(acks), std::cref(stop),
                             std::ref(reports[w]));
    }

    std::weak_ptr<const ring_snapshot> previous;
    std::uint64_t leaked = 0;
    std::uint64_t build_failures = 0;
    for (std::uint64_t g = 1; g <= changes; ++g) {
        auto built = ring_snapshot::build(membership_for(g), params_for(g), g);
        if (!built) {
            ++build_failures;
            continue;
        }
        std::weak_ptr<const ring_snapshot> current = *built;
        for (mailbox& inbox : inboxes) {
            std::lock_guard lock(inbox.mutex);
            inbox.pending = *built;
        }
        built->reset();
        {
            // As control answers /add only once every worker has the new snapshot.
            std::unique_lock lock(acks.mutex);
            acks.changed.wait(lock, [&] {
                return std::all_of(acks.generation.begin(), acks.generation.end(),
                                   [&](std::uint64_t acked) { return acked == g; });
            });
        }
        // Every worker has dropped the previous snapshot and control holds none: it is freed.
        leaked += !previous.expired();
        previous = current;
    }
    stop.store(true, std::memory_order_relaxed);
    for (std::thread& t : workers) {
        t.join();
    }
    CHECK(previous.expired());

    CHECK(build_failures == 0);
    CHECK(leaked == 0);
    for (const worker_report& r : reports) {
        CHECK(r.adopted == changes);
        CHECK(r.bad_snapshots == 0);
        CHECK(r.bad_lookups == 0);
        CHECK(r.lookups > 0);
    }
}
