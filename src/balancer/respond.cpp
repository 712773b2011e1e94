#include "balancer/respond.hpp"

#include <string>

#include "http/serializer.hpp"
#include "json/json_writer.hpp"

namespace balancer {

void respond_json(net::request_context& request, int status, std::string_view body,
                  std::span<const http::header_field> extra) {
    http::response_options options;
    options.status = status;
    options.content_type = "application/json";
    options.keep_alive = request.keep_alive;
    options.version = request.head.version;
    options.extra_headers = extra;
    if (request.head.method == http::method::head) {
        http::append_response_head(request.out, options, body.size());
    } else {
        http::append_response(request.out, options, body);
    }
}

void respond_failure(net::request_context& request, int status, std::string_view message,
                     std::span<const http::header_field> extra) {
    std::string body;
    json::append_status_message(body, message, false);
    respond_json(request, status, body, extra);
}

void append_error_answer(std::string& out, int status, std::string_view reason) {
    std::string message = "<Error> ";
    message += reason;
    std::string body;
    json::append_status_message(body, message, false);
    http::response_options options;
    options.status = status;
    options.content_type = "application/json";
    options.keep_alive = false;
    http::append_response(out, options, body);
}

} // namespace balancer
