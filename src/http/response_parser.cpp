#include "http/response_parser.hpp"

namespace http {

response_parser::response_parser(const parse_limits& limits)
    : core_(message_parser::kind::response, limits) {}

parse_step response_parser::feed(std::string_view input) {
    parse_step step = core_.feed(input);
    if (step.event == parse_event::headers_complete) {
        head_.status = core_.status_code();
        head_.reason = core_.status_text();
        head_.version = core_.http_version();
        head_.headers = core_.headers();
        head_.content_length = core_.content_length();
        head_.chunked = core_.chunked();
        head_.has_body = core_.body_expected();
        head_.keep_alive = core_.keep_alive();
    }
    return step;
}

} // namespace http
