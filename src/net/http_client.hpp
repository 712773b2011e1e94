#pragma once
// The HTTP/1.1 client side: client_connection is one connection to an upstream (TCP or
// Unix socket) that sends requests and pulls responses apart event by event (head, body
// pieces, end), so a proxy can stream a body on while it arrives; fetch() is the
// convenience for small answers (health checks, the Docker Engine API) that collects a
// whole response. A connection belongs to the thread that opened it. The body pieces it
// returns are views into a leased receive buffer (buffer_group::client), valid until the
// next call to next().
//
// A connection kept idle for reuse arms its next receive at once (arm_receive): the
// kernel then reports a close by the upstream as it happens (watch() says so to the pool
// that keeps it), and the receive goes on to take the next response when the connection
// is used again. The pending receive lives on the heap with the parser, so the connection
// stays movable; destroying a connection with a receive pending cancels it.

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

struct opened_connection;

class client_connection {
public:
    // Connects within `timeout`. Returns -errno (-ETIMEDOUT, -ECONNREFUSED, ...).
    static runtime::task<std::expected<client_connection, int>> open(const endpoint& where,
                                                                     milliseconds timeout);

    // Connects within `timeout` and sends the first bytes in the same submission, linked
    // (runtime::connect_send_op). An error only when the connect failed, so nothing was
    // sent; else the connection and how many of `first` went out, or the send's -errno.
    static runtime::task<std::expected<opened_connection, int>>
    open_and_send(const endpoint& where, milliseconds timeout, std::string_view first);

    // Moves keep everything (the parser and an armed receive stay put on the heap);
    // destruction closes the socket synchronously if close() was not awaited, and cancels
    // an armed receive (its state is freed when the kernel lets go of it).
    client_connection(client_connection&&) noexcept = default;
    client_connection& operator=(client_connection&&) noexcept;
    ~client_connection();

    // Sends bytes (a serialized request). 0 or -errno.
    runtime::task<int> send(std::string_view bytes, milliseconds timeout, int flags = 0);

    // Announces the request whose response comes next (HEAD responses have no body).
    void expect_response_to(http::method method);
    // After expect_response_to: the request asks to switch protocols (Upgrade), so a 101
    // is its head event, not an error; take_over() then hands out what followed the head.
    void expect_upgrade() noexcept { expect_upgrade_ = true; }
    // After a 101 head: the bytes received after it. The socket then carries the new
    // protocol, the caller's to read and write raw (fd()) until close().
    std::string take_over();

    // The next event of the current response: head (then head() is valid), body pieces,
    // complete, or failed. `timeout` bounds the wait for each receive (milliseconds::max()
    // for none); `slot`, when given, lets the caller cancel a pending receive (a
    // deadline_list does, instead of a kernel timeout per receive). A receive armed
    // earlier is awaited through `slot` only: pass milliseconds::max() with it.
    runtime::task<response_event> next(milliseconds timeout, runtime::cancel_slot* slot = nullptr);

    // Submits the receive of the next response now (a connection going idle into a pool).
    // Only between responses, with nothing buffered (reusable()).
    void arm_receive();
    // While the connection sits idle: if the armed receive completes (the upstream closed
    // it, or sent bytes nobody asked for), `on_idle_end(context)` is called inside the
    // CQE walk, where it may only unlink and destroy the connection. unwatch() before use.
    void watch(void (*on_idle_end)(void* context), void* context) noexcept;
    void unwatch() noexcept;

    const http::response_head& head() const { return state_->parser.head(); }
    // True once any byte of the current response arrived (retry decisions).
    bool received_any() const noexcept { return received_any_; }
    // More of the response's body is here already: buffered (more than the framing between
    // two chunks could be), or still in the socket after the last receive. What a sender
    // may pass on as MSG_MORE; false when the next event may wait for the replica.
    bool more_waiting() const noexcept {
        return input_.size() > http::max_chunk_framing || more_waiting_;
    }
    // True when the last response completed cleanly and the upstream keeps the connection.
    bool reusable() const noexcept { return reusable_; }

    runtime::task<void> close();
    int fd() const noexcept { return fd_.get(); }

private:
    // What must not move: the parser (llhttp points into it) and the armed receive (the
    // kernel points at its completion).
    struct stable_state {
        http::response_parser parser;
        runtime::owned_completion<stable_state> receive;
        bool armed = false;    // submitted, and its result not taken by next() yet
        bool arrived = false;  // its CQE came: result_ and flags_ hold it
        bool orphaned = false; // the connection is gone: free this when the CQE comes
        std::coroutine_handle<> waiter;
        void (*on_idle_end)(void*) = nullptr;
        void* idle_context = nullptr;
    };
    struct armed_awaiter;

    explicit client_connection(int fd);
    static void on_armed_cqe(runtime::completion* self, int result, std::uint32_t flags);
    // The armed receive's outcome, once it arrives (cancellable through `slot`).
    runtime::task<runtime::received> take_armed(runtime::cancel_slot* slot);
    // Cancels an armed receive that is still pending and hands its state over to the
    // CQE handler; the connection keeps none.
    void abandon_armed() noexcept;

    unique_fd fd_;
    std::unique_ptr<stable_state> state_;
    runtime::buffer_lease lease_;
    std::string_view input_;
    bool need_bytes_ = true;
    bool received_any_ = false;
    bool more_waiting_ = false;
    bool reusable_ = false;
    bool at_eof_ = false;
    bool skipping_interim_ = false; // inside a 1xx answer, waiting for the final one
    bool expect_upgrade_ = false;   // a 101 is the answer, not an interim one
};

struct opened_connection {
    client_connection connection;
    int sent; // bytes of the first send, or -errno
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
