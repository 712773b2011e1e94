#include "api/answer.hpp"

#include "json/json_writer.hpp"

namespace api {

void append_json(std::string& out, http::response_options options, std::string_view body,
                 bool head_only) {
    options.content_type = "application/json";
    if (head_only) {
        http::append_response_head(out, options, body.size());
    } else {
        http::append_response(out, options, body);
    }
}

void append_failure(std::string& out, http::response_options options, std::string_view message,
                    bool head_only) {
    std::string body;
    json::append_status_message(body, message, false);
    append_json(out, options, body, head_only);
}

std::string success_body(std::string_view message) {
    std::string body;
    json::append_status_message(body, message, true);
    return body;
}

} // namespace api
