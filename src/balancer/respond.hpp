#pragma once
// Answers lbd writes itself (control API, proxy errors), in the request's HTTP version,
// without a body for HEAD: api::answer's JSON (jsonify's bytes).

#include <span>
#include <string_view>

#include "http/header_list.hpp"
#include "net/http_server.hpp"

namespace balancer {

void respond_json(net::request_context& request, int status, std::string_view body,
                  std::span<const http::header_field> extra = {});

// {"message":message,"status":"failure"}\n with `status`.
void respond_failure(net::request_context& request, int status, std::string_view message,
                     std::span<const http::header_field> extra = {});

// The server's own error answers (net::request_handler::append_error):
// {"message":"<Error> reason","status":"failure"}\n, closing the connection.
void append_error_answer(std::string& out, int status, std::string_view reason);

} // namespace balancer
