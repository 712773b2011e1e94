#pragma once
// replica_handler: the lb-replica web server's routes. GET /home answers
// {"message":"Hello from Server: <ID>","status":"successful"}\n (api::answer: jsonify's
// bytes), GET /heartbeat 200 with
// an empty body, GET /ws a WebSocket echo (RFC 6455), GET /bytes/N N bytes and POST /sink
// a body of any size read and counted (benchmarks), any other path 404 with a JSON error,
// another method on a known path 405.
// One per worker thread; the /home body is rendered once at construction. With a delay,
// /home answers that much later (a slow replica, for tests and benchmarks).

#include <chrono>
#include <string>

#include "net/http_server.hpp"

namespace replica {

class replica_handler : public net::request_handler {
public:
    explicit replica_handler(std::string server_id,
                             std::chrono::milliseconds delay = std::chrono::milliseconds{0});

    // Replica requests carry no body worth having (64 KiB is plenty), but /sink's.
    std::uint64_t body_limit(const http::request_head& head) const override;
    bool streams_body(const http::request_head& head) const override;
    runtime::task<void> handle(net::request_context& request) override;
    void append_error(std::string& out, int status, std::string_view reason) const override;

    const std::string& home_body() const noexcept { return home_body_; }

    // The largest /bytes/N.
    static constexpr std::uint64_t max_bytes = std::uint64_t{1} << 30;

private:
    // GET /ws: the WebSocket echo (websocket_echo.cpp).
    runtime::task<void> websocket(net::request_context& request);
    // GET /bytes/N and POST /sink, for large-body benchmarks (bench_routes.cpp).
    runtime::task<void> bytes(net::request_context& request, std::string_view count);
    runtime::task<void> sink(net::request_context& request);

    std::string server_id_;
    std::string home_body_;
    std::chrono::milliseconds delay_;
};

// The id from --id, else $SERVER_ID, else "Unknown" (docs/design.md, "What it is").
std::string resolve_server_id(const char* flag_value);

} // namespace replica
