#include "replica/replica_handler.hpp"

#include <cstdlib>

#include "api/answer.hpp"
#include "http/serializer.hpp"
#include "runtime/io.hpp"

namespace replica {

replica_handler::replica_handler(std::string server_id, std::chrono::milliseconds delay)
    : server_id_(std::move(server_id)), delay_(delay) {
    home_body_ = api::success_body("Hello from Server: " + server_id_);
}

void replica_handler::append_error(std::string& out, int status, std::string_view reason) const {
    http::response_options options;
    options.status = status;
    options.keep_alive = false;
    api::append_failure(out, options, std::string("<Error> ").append(reason));
}

std::string resolve_server_id(const char* flag_value) {
    if (flag_value != nullptr && *flag_value != '\0') {
        return flag_value;
    }
    if (const char* from_environment = std::getenv("SERVER_ID");
        from_environment != nullptr && *from_environment != '\0') {
        return from_environment;
    }
    return "Unknown";
}

std::uint64_t replica_handler::body_limit(const http::request_head& head) const {
    return head.path == "/sink" ? std::uint64_t{1} << 40 : request_handler::body_limit(head);
}

bool replica_handler::streams_body(const http::request_head& head) const {
    return head.path == "/sink";
}

runtime::task<void> replica_handler::handle(net::request_context& request) {
    const http::request_head& head = request.head;
    const bool readable = head.method == http::method::get || head.method == http::method::head;
    http::response_options options;
    options.keep_alive = request.keep_alive;
    options.version = head.version;

    if (head.path == "/ws") {
        co_await websocket(request);
        co_return;
    }
    if (head.path.starts_with("/bytes/") && readable) {
        co_await bytes(request, head.path.substr(7));
        co_return;
    }
    if (head.path == "/sink" && head.method == http::method::post) {
        co_await sink(request);
        co_return;
    }
    if (head.path == "/home" || head.path == "/heartbeat") {
        if (!readable) {
            static constexpr http::header_field allow[] = {{"Allow", "GET, HEAD"}};
            options.extra_headers = allow;
            options.status = 405;
            api::append_failure(request.out, options, "<Error> Method not allowed");
            co_return;
        }
        if (head.path == "/home" && delay_.count() > 0) {
            co_await runtime::sleep_for(delay_);
        }
        if (head.path == "/home") {
            api::append_json(request.out, options, home_body_, head.method == http::method::head);
        } else if (head.method == http::method::head) {
            http::append_response_head(request.out, options, 0);
        } else {
            http::append_response(request.out, options, "");
        }
        co_return;
    }
    std::string message = "<Error> '";
    message += head.path;
    message += "' endpoint does not exist in server replicas";
    options.status = 404;
    api::append_failure(request.out, options, message);
}

} // namespace replica
