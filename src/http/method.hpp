// Request methods and protocol versions as small enums, with their wire names. Constant
// tables only: no state, no allocation, usable from any thread.
#pragma once

#include <cstdint>
#include <string_view>

namespace http {

// The methods a load balancer treats specially; anything else llhttp accepts is
// `other` and keeps its exact name in request_head::method_name.
enum class method : std::uint8_t {
    get,
    head,
    post,
    put,
    delete_,
    connect,
    options,
    trace,
    patch,
    other
};

enum class version : std::uint8_t { http_1_0, http_1_1 };

// "GET", "HEAD", ...; empty for method::other.
std::string_view method_name(method m);

// "HTTP/1.0" or "HTTP/1.1".
std::string_view version_name(version v);

// Safe methods plus PUT and DELETE (RFC 9110 9.2.2): may be retried on another replica
// when no response byte came back.
bool is_idempotent(method m);

} // namespace http
