#pragma once
// admin_handler: the admin listener (--admin-listen, 127.0.0.1:9901 by default), served
// on the control thread: GET / (the dashboard page), /metrics (Prometheus text format),
// /ring (the slot map as JSON), /stats (per-replica counts, in-flight, health, recent
// events); and POST /add and /rm for the dashboard's forms, under the control API's rules
// (--control-from, the bearer token).

#include "net/http_server.hpp"
#include "json/control_payload.hpp"

namespace balancer {

class control_plane;

class admin_handler final : public net::request_handler {
public:
    explicit admin_handler(control_plane& control) : control_(control) {}
    runtime::task<void> handle(net::request_context& request) override;
    void append_error(std::string& out, int status, std::string_view reason) const override;
    std::uint64_t body_limit(const http::request_head& head) const override;

private:
    control_plane& control_;
    json::control_payload_parser payload_parser_;
};

} // namespace balancer
