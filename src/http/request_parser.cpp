#include "http/request_parser.hpp"

namespace http {

void split_target(std::string_view target, std::string_view& path, std::string_view& query) {
    std::string_view rest = target;
    if (!rest.empty() && rest.front() != '/' && rest != "*") {
        // absolute-form "http://host:port/p?q": the path starts after the authority.
        std::size_t scheme = rest.find("://");
        if (scheme != std::string_view::npos) {
            rest.remove_prefix(scheme + 3);
            std::size_t slash = rest.find_first_of("/?#");
            rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
        }
    }
    std::size_t hash = rest.find('#');
    if (hash != std::string_view::npos) {
        rest = rest.substr(0, hash);
    }
    std::size_t q = rest.find('?');
    if (q == std::string_view::npos) {
        path = rest;
        query = {};
    } else {
        path = rest.substr(0, q);
        query = rest.substr(q + 1);
    }
    if (path.empty() && !target.empty() && target.front() != '/' && rest.data() != target.data()) {
        path = "/";
    }
}

request_parser::request_parser(const parse_limits& limits)
    : core_(message_parser::kind::request, limits) {}

parse_step request_parser::feed(std::string_view input) {
    parse_step step = core_.feed(input);
    if (step.event == parse_event::headers_complete) {
        head_.method = core_.method_id();
        head_.method_name = core_.method_text();
        head_.target = core_.target();
        split_target(head_.target, head_.path, head_.query);
        head_.version = core_.http_version();
        head_.headers = core_.headers();
        head_.content_length = core_.content_length();
        head_.chunked = core_.chunked();
        head_.keep_alive = core_.keep_alive();
        head_.expect_continue = head_.version == version::http_1_1 &&
                                head_.headers.contains_token("expect", "100-continue");
        head_.upgrade = core_.upgrade();
    }
    return step;
}

} // namespace http
