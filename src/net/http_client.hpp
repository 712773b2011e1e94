#pragma once
// The HTTP/1.1 client side: client_connection is one connection to an upstream (TCP or
// Unix socket) that sends requests and pulls responses apart event by event (head, body
// pieces, end), so a proxy can stream a body on while it arrives; fetch() is the
// convenience for small answers (health checks, the Docker Engine API) that collects a
// whole response. A connection belongs to the thread that opened it. The body pieces it
// returns are views into a leased receive buffer, valid until the next call to next().

#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "http/header_list.hpp"
#include "http/method.hpp"
#include "http/response_parser.hpp"
#include "net/endpoint.hpp"
#include "net/unique_fd.hpp"
#include "runtime/buffer_ring.hpp"
#include "runtime/io.hpp"
#include "runtime/task.hpp"

namespace net {

using std::chrono::milliseconds;

struct response_event {
    enum class kind : std::uint8_t { head, body, complete, failed } what = kind::failed;
    std::string_view body; // for kind::body
    // For kind::failed: -errno from the socket, -ETIMEDOUT, -EPROTO for a malformed
    // response, or -ECONNRESET when the upstream closed before a complete response.
    int error = 0;
};

class client_connection {
public:
    // Connects within `timeout`. Returns -errno (-ETIMEDOUT, -ECONNREFUSED, ...).
    static runtime::task<std::expected<client_connection, int>> open(const endpoint& where,
                                                                     milliseconds timeout);

    // Moves keep everything (the parser stays put on the heap); destruction closes the
    // socket synchronously if close() was not awaited (no operation is pending then).
    client_connection(client_connection&&) noexcept = default;
    client_connection& operator=(client_connection&&) noexcept = default;

    // Sends bytes (a serialized request). 0 or -errno.
    runtime::task<int> send(std::string_view bytes, milliseconds timeout);

    // Announces the request whose response comes next (HEAD responses have no body).
    void expect_response_to(http::method method);

    // The next event of the current response: head (then head() is valid), body pieces,
    // complete, or failed. `timeout` bounds the wait for each receive (milliseconds::max()
    // for none); `slot`, when given, lets the caller cancel a pending receive (a
    // deadline_list does, instead of a kernel timeout per receive).
    runtime::task<response_event> next(milliseconds timeout, runtime::cancel_slot* slot = nullptr);

    const http::response_head& head() const { return parser_->head(); }
    // True once any byte of the current response arrived (retry decisions).
    bool received_any() const noexcept { return received_any_; }
    // True when the last response completed cleanly and the upstream keeps the connection.
    bool reusable() const noexcept { return reusable_; }

    runtime::task<void> close();
    int fd() const noexcept { return fd_.get(); }

private:
    explicit client_connection(int fd);

    unique_fd fd_;
    std::unique_ptr<http::response_parser> parser_; // llhttp points into it: keep it put
    runtime::buffer_lease lease_;
    std::string_view input_;
    bool need_bytes_ = true;
    bool received_any_ = false;
    bool reusable_ = false;
    bool at_eof_ = false;
    bool skipping_interim_ = false; // inside a 1xx answer, waiting for the final one
};

struct fetched_response {
    int status = 0;
    std::string body;
};

struct fetch_request {
    std::string_view method = "GET";
    std::string_view target = "/";
    std::string_view host = "localhost";
    std::span<const http::header_field> headers;
    std::string_view body;
    std::string_view content_type; // sets Content-Type when not empty
};

// One request on `connection` (which stays usable when reusable()): sends, then collects
// the whole response. Bodies over `max_body` bytes fail with -EMSGSIZE.
runtime::task<std::expected<fetched_response, int>> fetch_on(client_connection& connection,
                                                             const fetch_request& request,
                                                             milliseconds timeout,
                                                             std::size_t max_body = 4 << 20);

// Opens a connection, fetches, closes.
runtime::task<std::expected<fetched_response, int>> fetch(const endpoint& where,
                                                          const fetch_request& request,
                                                          milliseconds timeout,
                                                          std::size_t max_body = 4 << 20);

} // namespace net
