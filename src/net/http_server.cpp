#include "net/http_server.hpp"

#include <cerrno>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "http/serializer.hpp"
#include "net/listener.hpp"
#include "json/json_writer.hpp"

namespace net {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

std::uint64_t request_handler::body_limit(const http::request_head&) const {
    return http::parse_limits{}.default_body_limit;
}

void append_error_response(std::string& out, int status, std::string_view message,
                           bool keep_alive) {
    std::string body;
    json::append_status_message(body, message, false);
    http::response_options options;
    options.status = status;
    options.content_type = "application/json";
    options.keep_alive = keep_alive;
    http::append_response(out, options, body);
}

// Keeps a connection in the server's list for as long as its frame lives.
struct http_server::registration {
    http_server& server_;
    connection_state& state_;
    registration(http_server& server, connection_state& state) : server_(server), state_(state) {
        state_.next_ = server_.first_;
        if (server_.first_ != nullptr) {
            server_.first_->prev_ = &state_;
        }
        server_.first_ = &state_;
    }
    ~registration() {
        if (state_.prev_ != nullptr) {
            state_.prev_->next_ = state_.next_;
        } else {
            server_.first_ = state_.next_;
        }
        if (state_.next_ != nullptr) {
            state_.next_->prev_ = state_.prev_;
        }
    }
};

namespace {
// Sends and clears `out`. False when the client is gone or too slow.
runtime::task<bool> flush(int fd, std::string& out, std::chrono::milliseconds timeout) {
    const int sent = co_await runtime::send_all(fd, out, timeout);
    out.clear();
    co_return sent == 0;
}
// The peer's IP address as text, once per connection (for X-Forwarded-For and keys).
void peer_address(int fd, char (&text)[INET6_ADDRSTRLEN]) {
    text[0] = '\0';
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0) {
        return;
    }
    if (peer.ss_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&peer)->sin_addr, text, sizeof text);
    } else if (peer.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr, text, sizeof text);
    }
}
} // namespace

runtime::task<bool> flush_response(request_context& request) {
    co_return co_await flush(request.client_fd, request.out, request.send_timeout);
}

runtime::task<void> http_server::serve(int listen_fd) {
    runtime::acceptor accepting{listen_fd};
    acceptor_ = &accepting;
    timers_.spawn(deadlines_.run(100ms));
    while (!stopping_) {
        const int fd = co_await accepting.next();
        if (fd >= 0) {
            connections_.spawn(serve_connection(fd));
        } else if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
            // Out of descriptors or memory: back off instead of spinning on the error.
            co_await runtime::sleep_for(10ms);
        }
    }
    co_await accepting.stop();
    acceptor_ = nullptr;
    // NOTE: timeouts keep running while connections drain: a half-sent request still
    // ends with 408 and a hung upstream with 504, so shutdown always finishes.
    co_await connections_.join();
    co_await handler_.drain();
    deadlines_.stop();
    co_await timers_.join();
}

void http_server::stop() {
    stopping_ = true;
    handler_.on_stop();
    if (acceptor_ != nullptr) {
        acceptor_->request_stop();
    }
    // Idle connections wait in a receive between requests: cancel it and they close.
    for (connection_state* state = first_; state != nullptr; state = state->next_) {
        if (state->idle_ && state->receiving_ != nullptr) {
            state->receiving_->slot()->cancel();
        }
    }
}

runtime::task<void> http_server::serve_connection(int fd) {
    connection_state state;
    registration registered{*this, state};
    set_no_delay(fd);
    char client_ip[INET6_ADDRSTRLEN];
    peer_address(fd, client_ip);

    http::buffered_request parser{limits_.parse};
    std::string out;
    runtime::buffer_lease lease;
    std::string_view input;
    bool first_request = true;
    bool head_done = false;
    bool close_after = false;
    auto head_deadline = clock::now() + limits_.header_timeout;

    // NOTE: the parser must be fed again after every event, even with no input left:
    // only need_more means "wait for bytes".
    bool need_bytes = true;
    for (;;) {
        if (close_after && input.empty()) {
            need_bytes = true;
        }
        if (need_bytes && input.empty()) {
            lease.release();
            // Everything received is handled: answer before waiting for more bytes.
            if (!out.empty() && !co_await flush(fd, out, limits_.send_timeout)) {
                break;
            }
            const bool between_requests = !parser.in_message();
            if (close_after || (stopping_ && between_requests)) {
                break;
            }
            std::chrono::nanoseconds timeout = limits_.idle_timeout;
            if (!between_requests || first_request) {
                timeout =
                    head_done
                        ? std::chrono::nanoseconds{limits_.idle_timeout}
                        : std::max<std::chrono::nanoseconds>(1ms, head_deadline - clock::now());
            }
            runtime::received got;
            {
                runtime::deadline_list::wait timed{deadlines_, clock::now() + timeout};
                state.idle_ = between_requests;
                state.receiving_ = &timed;
                got = co_await runtime::receive_some(fd, std::chrono::nanoseconds::max(),
                                                     timed.slot());
                state.receiving_ = nullptr;
                state.idle_ = false;
                got.result = timed.outcome(got.result);
            }
            if (got.result == -ETIMEDOUT && !head_done && (parser.in_message() || first_request)) {
                append_error_response(out, 408, "<Error> Request header timeout");
                co_await runtime::send_all(fd, out, limits_.send_timeout);
                break;
            }
            if (got.result <= 0) {
                break; // end of stream, reset, idle timeout or shutdown
            }
            if (between_requests) {
                head_deadline = clock::now() + limits_.header_timeout;
            }
            lease = std::move(got.buffer);
            input = lease.view();
        }

        const http::buffered_request::step step = parser.feed(input);
        input.remove_prefix(step.consumed);
        need_bytes = step.status == http::buffered_request::status::need_more;
        switch (step.status) {
        case http::buffered_request::status::need_more:
            break;
        case http::buffered_request::status::headers_complete:
            head_done = true;
            if (!parser.set_body_limit(handler_.body_limit(parser.head()))) {
                append_error_response(out, 413, "<Error> Request body too large");
                close_after = true;
                input = {};
            } else if (parser.head().expect_continue) {
                out += "HTTP/1.1 100 Continue\r\n\r\n";
                if (!co_await flush(fd, out, limits_.send_timeout)) {
                    close_after = true;
                    input = {};
                }
            }
            break;
        case http::buffered_request::status::complete: {
            first_request = false;
            head_done = false;
            request_context request{
                parser.head(), parser.body(),       out, parser.head().keep_alive && !stopping_, fd,
                client_ip,     limits_.send_timeout};
            co_await handler_.handle(request);
            if (!request.keep_alive) {
                close_after = true;
                input = {};
            } else if (out.size() >= 64 * 1024 && !co_await flush(fd, out, limits_.send_timeout)) {
                close_after = true;
                input = {};
            }
            break;
        }
        case http::buffered_request::status::error: {
            const http::parse_error& error = parser.error();
            std::string message = "<Error> ";
            message += error.reason;
            append_error_response(out, error.status, message);
            close_after = true;
            input = {};
            break;
        }
        }
    }
    lease.release();
    co_await runtime::close(fd);
}

} // namespace net
