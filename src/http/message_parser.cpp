#include "http/message_parser.hpp"

#include <algorithm>
#include <cstring>

namespace http {

namespace {

message_parser& self(llhttp_t* p) {
    return *static_cast<message_parser*>(p->data);
}

std::string_view trim_blanks(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

bool all_digits(std::string_view s) {
    if (s.empty()) {
        return false;
    }
    for (char c : s) {
        if (c < '0' || c > '9') {
            return false;
        }
    }
    return true;
}

// Field values may hold VCHAR, obs-text, SP and HTAB only (RFC 9110 5.5). CR or LF in a
// value means an obs-fold or a bare line break got through: both are smuggling tools.
bool valid_field_value(std::string_view v) {
    for (char c : v) {
        auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && u != '\t') || u == 0x7f) {
            return false;
        }
    }
    return true;
}

method method_from_llhttp(std::uint8_t m) {
    switch (m) {
    case HTTP_GET:
        return method::get;
    case HTTP_HEAD:
        return method::head;
    case HTTP_POST:
        return method::post;
    case HTTP_PUT:
        return method::put;
    case HTTP_DELETE:
        return method::delete_;
    case HTTP_CONNECT:
        return method::connect;
    case HTTP_OPTIONS:
        return method::options;
    case HTTP_TRACE:
        return method::trace;
    case HTTP_PATCH:
        return method::patch;
    default:
        return method::other;
    }
}

std::string_view reason_for(llhttp_errno_t err) {
    switch (err) {
    case HPE_INVALID_METHOD:
        return "invalid method";
    case HPE_INVALID_URL:
        return "invalid request target";
    case HPE_INVALID_VERSION:
        return "malformed HTTP version";
    case HPE_INVALID_HEADER_TOKEN:
        return "invalid header field";
    case HPE_INVALID_CONTENT_LENGTH:
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        return "invalid Content-Length";
    case HPE_INVALID_TRANSFER_ENCODING:
        return "invalid Transfer-Encoding";
    case HPE_INVALID_CHUNK_SIZE:
        return "invalid chunk size";
    case HPE_INVALID_STATUS:
        return "invalid status line";
    case HPE_CLOSED_CONNECTION:
        return "data after the last message";
    case HPE_INVALID_EOF_STATE:
        return "message truncated";
    case HPE_CR_EXPECTED:
    case HPE_LF_EXPECTED:
    case HPE_STRICT:
        return "malformed line ending";
    default:
        return "malformed message";
    }
}

} // namespace

// The callbacks, shared by every parser (llhttp only reads them).
const llhttp_settings_t& message_parser::settings() noexcept {
    static const llhttp_settings_t shared = [] {
        llhttp_settings_t s;
        llhttp_settings_init(&s);
        s.on_message_begin = &on_message_begin;
        s.on_method = &on_method;
        s.on_url = &on_url;
        s.on_status = &on_status;
        s.on_header_field = &on_header_field;
        s.on_header_field_complete = &on_header_field_complete;
        s.on_header_value = &on_header_value;
        s.on_headers_complete = &on_headers_complete;
        s.on_chunk_header = &on_chunk_header;
        s.on_body = &on_body;
        s.on_message_complete = &on_message_complete;
        return s;
    }();
    return shared;
}

message_parser::message_parser(kind k, const parse_limits& limits) : kind_(k), limits_(limits) {
    reset();
}

void message_parser::trim() noexcept {
    // Sizes an ordinary head fits in; a parser keeps at most these across requests.
    constexpr std::size_t kept_arena = 4096;
    constexpr std::size_t kept_fields = 32;
    if (arena_.capacity() > kept_arena) {
        std::string{}.swap(arena_);
    }
    if (fields_.capacity() > kept_fields) {
        std::vector<field_spans>{}.swap(fields_);
        std::vector<header_field>{}.swap(views_);
    }
}

void message_parser::reset() {
    // NOTE: no llhttp_set_lenient_* call anywhere: every lenient mode is a smuggling door.
    llhttp_init(&parser_, kind_ == kind::request ? HTTP_REQUEST : HTTP_RESPONSE, &settings());
    parser_.data = this;
    state_ = state::idle;
    error_ = {};
    head_bytes_ = 0;
    prev_head_byte_ = 0;
    chunk_crlf_expected_ = 0;
    body_limit_ = limits_.default_body_limit;
}

bool message_parser::set_body_limit(std::uint64_t limit) {
    body_limit_ = limit;
    return !(content_length_ && *content_length_ > limit && !(parser_.flags & F_SKIPBODY));
}

int message_parser::fail(int status, std::string_view reason) {
    if (error_.status == 0) {
        error_ = {kind_ == kind::request ? status : 502, reason};
    }
    state_ = state::failed;
    return -1;
}

std::size_t message_parser::head_bytes_until(const char* end) const {
    return head_bytes_ + static_cast<std::size_t>(end - feed_begin_);
}

bool message_parser::append(text_span& s, const char* at, std::size_t len) {
    if (len == 0) {
        return true;
    }
    if (head_bytes_until(at + len) > limits_.max_head_bytes) {
        fail(431, "header block too large");
        return false;
    }
    if (s.length == 0) {
        s.offset = static_cast<std::uint32_t>(arena_.size());
    }
    arena_.append(at, len);
    s.length += static_cast<std::uint32_t>(len);
    return true;
}

parse_step message_parser::feed(std::string_view input) {
    if (state_ == state::failed) {
        return {parse_event::error, 0, {}};
    }
    if (state_ == state::upgraded) {
        fail(501, "protocol upgrade not supported");
        return {parse_event::error, 0, {}};
    }
    if (state_ == state::closed) {
        if (input.empty()) {
            return {parse_event::need_more, 0, {}};
        }
        fail(400, "data after Connection: close");
        return {parse_event::error, 0, {}};
    }
    // The Content-Length check waits for the first feed after headers_complete so that
    // the caller can set the route's limit in between.
    if (state_ == state::body && content_length_ && *content_length_ > body_limit_ &&
        !(parser_.flags & F_SKIPBODY)) {
        fail(413, "body too large");
        return {parse_event::error, 0, {}};
    }
    if (!check_chunk_crlf(input)) {
        return {parse_event::error, 0, {}};
    }
    // llhttp treats a null pointer as "no span" when it restarts a pending span.
    const char* data = input.empty() ? "" : input.data();
    bool in_head = state_ == state::idle || state_ == state::head;
    event_ = parse_event::need_more;
    body_ = {};
    feed_begin_ = data;
    auto err = llhttp_execute(&parser_, data, input.size());
    std::size_t consumed = input.size();
    if (err != HPE_OK && parser_.error_pos != nullptr) {
        consumed = static_cast<std::size_t>(parser_.error_pos - data);
    }
    // Every byte llhttp went through before headers_complete, need_more or an error is
    // head. TRICKY: the scan covers bytes up to an llhttp or callback error too, and its
    // verdict wins, so that the earliest fault in the stream (the head limit included)
    // decides the answer however the input was split (the fuzzer checks this).
    if (in_head) {
        std::size_t scanned = consumed;
        if (err != HPE_OK && err != HPE_PAUSED) {
            scanned = parser_.error_pos != nullptr && parser_.error_pos >= data &&
                              parser_.error_pos <= data + input.size()
                          ? static_cast<std::size_t>(parser_.error_pos - data)
                          : 0;
        }
        parse_error fault = scan_head({data, scanned});
        if (fault.status != 0) {
            error_ = {};
            fail(fault.status, fault.reason);
            return {parse_event::error, 0, {}};
        }
    }
    return finish_step(err, consumed);
}

parse_error message_parser::scan_head(std::string_view bytes) {
    // The size limit is a fault at byte max+1, ordered with the others by position.
    const std::size_t room =
        limits_.max_head_bytes > head_bytes_ ? limits_.max_head_bytes - head_bytes_ : 0;
    const std::size_t end = std::min(bytes.size(), room);
    const char* data = bytes.data();
    char prev = prev_head_byte_;
    std::size_t i = 0;
    while (i < end) {
        const char c = data[i];
        if (prev == '\r' && c != '\n') {
            return {400, "bare CR"};
        }
        if (c == '\n' && prev != '\r') {
            return {400, "bare LF"};
        }
        // RFC 9112 5.2: obs-fold is rejected with 400 (llhttp would join the lines).
        if (prev == '\n' && (c == ' ' || c == '\t')) {
            return {400, "obsolete line folding"};
        }
        prev = c;
        ++i;
        if (c == '\r' || c == '\n' || i == end) {
            continue;
        }
        // Only a CR, an LF and the byte after one can be at fault: jump to the next CR or
        // LF (in a well-formed line, the CR just before the LF).
        const void* lf = std::memchr(data + i, '\n', end - i);
        const std::size_t lf_at =
            lf != nullptr ? static_cast<std::size_t>(static_cast<const char*>(lf) - data) : end;
        const void* cr = std::memchr(data + i, '\r', lf_at - i);
        const std::size_t next =
            cr != nullptr ? static_cast<std::size_t>(static_cast<const char*>(cr) - data) : lf_at;
        if (next > i) {
            prev = data[next - 1];
            i = next;
        }
    }
    prev_head_byte_ = prev;
    if (bytes.size() > room) {
        return {431, "header block too large"};
    }
    return {};
}

bool message_parser::check_chunk_crlf(std::string_view input) {
    // TRICKY: the two bytes after chunk data are the first bytes of the next feed(s),
    // because on_body pauses exactly at the end of the data. We only look; llhttp still
    // consumes them.
    for (std::size_t i = 0; chunk_crlf_expected_ > 0 && i < input.size(); ++i) {
        char expected = chunk_crlf_expected_ == 2 ? '\r' : '\n';
        if (input[i] != expected) {
            fail(400, "expected CRLF after chunk data");
            return false;
        }
        --chunk_crlf_expected_;
    }
    return true;
}

parse_step message_parser::finish_step(llhttp_errno_t err, std::size_t consumed) {
    if (err == HPE_OK) {
        if (state_ == state::idle || state_ == state::head) {
            head_bytes_ += consumed;
            if (head_bytes_ > limits_.max_head_bytes) {
                fail(431, "header block too large");
                return {parse_event::error, 0, {}};
            }
        }
        return {parse_event::need_more, consumed, {}};
    }
    if (err == HPE_PAUSED && error_.status == 0) {
        llhttp_resume(&parser_);
        if (event_ == parse_event::headers_complete &&
            head_bytes_ + consumed > limits_.max_head_bytes) {
            fail(431, "header block too large");
            return {parse_event::error, 0, {}};
        }
        return {event_, consumed, body_};
    }
    if (error_.status == 0) {
        // llhttp also says INVALID_VERSION for junk after a valid version; only a
        // well-formed but unknown version deserves 505.
        std::string_view llhttp_reason = parser_.reason != nullptr ? parser_.reason : "";
        bool unsupported = err == HPE_INVALID_VERSION && llhttp_reason == "Invalid HTTP version";
        fail(unsupported ? 505 : 400, unsupported ? "HTTP version not supported" : reason_for(err));
    }
    state_ = state::failed;
    return {parse_event::error, 0, {}};
}

parse_step message_parser::finish() {
    if (state_ == state::failed) {
        return {parse_event::error, 0, {}};
    }
    if (state_ == state::upgraded) {
        return {parse_event::need_more, 0, {}};
    }
    event_ = parse_event::need_more;
    auto err = llhttp_finish(&parser_);
    if (err == HPE_PAUSED && error_.status == 0) {
        llhttp_resume(&parser_);
        return {event_, 0, {}};
    }
    if (err == HPE_OK && state_ == state::idle) {
        return {parse_event::need_more, 0, {}};
    }
    fail(400, err == HPE_OK ? std::string_view{"message truncated"} : reason_for(err));
    return {parse_event::error, 0, {}};
}

int message_parser::on_message_begin(llhttp_t* p) {
    message_parser& m = self(p);
    m.state_ = state::head;
    m.arena_.clear();
    m.fields_.clear();
    m.views_.clear();
    m.method_span_ = {};
    m.target_span_ = {};
    m.status_span_ = {};
    m.method_ = method::other;
    m.status_code_ = 0;
    m.content_length_.reset();
    m.chunked_ = false;
    m.keep_alive_ = false;
    m.upgrade_ = false;
    m.field_open_ = false;
    m.trailer_bytes_ = 0;
    m.chunk_remaining_ = 0;
    m.chunk_crlf_expected_ = 0;
    m.body_total_ = 0;
    m.body_limit_ = m.limits_.default_body_limit;
    return 0;
}

int message_parser::on_method(llhttp_t* p, const char* at, std::size_t len) {
    message_parser& m = self(p);
    return m.append(m.method_span_, at, len) ? 0 : -1;
}

int message_parser::on_url(llhttp_t* p, const char* at, std::size_t len) {
    message_parser& m = self(p);
    return m.append(m.target_span_, at, len) ? 0 : -1;
}

int message_parser::on_status(llhttp_t* p, const char* at, std::size_t len) {
    message_parser& m = self(p);
    return m.append(m.status_span_, at, len) ? 0 : -1;
}

int message_parser::on_header_field(llhttp_t* p, const char* at, std::size_t len) {
    message_parser& m = self(p);
    if (m.state_ == state::body) {
        // Trailer fields: de-chunking drops them, but they still cost memory-free bytes
        // only up to the head limit.
        m.trailer_bytes_ += len;
        return m.trailer_bytes_ > m.limits_.max_head_bytes ? m.fail(431, "trailers too large") : 0;
    }
    if (!m.field_open_) {
        m.fields_.push_back({});
        m.field_open_ = true;
    }
    return m.append(m.fields_.back().name, at, len) ? 0 : -1;
}

int message_parser::on_header_field_complete(llhttp_t* p) {
    message_parser& m = self(p);
    m.field_open_ = false;
    // TRICKY: counted when a name is complete, not when it starts: a name cut by the end
    // of a feed is seen by on_header_field early, and the verdict must not depend on
    // where the input was split (an invalid name is a 400 whatever the count).
    if (m.state_ == state::head && m.fields_.size() > m.limits_.max_header_count) {
        return m.fail(431, "too many header fields");
    }
    return 0;
}

int message_parser::on_header_value(llhttp_t* p, const char* at, std::size_t len) {
    message_parser& m = self(p);
    if (m.state_ == state::body) {
        m.trailer_bytes_ += len;
        return m.trailer_bytes_ > m.limits_.max_head_bytes ? m.fail(431, "trailers too large") : 0;
    }
    return m.append(m.fields_.back().value, at, len) ? 0 : -1;
}

bool message_parser::validate_head() {
    std::size_t cl_count = 0;
    std::size_t te_count = 0;
    std::size_t host_count = 0;
    std::string_view te;
    for (const header_field& f : views_) {
        if (f.name.empty()) {
            fail(400, "empty header name");
            return false;
        }
        if (!valid_field_value(f.value)) {
            fail(400, "invalid header value");
            return false;
        }
        if (iequals(f.name, "content-length")) {
            ++cl_count;
            if (!all_digits(f.value)) {
                fail(400, "invalid Content-Length");
                return false;
            }
        } else if (iequals(f.name, "transfer-encoding")) {
            ++te_count;
            te = f.value;
        } else if (iequals(f.name, "host")) {
            ++host_count;
        }
    }
    if (cl_count > 1) {
        fail(400, "duplicate Content-Length");
        return false;
    }
    // RFC 9112 6.1: a message with both is a smuggling attempt until proven otherwise;
    // we never try to prove it.
    if (cl_count > 0 && te_count > 0) {
        fail(400, "Content-Length with Transfer-Encoding");
        return false;
    }
    if (kind_ == kind::request) {
        // Only a lone "chunked" gives a body length both we and every upstream agree on.
        if (te_count > 1 || (te_count == 1 && !iequals(te, "chunked"))) {
            fail(400, "unsupported Transfer-Encoding");
            return false;
        }
        // RFC 9112 3.2: a 1.1 request without exactly one Host gets 400.
        if (host_count > 1 || (host_count == 0 && version_ == version::http_1_1)) {
            fail(400, "missing or duplicate Host");
            return false;
        }
    }
    return true;
}

int message_parser::on_headers_complete(llhttp_t* p) {
    message_parser& m = self(p);
    for (const field_spans& f : m.fields_) {
        m.views_.push_back({m.span(f.name), trim_blanks(m.span(f.value))});
    }
    if (p->http_major != 1 || p->http_minor > 1) {
        return m.fail(505, "HTTP version not supported");
    }
    m.version_ = p->http_minor == 0 ? version::http_1_0 : version::http_1_1;
    if (m.kind_ == kind::request) {
        m.method_ = method_from_llhttp(p->method);
    } else {
        m.status_code_ = p->status_code;
    }
    if (!m.validate_head()) {
        return -1;
    }
    if (m.kind_ == kind::response && (m.no_body_expected_ || m.status_code_ < 200 ||
                                      m.status_code_ == 204 || m.status_code_ == 304)) {
        // TRICKY: the same effect as returning 1 ("no body") from this callback, which
        // we cannot do because we return HPE_PAUSED; llhttp's after_headers_complete reads
        // the flag when it resumes. RFC 9112 6.3: these never have a body, whatever
        // Content-Length says.
        p->flags |= F_SKIPBODY;
    }
    m.chunked_ = (p->flags & F_CHUNKED) != 0;
    if (p->flags & F_CONTENT_LENGTH) {
        m.content_length_ = p->content_length;
    }
    m.upgrade_ = p->upgrade != 0;
    m.keep_alive_ = llhttp_should_keep_alive(p) != 0;
    m.state_ = state::body;
    m.event_ = parse_event::headers_complete;
    return HPE_PAUSED;
}

int message_parser::on_chunk_header(llhttp_t* p) {
    message_parser& m = self(p);
    // llhttp stores the size of the chunk that follows in content_length; refusing here
    // means an oversized chunked body is never even read.
    std::uint64_t size = p->content_length;
    if (size > m.body_limit_ || m.body_total_ > m.body_limit_ - size) {
        return m.fail(413, "body too large");
    }
    m.chunk_remaining_ = size;
    return 0;
}

int message_parser::on_body(llhttp_t* p, const char* at, std::size_t len) {
    message_parser& m = self(p);
    if (len == 0) {
        return 0;
    }
    m.body_total_ += len;
    if (m.body_total_ > m.body_limit_) {
        return m.fail(413, "body too large");
    }
    if (m.chunked_) {
        m.chunk_remaining_ -= len;
        if (m.chunk_remaining_ == 0) {
            m.chunk_crlf_expected_ = 2;
        }
    }
    m.body_ = {at, len};
    m.event_ = parse_event::body;
    return HPE_PAUSED;
}

int message_parser::on_message_complete(llhttp_t* p) {
    message_parser& m = self(p);
    if (m.upgrade_) {
        m.state_ = state::upgraded;
    } else {
        m.state_ = m.keep_alive_ ? state::idle : state::closed;
    }
    m.head_bytes_ = 0;
    m.prev_head_byte_ = 0;
    m.event_ = parse_event::message_complete;
    return HPE_PAUSED;
}

} // namespace http
