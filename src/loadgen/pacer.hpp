#pragma once
// pacer: the timetable of an open-loop run (lb-load --rate), as wrk2 keeps it. Request i is
// due at start + i / rate whatever happened to the others; a connection sends it then (or
// at once when it is late) and its latency counts from that due time, not from when it
// was sent, so a stall shows in every request it delayed (no coordinated omission). With
// rate 0 (closed loop) a request is due when it is sent. Pure arithmetic on time points:
// tests drive it with a fake clock. Any thread.

#include <chrono>
#include <cstdint>

namespace loadgen {

class pacer {
public:
    using clock = std::chrono::steady_clock;

    pacer(clock::time_point start, double rate) : start_(start), rate_(rate) {}

    bool open_loop() const noexcept { return rate_ > 0; }
    // When request i is due (open loop only).
    clock::time_point due(std::uint64_t i) const noexcept {
        return start_ + std::chrono::duration_cast<clock::duration>(
                            std::chrono::duration<double>(static_cast<double>(i) / rate_));
    }
    // How long to wait at `now` before sending request i (zero when due or late).
    clock::duration wait_before(std::uint64_t i, clock::time_point now) const noexcept {
        if (!open_loop()) {
            return clock::duration::zero();
        }
        const clock::time_point at = due(i);
        return at > now ? at - now : clock::duration::zero();
    }
    // The latency of request i, sent at `sent` and answered at `done`.
    clock::duration latency(std::uint64_t i, clock::time_point sent,
                            clock::time_point done) const noexcept {
        return done - (open_loop() ? due(i) : sent);
    }

private:
    clock::time_point start_;
    double rate_;
};

} // namespace loadgen
