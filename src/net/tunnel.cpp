#include "net/tunnel.hpp"

#include <cerrno>

#include <sys/socket.h>

#include "runtime/io.hpp"
#include "runtime/reactor.hpp"
#include "runtime/scope.hpp"

namespace net {

namespace {
using clock = std::chrono::steady_clock;

struct shared_state {
    clock::time_point last_activity = clock::now();
    std::chrono::milliseconds idle_timeout;
    bool idle_expired = false;
    int fds[2] = {-1, -1};

    // One direction ended: the other's receive ends too, and nothing more is sent.
    void end_both() const noexcept {
        for (const int fd : fds) {
            ::shutdown(fd, SHUT_RDWR);
        }
    }
};

// Moves bytes from `from` to `to` until `from` ends or a send fails.
runtime::task<void> pump(const tunnel_end& from, int to, shared_state& state,
                         runtime::deadline_list& deadlines, std::uint64_t& moved) {
    if (!from.first.empty()) {
        if (co_await runtime::send_all(to, from.first) != 0) {
            state.end_both();
            co_return;
        }
        moved += from.first.size();
    }
    runtime::buffer_ring& ring = runtime::reactor::current().buffers(from.group);
    for (;;) {
        runtime::received got;
        {
            const auto deadline = state.last_activity + state.idle_timeout;
            runtime::deadline_list::wait timed{
                deadlines, std::max(deadline, clock::now() + std::chrono::milliseconds{1})};
            got = co_await runtime::receive_some(from.fd, ring, std::chrono::nanoseconds::max(),
                                                 timed.slot());
            got.result = timed.outcome(got.result);
        }
        if (got.result == -ETIMEDOUT) {
            // Idle only if neither direction moved: the other may have, meanwhile.
            if (clock::now() - state.last_activity < state.idle_timeout) {
                continue;
            }
            state.idle_expired = true;
            break;
        }
        if (got.result <= 0) {
            break;
        }
        state.last_activity = clock::now();
        moved += static_cast<std::uint64_t>(got.result);
        // The buffer goes back once its bytes are out (send_all keeps the view alive).
        if (co_await runtime::send_all(to, got.buffer.view()) != 0) {
            break;
        }
    }
    state.end_both();
}
} // namespace

runtime::task<tunnel_stats> run_tunnel(tunnel_end a, tunnel_end b,
                                       std::chrono::milliseconds idle_timeout,
                                       runtime::deadline_list& deadlines) {
    tunnel_stats stats;
    shared_state state;
    state.idle_timeout = idle_timeout;
    state.fds[0] = a.fd;
    state.fds[1] = b.fd;
    runtime::scope directions;
    directions.spawn(pump(b, a.fd, state, deadlines, stats.bytes_down));
    co_await pump(a, b.fd, state, deadlines, stats.bytes_up);
    co_await directions.join();
    stats.idle_timeout = state.idle_expired;
    co_return stats;
}

} // namespace net
