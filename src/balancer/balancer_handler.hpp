#pragma once
// balancer_handler: one worker's request handler. /rep is answered from the worker's own
// routing table; /add and /rm are validated for shape here and carried out by the control
// thread (control_link); every other request is proxied to the replica the ring picks for
// its key (proxy.cpp): it waits for a slot of that replica (replica_slot: the in-flight
// limit and its queue), takes a pooled connection or opens one, sends the request with its
// body read ahead or streamed on, and streams the response back.
// Everything here runs on the worker's thread: the routing table pointer, the slots, the
// pools and the metrics are the worker's alone.

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "balancer/config.hpp"
#include "balancer/control_link.hpp"
#include "balancer/metrics.hpp"
#include "balancer/replica_slot.hpp"
#include "balancer/routing_table.hpp"
#include "net/http_server.hpp"
#include "runtime/deadline_list.hpp"
#include "runtime/reactor.hpp"
#include "runtime/scope.hpp"
#include "json/control_payload.hpp"

namespace balancer {

class balancer_handler final : public net::request_handler {
public:
    balancer_handler(const balancer_config& config, control_link& control,
                     std::shared_ptr<const routing_table> initial);
    ~balancer_handler() override;

    std::uint64_t body_limit(const http::request_head& head) const override;
    bool streams_body(const http::request_head& head) const override;
    void append_error(std::string& out, int status, std::string_view reason) const override;
    runtime::task<void> handle(net::request_context& request) override;
    void on_serve(const net::http_server& server) override { server_ = &server; }
    void on_stop() override;
    void abort() override;
    runtime::task<void> drain() override;

    // Worker thread: installs a new routing table (from control's message).
    void adopt(std::shared_ptr<const routing_table> table);
    // Worker thread: this worker's metrics, with its slots' and its server's counts.
    worker_metrics metrics() const;
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
        std::string& ahead;                // read ahead of the upstream request (scratch)
        net::request_body* rest = nullptr; // null: `ahead` is the whole body
        bool chunked = false;              // the rest goes on as chunks, as it came
        bool started = false;              // some of the rest was read: no second send
        net::body_piece failure;           // how the client's body broke off
    };

    // An upstream socket in use by a request, so that abort() can shut it down. A tunnel
    // (an upgraded connection) also notes its slot and client socket: it is shut down once
    // its replica has been out of the table for --drain-timeout-ms. A request that could go
    // elsewhere and waits for its answer's head notes its slot too: when a table takes that
    // replica out of picking (dead, or a machine gone without a word), its socket is cut
    // and the request retried on the key's next replica (adopt()).
    struct active_upstream {
        int fd = -1;
        const replica_slot* tunnel_slot = nullptr;
        int client_fd = -1;
        const replica_slot* waiting_on = nullptr; // set while a resendable request awaits
        bool cut = false;                         // adopt() shut it down
        active_upstream* prev = nullptr;
        active_upstream* next = nullptr;
    };

    runtime::task<void> control_request(net::request_context& request);
    runtime::task<void> proxy(net::request_context& request);
    // Reads ahead of the upstream request; false when the client's body broke off.
    runtime::task<bool> read_ahead(net::request_context& request, outbound_body& body);
    // The slot of the replica for `key` in the current table; with `after` set, the next
    // distinct replica after the one called so (where a retry goes). Null: none.
    replica_slot* pick(const hashing::request_key& key, const replica_slot* after);
    runtime::task<attempt_result> attempt(net::request_context& request, replica_slot& slot,
                                          std::string_view wire, outbound_body& body,
                                          bool may_resend);
    // Sends the rest of a streamed body. 0, or -errno when the upstream failed (or
    // -ECONNABORTED when the client's body broke off).
    runtime::task<int> send_rest(net::client_connection& connection, outbound_body& body);
    // Streams the upstream's response (its head has arrived) back to the client.
    runtime::task<attempt_result> relay_response(net::request_context& request, replica_slot& slot,
                                                 net::client_connection& connection, bool reusable,
                                                 active_upstream& active);
    // The replica answered an upgrade request with 101: relays that, then joins the two
    // connections byte for byte until either side closes (tunnel.cpp).
    runtime::task<attempt_result> tunnel(net::request_context& request, replica_slot& slot,
                                         net::client_connection& connection,
                                         active_upstream& active);
    // Upkeep: tunnels whose replica left the table more than --drain-timeout-ms ago end.
    void close_retired_tunnels(replica_slot::clock::time_point now) noexcept;
    // False when the request's Connection field lists too many options (a 400).
    bool build_upstream_request(const net::request_context& request, const outbound_body& body,
                                std::string& wire) const;
    // The upstream's next response event, within --response-timeout-ms (-ETIMEDOUT).
    runtime::task<net::response_event> next_event(net::client_connection& connection);
    // Every 50 ms: expired queue waits and idle connections, retired slots let go.
    runtime::task<void> upkeep();
    void track(active_upstream& node, int fd) noexcept;
    // Shuts down the sockets of resendable requests awaiting a replica now out of picking.
    void cut_unroutable() noexcept;
    // Whether the slot's replica may be picked in the current table (false: not in it).
    bool routable(const replica_slot& slot) const noexcept;
    void untrack(active_upstream& node) noexcept;

    const balancer_config& config_;
    control_link& control_;
    runtime::reactor& home_;
    const net::http_server* server_ = nullptr;
    std::shared_ptr<const routing_table> table_;
    slot_limits slot_limits_;
    // One slot per replica of table_, in its order; slots that left the table wait in
    // retired_ for their last request.
    std::vector<std::unique_ptr<replica_slot>> slots_;
    std::vector<std::unique_ptr<replica_slot>> retired_;
    // Requests in flight per replica of table_ (for `bounded`), and their sum: the slots
    // count into these.
    std::vector<std::uint32_t> loads_;
    std::uint64_t loads_total_ = 0;
    active_upstream* active_ = nullptr;
    bool aborting_ = false;
    worker_metrics metrics_;
    json::control_payload_parser payload_parser_;
    std::minstd_rand random_{std::random_device{}()};
    // Upstream response deadlines: one timer for the worker, not one per receive. The
    // sweepers have their own scope, so that they run until every request has drained.
    runtime::deadline_list deadlines_;
    runtime::cancel_slot upkeep_sleep_;
    bool stopping_ = false;
    runtime::scope timers_;
    runtime::scope calls_;
};

} // namespace balancer
