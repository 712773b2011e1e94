#pragma once
// answer: the JSON answers lbd and lb-replica write themselves, whole responses with the
// bytes Flask's jsonify writes ({"message":...,"status":...} compact, keys sorted, a
// trailing "\n", Content-Type: application/json), so clients written against the
// assignment's Flask solutions read them unchanged. Shared by both programs; no I/O.

#include <string>
#include <string_view>

#include "http/serializer.hpp"

namespace api {

// A response whose body is `body` (JSON, e.g. from json::append_status_message), in
// `options` (status, version, keep-alive, extra headers); head only when `head_only`.
void append_json(std::string& out, http::response_options options, std::string_view body,
                 bool head_only = false);

// {"message":"<message>","status":"failure"}\n with options.status.
void append_failure(std::string& out, http::response_options options, std::string_view message,
                    bool head_only = false);

// {"message":"<message>","status":"successful"}\n: the body, for answers built once.
std::string success_body(std::string_view message);

} // namespace api
