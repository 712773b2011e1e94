#pragma once
// admin_handler: the admin listener (--admin-listen, 127.0.0.1:9901 by default), served
// on the control thread: GET /metrics (Prometheus text format), /ring (the slot map as
// JSON), /stats (per-replica counts, in-flight, health). Read-only.

#include "net/http_server.hpp"

namespace balancer {

class control_plane;

class admin_handler final : public net::request_handler {
public:
    explicit admin_handler(control_plane& control) : control_(control) {}
    runtime::task<void> handle(net::request_context& request) override;
    void append_error(std::string& out, int status, std::string_view reason) const override;

private:
    control_plane& control_;
};

} // namespace balancer
