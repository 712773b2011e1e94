#include "balancer/respond.hpp"

#include "api/answer.hpp"

namespace balancer {

namespace {
http::response_options options_for(const net::request_context& request, int status,
                                   std::span<const http::header_field> extra) {
    http::response_options options;
    options.status = status;
    options.keep_alive = request.keep_alive;
    options.version = request.head.version;
    options.extra_headers = extra;
    return options;
}
} // namespace

void respond_json(net::request_context& request, int status, std::string_view body,
                  std::span<const http::header_field> extra) {
    api::append_json(request.out, options_for(request, status, extra), body,
                     request.head.method == http::method::head);
}

void respond_failure(net::request_context& request, int status, std::string_view message,
                     std::span<const http::header_field> extra) {
    api::append_failure(request.out, options_for(request, status, extra), message,
                        request.head.method == http::method::head);
}

void append_error_answer(std::string& out, int status, std::string_view reason) {
    http::response_options options;
    options.status = status;
    options.keep_alive = false;
    api::append_failure(out, options, "<Error> " + std::string(reason));
}

} // namespace balancer
