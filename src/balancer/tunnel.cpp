// Upgraded connections (WebSocket and the like) through balancer_handler: the replica the
// key picked answered 101 Switching Protocols; the answer goes to the client and the two
// connections are joined byte for byte (net::run_tunnel) until either side closes, nothing
// moves for --tunnel-idle-timeout-ms, the replica has been out of the table for
// --drain-timeout-ms, or the worker aborts. The tunnel holds its replica slot (it counts
// as a request in flight) and its client connection (it counts against
// --max-connections) for as long as it lasts.

#include <sys/socket.h>

#include "balancer/balancer_handler.hpp"
#include "http/hop_by_hop.hpp"
#include "http/serializer.hpp"
#include "net/tunnel.hpp"

namespace balancer {

runtime::task<balancer_handler::attempt_result>
balancer_handler::tunnel(net::request_context& request, replica_slot& slot,
                         net::client_connection& connection, active_upstream& active) {
    const http::response_head& head = connection.head();
    http::append_status_line(request.out, 101);
    for (const auto& field : head.headers) {
        // Upgrade stays (it names the new protocol); the other hop-by-hop fields go.
        if (http::iequals(field.name, "Upgrade") ||
            (!http::is_hop_by_hop(field.name, head.headers) &&
             !http::iequals(field.name, "Content-Length"))) {
            http::append_header(request.out, field.name, field.value);
        }
    }
    http::append_header(request.out, "Connection", "Upgrade");
    request.out += "\r\n";
    request.keep_alive = false;
    if (!co_await net::flush_response(request)) {
        co_await connection.close();
        co_return attempt_result::broken;
    }
    replica_counters& counters = slot.counters();
    ++counters.tunnels;
    ++counters.tunnels_total;
    active.tunnel_slot = &slot;
    active.client_fd = request.client_fd;
    net::tunnel_end client{request.client_fd, runtime::buffer_group::server,
                           request.handover->take_over()};
    net::tunnel_end replica{connection.fd(), runtime::buffer_group::client, connection.take_over()};
    co_await net::run_tunnel(std::move(client), std::move(replica), config_.tunnel_idle_timeout,
                             deadlines_);
    active.tunnel_slot = nullptr;
    --counters.tunnels;
    co_await connection.close();
    co_return attempt_result::answered;
}

void balancer_handler::close_retired_tunnels(replica_slot::clock::time_point now) noexcept {
    for (active_upstream* node = active_; node != nullptr; node = node->next) {
        const replica_slot* slot = node->tunnel_slot;
        if (slot != nullptr && slot->retired() &&
            now - slot->retired_at() >= config_.drain_timeout) {
            ::shutdown(node->fd, SHUT_RDWR);
            ::shutdown(node->client_fd, SHUT_RDWR);
        }
    }
}

} // namespace balancer
