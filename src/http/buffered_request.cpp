#include "http/buffered_request.hpp"

namespace http {

buffered_request::step buffered_request::feed(std::string_view input) {
    if (complete_) {
        body_.clear();
        complete_ = false;
    }
    std::size_t consumed = 0;
    for (;;) {
        parse_step s = parser_.feed(input.substr(consumed));
        consumed += s.consumed;
        switch (s.event) {
        case parse_event::need_more:
            return {status::need_more, consumed};
        case parse_event::headers_complete:
            return {status::headers_complete, consumed};
        case parse_event::body:
            body_.append(s.body);
            break;
        case parse_event::message_complete:
            complete_ = true;
            return {status::complete, consumed};
        case parse_event::error:
            return {status::error, consumed};
        }
    }
}

} // namespace http
