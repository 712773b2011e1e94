#pragma once
// balancer_handler: one worker's request handler. /rep is answered from the worker's own
// routing table; /add and /rm are validated for shape here and carried out by the control
// thread (remote_call); every other request is proxied to the replica the ring picks for
// its key, over the worker's keep-alive upstream pool, with the request body streamed on
// and the response streamed back (the proxy path is in proxy.cpp).
// Everything here runs on the worker's thread: the routing table pointer, the pool, the
// in-flight counts and the metrics are the worker's alone.

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "balancer/config.hpp"
#include "balancer/metrics.hpp"
#include "balancer/routing_table.hpp"
#include "balancer/upstream_pool.hpp"
#include "net/http_server.hpp"
#include "runtime/deadline_list.hpp"
#include "runtime/reactor.hpp"
#include "runtime/scope.hpp"
#include "json/control_payload.hpp"

namespace balancer {

class control_plane;

class balancer_handler final : public net::request_handler {
public:
    balancer_handler(const balancer_config& config, control_plane& control,
                     std::shared_ptr<const routing_table> initial);
    ~balancer_handler() override;

    std::uint64_t body_limit(const http::request_head& head) const override;
    bool streams_body(const http::request_head& head) const override;
    runtime::task<void> handle(net::request_context& request) override;
    void on_stop() override;
    runtime::task<void> drain() override;

    // Worker thread: installs a new routing table (from control's message).
    void adopt(std::shared_ptr<const routing_table> table);
    // Worker thread: a copy of this worker's metrics.
    const worker_metrics& metrics() const noexcept { return metrics_; }
    runtime::scope& scope() noexcept { return calls_; }
    // The worker's reactor (the thread that created this handler).
    runtime::reactor& home() noexcept { return home_; }

private:
    // unreachable: nothing came back, another replica may take it; failed: the replica
    // answered badly (502); broken: part of the answer went out already (close).
    // client_failed: the client's body broke off (outbound_body::failure says how).
    enum class attempt_result : std::uint8_t {
        answered,
        unreachable,
        failed,
        timed_out,
        broken,
        client_failed
    };

    // A request body on its way upstream. A body that fits in the read-ahead goes whole in
    // the request's first send, so the request can be sent again elsewhere; a longer one
    // starts there and the rest is read from the client while it is sent on.
    struct outbound_body {
        std::string ahead;                 // read ahead of the upstream request
        net::request_body* rest = nullptr; // null: `ahead` is the whole body
        bool chunked = false;              // the rest goes on as chunks, as it came
        bool started = false;              // some of the rest was read: no second send
        net::body_piece failure;           // how the client's body broke off
    };

    runtime::task<void> control_request(net::request_context& request);
    runtime::task<void> proxy(net::request_context& request);
    // Reads ahead of the upstream request; false when the client's body broke off.
    runtime::task<bool> read_ahead(net::request_context& request, outbound_body& body);
    runtime::task<attempt_result> attempt(net::request_context& request,
                                          const upstream_target& target, replica_counters& counters,
                                          std::string_view wire, outbound_body& body,
                                          bool may_resend);
    // Sends the rest of a streamed body. 0, or -errno when the upstream failed (or
    // -ECONNABORTED when the client's body broke off).
    runtime::task<int> send_rest(net::client_connection& connection, outbound_body& body);
    // Streams the upstream's response (its head has arrived) back to the client.
    runtime::task<attempt_result> relay_response(net::request_context& request,
                                                 const upstream_target& target,
                                                 replica_counters& counters,
                                                 net::client_connection& connection, bool reusable);
    void build_upstream_request(const net::request_context& request, const outbound_body& body,
                                std::string& wire) const;
    // The upstream's next response event, within --response-timeout-ms (-ETIMEDOUT).
    runtime::task<net::response_event> next_event(net::client_connection& connection);

    const balancer_config& config_;
    control_plane& control_;
    runtime::reactor& home_;
    std::shared_ptr<const routing_table> table_;
    upstream_pool pool_;
    worker_metrics metrics_;
    // Requests in flight per replica of table_ (for `bounded`), and their sum. Reset when a
    // new table arrives; a request started under an older table leaves them alone.
    std::vector<std::uint32_t> in_flight_;
    std::uint64_t in_flight_total_ = 0;
    json::control_payload_parser payload_parser_;
    std::minstd_rand random_{std::random_device{}()};
    // Upstream response deadlines: one timer for the worker, not one per receive. The
    // sweeper has its own scope, so that it runs until every request has drained.
    runtime::deadline_list deadlines_;
    runtime::scope timers_;
    runtime::scope calls_;
};

} // namespace balancer
