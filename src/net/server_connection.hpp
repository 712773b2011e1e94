#pragma once
// One connection of an http_server while it has a request in hand (internal to net/):
// the receive loop, the parser, the output and the timeouts of docs/design.md's limits.
// It is also the request_body a streaming handler reads from: body pieces come straight
// out of the parser, as views into the leased receive buffer (or into the workspace's
// spill, once parked). Lives in the coroutine frame of http_server::serve_record, on the
// server's thread, for one busy stretch: from the bytes that woke an idle record to the
// moment the connection is between requests with nothing buffered (it then goes idle
// again) or ends.

#include <chrono>
#include <string>
#include <string_view>

#include "net/http_server.hpp"
#include "runtime/buffer_ring.hpp"

namespace net {

// Sends and clears `out`. False when the client is gone or too slow.
runtime::task<bool> send_and_clear(int fd, std::string& out, std::chrono::milliseconds timeout);

class http_server::connection final : public request_body, public connection_handover {
public:
    // `first` holds the bytes that woke the record; empty when the record's receive found
    // no buffer (this connection then waits for one).
    connection(http_server& server, detail::client_record& record, detail::workspace& space,
               runtime::buffer_lease first);
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    // How a busy stretch ended.
    enum class ending : std::uint8_t {
        idle,   // between requests, nothing buffered, everything sent: wait for the next
        close,  // the client left, the server is stopping, or the protocol was taken over
        linger, // closing while the client may still be sending (an error answered
                // mid-request, a body left unread): http_server::linger_and_close
    };
    // Serves requests until the connection may go idle or must close.
    runtime::task<ending> run();

    runtime::task<body_piece> read() override;
    void park() override;
    std::string take_over() override;

private:
    using clock = std::chrono::steady_clock;

    // The parser's next event, receiving when it needs bytes. need_more means the
    // connection ended (see ended_, timed_out_) or may go idle (idle_).
    runtime::task<http::parse_step> next_step();
    // Flushes pending answers, then waits for bytes within the timeout that applies now.
    // False when there are no more: the connection ended, or it may go idle.
    runtime::task<bool> receive();
    // One request whose head just arrived. False when the connection must close.
    runtime::task<bool> serve_request();
    runtime::task<bool> flush();
    // Appends the handler's error answer for `status` (the connection closes after it).
    void answer_error(int status, std::string_view reason);
    // The deadline of a wait for body bytes (body_timeout, extended by body_min_rate).
    clock::time_point body_deadline() const;

    http_server& server_;
    detail::client_record& record_;
    detail::workspace& space_;
    http::request_parser& parser_;
    std::string& out_;
    runtime::buffer_lease lease_;
    std::string_view input_;
    std::string_view client_ip_;
    clock::time_point head_deadline_;
    clock::time_point body_started_{};
    std::uint64_t body_received_ = 0;
    bool need_buffer_ = false;  // woken by -ENOBUFS: wait for bytes here, not idle
    bool more_waiting_ = false; // the socket had more bytes after the last receive
    bool head_done_ = false;    // between headers_complete and the next request
    bool body_done_ = true;     // the current request's body was read to its end
    bool idle_ = false;         // between requests with nothing buffered: may go idle
    bool ended_ = false;        // no more bytes will come
    bool timed_out_ = false;    // ... because a timeout expired
    bool taken_over_ = false;   // the handler has the socket (an upgraded protocol)
    bool unread_ = false;       // closing with the client's request not read to its end
};

} // namespace net
