#pragma once
// A worker's reference to the current ring snapshot (docs/design.md, "Threading model"). Each
// worker owns one holder and touches it only from its own thread: the control thread sends a new
// shared_ptr<const ring_snapshot> by message, the worker calls adopt() between requests, and
// requests read current() with a plain load, no atomics and no lock. Allocates nothing.

#include "hashing/ring_snapshot.hpp"

#include <memory>
#include <utility>

namespace hashing {

class snapshot_holder {
public:
    snapshot_holder() = default;
    explicit snapshot_holder(std::shared_ptr<const ring_snapshot> initial)
        : current_(std::move(initial)) {}

    // The snapshot requests route on, or nullptr before the first one arrives. Valid until the
    // next adopt() on this thread: a coroutine that suspends must keep its own shared_ptr.
    const ring_snapshot* current() const noexcept { return current_.get(); }

    // A shared reference, for a request that suspends across a possible adopt().
    const std::shared_ptr<const ring_snapshot>& shared() const noexcept { return current_; }

    // Installs `next` and returns the previous snapshot. NOTE: the old snapshot is freed where
    // its last reference dies; returning it lets the worker choose that moment (for instance
    // after acknowledging), and the atomic reference count makes any thread correct.
    std::shared_ptr<const ring_snapshot> adopt(std::shared_ptr<const ring_snapshot> next) noexcept {
        return std::exchange(current_, std::move(next));
    }

    // Generation of the current snapshot (0 when none), for the acknowledgement to control.
    std::uint64_t generation() const noexcept { return current_ ? current_->generation() : 0; }

private:
    std::shared_ptr<const ring_snapshot> current_;
};

} // namespace hashing
