// Test driver for the pull parsers: feeds input in given pieces the way a connection
// does (keeping unconsumed bytes, scribbling over buffers after use to catch views that
// outlive them) and records what came out as comparable text.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "http/request_parser.hpp"

namespace http_test {

struct transcript {
    std::vector<std::string> messages; // one line per complete message: head + body
    int error_status = 0;
    std::string error_reason;
    bool operator==(const transcript&) const = default;
};

inline std::string describe(const http::request_head& h) {
    std::string s;
    s += std::string(h.method_name) + " " + std::string(h.target);
    s += " path=" + std::string(h.path) + " query=" + std::string(h.query);
    s += h.version == http::version::http_1_0 ? " 1.0" : " 1.1";
    for (const auto& f : h.headers) {
        s += " [" + std::string(f.name) + ":" + std::string(f.value) + "]";
    }
    s += " cl=" + (h.content_length ? std::to_string(*h.content_length) : std::string("-"));
    s += h.chunked ? " chunked" : "";
    s += h.keep_alive ? " keep-alive" : " close";
    s += h.expect_continue ? " expect" : "";
    s += h.upgrade ? " upgrade" : "";
    return s;
}

// Feeds `pieces` one after another into `p`. body_limit, when set, is applied at every
// headers_complete.
inline transcript run(http::request_parser& p, const std::vector<std::string>& pieces,
                      std::uint64_t body_limit = 0) {
    transcript t;
    std::string pending; // unconsumed bytes, as a connection would keep them
    std::string head;
    std::string body;
    for (const std::string& piece : pieces) {
        pending += piece;
        std::string buffer = pending; // the "receive buffer", recycled after each round
        std::string_view in = buffer;
        for (;;) {
            http::parse_step s = p.feed(in);
            in.remove_prefix(s.consumed);
            if (s.event == http::parse_event::need_more) {
                break;
            }
            if (s.event == http::parse_event::error) {
                t.error_status = p.error().status;
                t.error_reason = std::string(p.error().reason);
                return t;
            }
            if (s.event == http::parse_event::headers_complete) {
                if (body_limit != 0) {
                    p.set_body_limit(body_limit);
                }
                head = describe(p.head());
            } else if (s.event == http::parse_event::body) {
                body.append(s.body);
            } else if (s.event == http::parse_event::message_complete) {
                // The head must still be intact although the buffer is about to go.
                t.messages.push_back(describe(p.head()) + " | " + body);
                if (head != describe(p.head())) {
                    t.messages.push_back("HEAD CHANGED: " + head);
                }
                body.clear();
            }
        }
        pending.assign(in);
        std::fill(buffer.begin(), buffer.end(), '#');
    }
    if (!pending.empty()) {
        t.messages.push_back("LEFTOVER " + pending);
    }
    return t;
}

inline transcript run_whole(std::string_view input, std::uint64_t body_limit = 0) {
    http::request_parser p;
    return run(p, {std::string(input)}, body_limit);
}

inline transcript run_bytewise(std::string_view input, std::uint64_t body_limit = 0) {
    http::request_parser p;
    std::vector<std::string> pieces;
    for (char c : input) {
        pieces.emplace_back(1, c);
    }
    return run(p, pieces, body_limit);
}

} // namespace http_test
