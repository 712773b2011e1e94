#include "balancer/admin_handler.hpp"

#include "balancer/control_access.hpp"
#include "balancer/control_plane.hpp"
#include "balancer/dashboard.hpp"
#include "balancer/respond.hpp"
#include "http/serializer.hpp"

namespace balancer {

void admin_handler::append_error(std::string& out, int status, std::string_view reason) const {
    append_error_answer(out, status, reason);
}

std::uint64_t admin_handler::body_limit(const http::request_head&) const {
    return 64 * 1024; // as /add and /rm on port 5000
}

runtime::task<void> admin_handler::handle(net::request_context& request) {
    http::response_options options;
    options.keep_alive = request.keep_alive;
    options.version = request.head.version;
    const std::string_view path = request.head.path;
    if (path == "/add" || path == "/rm") {
        // The dashboard's forms: the control API's own rules, on this listener so that the
        // page needs no other origin.
        const bool is_add = path == "/add";
        if (!admit_change(request, control_.config(), is_add)) {
            co_return;
        }
        const bool body_empty = blank(request.body);
        json::control_payload_result payload = payload_parser_.parse(request.body);
        // On the control thread already: no message to it needed.
        api_answer answer;
        if (is_add) {
            answer = co_await control_.add(std::move(payload), body_empty);
        } else {
            answer = co_await control_.remove(std::move(payload), body_empty);
        }
        respond_json(request, answer.status, answer.body);
        co_return;
    }
    if (request.head.method != http::method::get) {
        static constexpr http::header_field allow[] = {{"Allow", "GET"}};
        respond_failure(request, 405, "<Error> Method not allowed", allow);
        co_return;
    }
    if (path == "/") {
        options.content_type = "text/html; charset=utf-8";
        http::append_response(request.out, options, dashboard_page());
    } else if (path == "/metrics") {
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
        message += "' is not an admin endpoint (try /, /metrics, /ring, /stats)";
        respond_failure(request, 404, message);
    }
}

} // namespace balancer
