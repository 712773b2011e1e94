#include "replica/replica_handler.hpp"

#include <cstdlib>

#include "http/serializer.hpp"
#include "runtime/io.hpp"
#include "json/json_writer.hpp"

namespace replica {

namespace {
void append_json_failure(std::string& out, http::response_options options,
                         std::string_view message) {
    std::string body;
    json::append_status_message(body, message, false);
    options.content_type = "application/json";
    http::append_response(out, options, body);
}
} // namespace

replica_handler::replica_handler(std::string server_id, std::chrono::milliseconds delay)
    : delay_(delay) {
    json::append_status_message(home_body_, "Hello from Server: " + server_id, true);
}

void replica_handler::append_error(std::string& out, int status, std::string_view reason) const {
    http::response_options options;
    options.status = status;
    options.keep_alive = false;
    append_json_failure(out, options, std::string("<Error> ").append(reason));
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

runtime::task<void> replica_handler::handle(net::request_context& request) {
    const http::request_head& head = request.head;
    const bool readable = head.method == http::method::get || head.method == http::method::head;
    http::response_options options;
    options.keep_alive = request.keep_alive;
    options.version = head.version;

    if (head.path == "/home" || head.path == "/heartbeat") {
        if (!readable) {
            static constexpr http::header_field allow[] = {{"Allow", "GET, HEAD"}};
            options.extra_headers = allow;
            options.status = 405;
            append_json_failure(request.out, options, "<Error> Method not allowed");
            co_return;
        }
        if (head.path == "/home" && delay_.count() > 0) {
            co_await runtime::sleep_for(delay_);
        }
        const std::string_view body = head.path == "/home" ? std::string_view{home_body_} : "";
        if (!body.empty()) {
            options.content_type = "application/json";
        }
        if (head.method == http::method::head) {
            http::append_response_head(request.out, options, body.size());
        } else {
            http::append_response(request.out, options, body);
        }
        co_return;
    }
    std::string message = "<Error> '";
    message += head.path;
    message += "' endpoint does not exist in server replicas";
    options.status = 404;
    append_json_failure(request.out, options, message);
}

} // namespace replica
