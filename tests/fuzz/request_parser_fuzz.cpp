// libFuzzer target for http::request_parser. The first input byte seeds the split
// pattern and the body limit; the rest is fed twice, whole and in pseudo-random pieces,
// and the two transcripts must agree (split invariance). Step invariants are checked on
// every event. One parser pair lives across runs, to exercise arena reuse after reset().
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "http/request_parser.hpp"

namespace {

void check(bool ok) {
    if (!ok) {
        std::abort();
    }
}

void describe(std::string& t, const http::request_head& h) {
    t += h.method_name;
    t += ' ';
    t += h.target;
    t += h.version == http::version::http_1_0 ? " 1.0" : " 1.1";
    for (const auto& f : h.headers) {
        t += '|';
        t += f.name;
        t += ':';
        t += f.value;
    }
    t += h.keep_alive ? " ka" : " close";
    t += h.chunked ? " chunked" : "";
    t += h.content_length ? std::to_string(*h.content_length) : std::string("-");
    t += '\n';
}

// Feeds `input` in pieces of sizes drawn from `seed` (0: whole) and returns the events.
std::string run(http::request_parser& p, std::string_view input, std::uint32_t seed,
                std::uint64_t body_limit) {
    p.reset();
    std::string t;
    std::string body;
    std::string pending;
    std::size_t offset = 0;
    while (offset < input.size()) {
        std::size_t piece = input.size() - offset;
        if (seed != 0) {
            seed = seed * 1103515245u + 12345u; // an LCG is plenty for split points
            piece = std::min<std::size_t>(piece, 1 + (seed >> 16) % 17);
        }
        pending.append(input.substr(offset, piece));
        offset += piece;
        // A fresh copy per round, scribbled over afterwards: views into it must not
        // survive in the parser.
        std::string buffer = pending;
        std::string_view in = buffer;
        for (;;) {
            http::parse_step s = p.feed(in);
            check(s.consumed <= in.size());
            in.remove_prefix(s.consumed);
            if (s.event == http::parse_event::need_more) {
                check(in.empty());
                break;
            }
            if (s.event == http::parse_event::error) {
                check(p.error().status >= 400 && p.error().status <= 505);
                check(!p.error().reason.empty());
                t += "error " + std::to_string(p.error().status) + "\n";
                return t;
            }
            if (s.event == http::parse_event::headers_complete) {
                p.set_body_limit(body_limit);
                describe(t, p.head());
            } else if (s.event == http::parse_event::body) {
                check(!s.body.empty());
                check(s.body.data() >= buffer.data() &&
                      s.body.data() + s.body.size() <= buffer.data() + buffer.size());
                body.append(s.body);
            } else if (s.event == http::parse_event::message_complete) {
                describe(t, p.head());
                t += "body " + body + "\n";
                body.clear();
            }
        }
        pending.assign(in);
        std::memset(buffer.data(), '#', buffer.size());
    }
    return t;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) {
        return 0;
    }
    static http::request_parser whole_parser;
    static http::request_parser split_parser;
    std::uint32_t seed = data[0] | 1u;
    std::uint64_t body_limit = (data[0] & 0x80) ? 16 : 64 * 1024;
    std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
    std::string whole = run(whole_parser, input, 0, body_limit);
    std::string split = run(split_parser, input, seed, body_limit);
    check(whole == split);
    return 0;
}
