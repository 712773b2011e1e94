// The engine under request_parser and response_parser: drives llhttp one event at a
// time (every callback that is an event pauses llhttp with HPE_PAUSED), copies the head
// into an arena reused across messages, checks the framing rules llhttp leaves to us,
// and enforces parse_limits. Owned by one thread (the connection's). The arena and the
// field tables grow on demand (nothing is reserved at construction) and keep their
// capacity across messages; trim() gives back what a large head made them take. It is
// neither copyable nor movable: llhttp keeps a pointer back to it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <llhttp.h>

#include "http/header_list.hpp"
#include "http/method.hpp"
#include "http/parse_step.hpp"

namespace http {

// The most bytes between two pieces of a chunked body (the CRLF after a chunk and the next
// size line, without extensions): buffered input longer than this holds body bytes.
inline constexpr std::size_t max_chunk_framing = 32;

class message_parser {
public:
    enum class kind : std::uint8_t { request, response };

    message_parser(kind k, const parse_limits& limits);
    message_parser(const message_parser&) = delete;
    message_parser& operator=(const message_parser&) = delete;

    // See request_parser::feed for the contract.
    parse_step feed(std::string_view input);
    // End of input: ends a read-until-close body (message_complete), reports a truncated
    // message (error), or need_more when no message was in progress.
    parse_step finish();
    // Back to the initial state, as on a new connection. Keeps the arena's capacity.
    void reset();
    // Frees the arena and the field tables when they grew past what an ordinary head
    // needs (a parser going back to a pool after a large request). Between messages only:
    // the head's views point into the arena.
    void trim() noexcept;

    // Body limit of the current message; checked against Content-Length at the next
    // feed and against the running total of a chunked body. False when the announced
    // Content-Length already exceeds it (the next feed reports 413).
    bool set_body_limit(std::uint64_t limit);
    // Response side: the request was HEAD, so the response has no body whatever it says.
    void set_no_body_expected(bool v) { no_body_expected_ = v; }

    const parse_error& error() const { return error_; }
    bool in_message() const { return state_ == state::head || state_ == state::body; }

    // Valid from headers_complete until the next message begins.
    method method_id() const { return method_; }
    std::string_view method_text() const { return span(method_span_); }
    std::string_view target() const { return span(target_span_); }
    std::string_view status_text() const { return span(status_span_); }
    int status_code() const { return status_code_; }
    version http_version() const { return version_; }
    header_list headers() const { return header_list{views_}; }
    std::optional<std::uint64_t> content_length() const { return content_length_; }
    bool chunked() const { return chunked_; }
    bool keep_alive() const { return keep_alive_; }
    bool upgrade() const { return upgrade_; }
    // False when the head announced no body will follow (HEAD answer, 1xx, 204, 304).
    bool body_expected() const { return !(parser_.flags & F_SKIPBODY); }

private:
    enum class state : std::uint8_t { idle, head, body, closed, upgraded, failed };
    struct text_span {
        std::uint32_t offset = 0;
        std::uint32_t length = 0;
    };
    struct field_spans {
        text_span name;
        text_span value;
    };

    static const llhttp_settings_t& settings() noexcept;
    static int on_message_begin(llhttp_t* p);
    static int on_method(llhttp_t* p, const char* at, std::size_t len);
    static int on_url(llhttp_t* p, const char* at, std::size_t len);
    static int on_status(llhttp_t* p, const char* at, std::size_t len);
    static int on_header_field(llhttp_t* p, const char* at, std::size_t len);
    static int on_header_field_complete(llhttp_t* p);
    static int on_header_value(llhttp_t* p, const char* at, std::size_t len);
    static int on_headers_complete(llhttp_t* p);
    static int on_chunk_header(llhttp_t* p);
    static int on_body(llhttp_t* p, const char* at, std::size_t len);
    static int on_message_complete(llhttp_t* p);

    std::string_view span(text_span s) const { return {arena_.data() + s.offset, s.length}; }
    // Copies a piece of head text into the arena, extending `s` (pieces of one token are
    // contiguous in the arena because nothing else is appended in between).
    bool append(text_span& s, const char* at, std::size_t len);
    // Head bytes seen so far, up to and including `end` (a pointer into this feed).
    std::size_t head_bytes_until(const char* end) const;
    int fail(int status, std::string_view reason);
    bool validate_head();
    parse_step finish_step(llhttp_errno_t err, std::size_t consumed);
    // Line-ending rules llhttp's non-strict build lets through (bare LF, bare CR,
    // obs-fold) and the head size limit, checked over head bytes llhttp has gone
    // through. Returns the first fault, or status 0.
    parse_error scan_head(std::string_view bytes);
    // The CRLF after chunk data, which llhttp's non-strict build skips unchecked.
    bool check_chunk_crlf(std::string_view input);

    kind kind_;
    parse_limits limits_;
    llhttp_t parser_{};

    state state_ = state::idle;
    parse_event event_ = parse_event::need_more;
    std::string_view body_;
    parse_error error_;

    // Head bytes consumed by earlier feeds of the current message.
    std::size_t head_bytes_ = 0;
    const char* feed_begin_ = nullptr;
    std::size_t trailer_bytes_ = 0;
    bool field_open_ = false;
    char prev_head_byte_ = 0;
    std::uint8_t chunk_crlf_expected_ = 0;
    std::uint64_t chunk_remaining_ = 0;

    std::string arena_;
    std::vector<field_spans> fields_;
    std::vector<header_field> views_;
    text_span method_span_;
    text_span target_span_;
    text_span status_span_;

    method method_ = method::other;
    version version_ = version::http_1_1;
    int status_code_ = 0;
    std::optional<std::uint64_t> content_length_;
    bool chunked_ = false;
    bool keep_alive_ = false;
    bool upgrade_ = false;
    bool no_body_expected_ = false;
    std::uint64_t body_limit_ = 0;
    std::uint64_t body_total_ = 0;
};

} // namespace http
