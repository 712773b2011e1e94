#include "balancer/admin_handler.hpp"

#include "balancer/control_plane.hpp"
#include "balancer/respond.hpp"
#include "http/serializer.hpp"

namespace balancer {

void admin_handler::append_error(std::string& out, int status, std::string_view reason) const {
    append_error_answer(out, status, reason);
}

runtime::task<void> admin_handler::handle(net::request_context& request) {
    http::response_options options;
    options.keep_alive = request.keep_alive;
    options.version = request.head.version;
    const std::string_view path = request.head.path;
    if (request.head.method != http::method::get) {
        static constexpr http::header_field allow[] = {{"Allow", "GET"}};
        respond_failure(request, 405, "<Error> Method not allowed", allow);
        co_return;
    }
    if (path == "/metrics") {
        const std::string text = co_await control_.metrics_text();
        options.content_type = "text/plain; version=0.0.4";
        http::append_response(request.out, options, text);
    } else if (path == "/ring") {
        options.content_type = "application/json";
        http::append_response(request.out, options, control_.ring_json());
    } else if (path == "/stats") {
        const std::string body = co_await control_.stats_json();
        options.content_type = "application/json";
        http::append_response(request.out, options, body);
    } else {
        std::string message = "<Error> '";
        message += path;
        message += "' is not an admin endpoint (try /metrics, /ring, /stats)";
        respond_failure(request, 404, message);
    }
}

} // namespace balancer
