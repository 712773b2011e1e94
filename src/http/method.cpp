#include "http/method.hpp"

namespace http {

std::string_view method_name(method m) {
    switch (m) {
    case method::get:
        return "GET";
    case method::head:
        return "HEAD";
    case method::post:
        return "POST";
    case method::put:
        return "PUT";
    case method::delete_:
        return "DELETE";
    case method::connect:
        return "CONNECT";
    case method::options:
        return "OPTIONS";
    case method::trace:
        return "TRACE";
    case method::patch:
        return "PATCH";
    case method::other:
        break;
    }
    return {};
}

std::string_view version_name(version v) {
    return v == version::http_1_0 ? "HTTP/1.0" : "HTTP/1.1";
}

bool is_idempotent(method m) {
    switch (m) {
    case method::get:
    case method::head:
    case method::put:
    case method::delete_:
    case method::options:
    case method::trace:
        return true;
    default:
        return false;
    }
}

} // namespace http
