#include "balancer/admin_handler.hpp"

#include "balancer/control_plane.hpp"
#include "http/serializer.hpp"

namespace balancer {

runtime::task<void> admin_handler::handle(net::request_context& request) {
    http::response_options options;
    options.keep_alive = request.keep_alive;
    options.version = request.head.version;
    const std::string_view path = request.head.path;
    if (request.head.method != http::method::get) {
        static constexpr http::header_field allow[] = {{"Allow", "GET"}};
        options.extra_headers = allow;
        net::append_error_response(request.out, 405, "<Error> Method not allowed",
                                   request.keep_alive);
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
        net::append_error_response(request.out, 404, message, request.keep_alive);
    }
}

} // namespace balancer
