#include "net/http_server.hpp"

#include <cerrno>

#include "http/serializer.hpp"
#include "net/server_connection.hpp"
#include "json/json_writer.hpp"

namespace net {

using namespace std::chrono_literals;

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

runtime::task<bool> flush_response(request_context& request) {
    co_return co_await send_and_clear(request.client_fd, request.out, request.send_timeout);
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
    for (connection* open = first_; open != nullptr; open = open->next()) {
        open->close_if_idle();
    }
}

runtime::task<void> http_server::serve_connection(int fd) {
    connection served{*this, fd};
    co_await served.run();
}

} // namespace net
