#pragma once
// tunnel: joins two connected sockets byte for byte in both directions (an upgraded
// connection, WebSocket say, between a client and a replica) until either side closes or
// fails, or nothing moves either way for `idle_timeout`; then both sockets are shut down
// (the caller closes them). Each direction has one receive pending and holds a leased
// buffer only while it sends what arrived, so a quiet tunnel holds none. Timeouts go
// through the caller's deadline_list. On the sockets' thread; one frame per direction.

#include <chrono>
#include <cstdint>
#include <string>

#include "runtime/buffer_ring.hpp"
#include "runtime/deadline_list.hpp"
#include "runtime/task.hpp"

namespace net {

struct tunnel_end {
    int fd = -1;
    runtime::buffer_group group = runtime::buffer_group::server; // its receives' buffers
    std::string first; // bytes received before the tunnel, still to be passed on
};

struct tunnel_stats {
    std::uint64_t bytes_up = 0;   // from `a` to `b`
    std::uint64_t bytes_down = 0; // from `b` to `a`
    bool idle_timeout = false;    // ended by the idle timeout
};

runtime::task<tunnel_stats> run_tunnel(tunnel_end a, tunnel_end b,
                                       std::chrono::milliseconds idle_timeout,
                                       runtime::deadline_list& deadlines);

} // namespace net
