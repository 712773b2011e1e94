#include "http/serializer.hpp"

#include <cassert>
#include <charconv>

namespace http {

namespace {

void append_decimal(std::string& out, std::uint64_t v) {
    char buf[24];
    auto res = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, res.ptr);
}

[[maybe_unused]] bool has_line_break(std::string_view s) {
    return s.find_first_of("\r\n") != std::string_view::npos;
}

bool status_has_no_body(int status) {
    return status < 200 || status == 204 || status == 304;
}

} // namespace

std::string_view reason_phrase(int status) {
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

void append_status_line(std::string& out, int status) {
    assert(status >= 100 && status <= 999);
    out.append("HTTP/1.1 ");
    append_decimal(out, static_cast<std::uint64_t>(status));
    out.push_back(' ');
    out.append(reason_phrase(status));
    out.append("\r\n");
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
    // A line break here would let a value inject headers or a whole response.
    assert(!name.empty() && !has_line_break(name) && !has_line_break(value));
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
}

void append_header(std::string& out, std::string_view name, std::uint64_t value) {
    out.append(name);
    out.append(": ");
    append_decimal(out, value);
    out.append("\r\n");
}

void append_response_head(std::string& out, const response_options& options,
                          std::optional<std::uint64_t> content_length) {
    append_status_line(out, options.status);
    if (!options.content_type.empty()) {
        append_header(out, "Content-Type", options.content_type);
    }
    for (const header_field& f : options.extra_headers) {
        append_header(out, f.name, f.value);
    }
    if (!status_has_no_body(options.status)) {
        if (content_length) {
            append_header(out, "Content-Length", *content_length);
        } else {
            append_header(out, "Transfer-Encoding", "chunked");
        }
    }
    if (!options.keep_alive) {
        append_header(out, "Connection", "close");
    } else if (options.version == version::http_1_0) {
        append_header(out, "Connection", "keep-alive");
    }
    out.append("\r\n");
}

void append_response(std::string& out, const response_options& options, std::string_view body) {
    append_response_head(out, options, body.size());
    if (!status_has_no_body(options.status)) {
        out.append(body);
    }
}

void append_request_head(std::string& out, std::string_view method, std::string_view target,
                         std::span<const header_field> headers,
                         std::optional<std::uint64_t> content_length, bool chunked) {
    assert(!has_line_break(method) && !has_line_break(target) &&
           target.find(' ') == std::string_view::npos);
    out.append(method);
    out.push_back(' ');
    out.append(target);
    out.append(" HTTP/1.1\r\n");
    for (const header_field& f : headers) {
        append_header(out, f.name, f.value);
    }
    if (chunked) {
        append_header(out, "Transfer-Encoding", "chunked");
    } else if (content_length) {
        append_header(out, "Content-Length", *content_length);
    }
    out.append("\r\n");
}

std::string_view chunk_header(chunk_header_buffer& buffer, std::size_t size) {
    char* end = std::to_chars(buffer.data(), buffer.data() + buffer.size() - 2, size, 16).ptr;
    *end++ = '\r';
    *end++ = '\n';
    return {buffer.data(), static_cast<std::size_t>(end - buffer.data())};
}

void append_chunk_header(std::string& out, std::size_t size) {
    chunk_header_buffer buffer;
    out.append(chunk_header(buffer, size));
}

void append_chunk(std::string& out, std::string_view data) {
    // An empty chunk would be read as the last one.
    if (data.empty()) {
        return;
    }
    append_chunk_header(out, data.size());
    out.append(data);
    out.append(chunk_terminator);
}

void append_last_chunk(std::string& out) {
    out.append(last_chunk);
}

} // namespace http
