#include "net/http_server.hpp"

#include <array>

#include <sys/uio.h>

#include <cerrno>

#include <sys/socket.h>

#include "http/serializer.hpp"
#include "net/listener.hpp"
#include "net/server_connection.hpp"
#include "runtime/reactor.hpp"

namespace net {

using namespace std::chrono_literals;
using detail::client_record;

std::uint64_t request_handler::body_limit(const http::request_head&) const {
    return http::parse_limits{}.default_body_limit;
}

void request_handler::append_error(std::string& out, int status, std::string_view reason) const {
    std::string body(reason);
    body += '\n';
    http::response_options options;
    options.status = status;
    options.content_type = "text/plain";
    options.keep_alive = false;
    http::append_response(out, options, body);
}

runtime::task<bool> flush_response(request_context& request) {
    co_return co_await send_and_clear(request.client_fd, request.out, request.send_timeout);
}

runtime::task<bool> flush_response(request_context& request, std::span<const std::string_view> then,
                                   bool more) {
    assert(then.size() <= 8);
    std::array<iovec, 9> vectors{};
    std::size_t count = 0;
    if (!request.out.empty()) {
        vectors[count++] = {request.out.data(), request.out.size()};
    }
    for (const std::string_view piece : then) {
        if (!piece.empty()) {
            vectors[count++] = {const_cast<char*>(piece.data()), piece.size()};
        }
    }
    const int sent =
        co_await runtime::writev_all(request.client_fd, std::span<iovec>(vectors.data(), count),
                                     request.send_timeout, more ? MSG_MORE : 0);
    request.out.clear();
    co_return sent == 0;
}

http_server::~http_server() {
    assert(stats_.open == 0 && "http_server destroyed with connections open");
}

runtime::task<void> http_server::serve(int listen_fd) {
    runtime::acceptor accepting{listen_fd};
    acceptor_ = &accepting;
    handler_.on_serve(*this);
    timers_.spawn(deadlines_.run(100ms));
    timers_.spawn(expire_idle(100ms));
    while (!stopping_) {
        if (limits_.max_connections != 0 && stats_.open >= limits_.max_connections) {
            // At the limit: new connections wait in the kernel's backlog until one closes.
            accepting.pause();
            ++stats_.paused;
            stats_.at_limit = true;
            struct capacity_awaiter {
                http_server* server_;
                bool await_ready() const noexcept { return false; }
                void await_suspend(std::coroutine_handle<> waiter) noexcept {
                    server_->capacity_waiter_ = waiter;
                }
                void await_resume() const noexcept {}
            };
            co_await capacity_awaiter{this};
            stats_.at_limit = false;
            continue;
        }
        const int fd = co_await accepting.next();
        if (fd >= 0) {
            open_record(fd);
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
    expiry_sleep_.cancel();
    co_await timers_.join();
}

void http_server::open_record(int fd) {
    client_record* record = records_.take();
    record->fd = fd;
    record->fresh = true;
    record->expired = false;
    record->peer = detail::peer_address::of_socket(fd);
    record->server = this;
    record->receive.on_cqe_ = &on_receive;
    record->receive.owner_ = record;
    record->deadline = runtime::turn_time() + limits_.header_timeout;
    set_no_delay(fd);
    ++stats_.accepted;
    if (++stats_.open == limits_.batch_waits_from) {
        runtime::reactor::current().batch_waits(true);
    }
    wait_for_request(record);
}

void http_server::wait_for_request(client_record* record) {
    if (!record->fresh) {
        record->deadline = runtime::turn_time() + limits_.idle_timeout;
    }
    // Both lists stay in deadline order: every record in one has the same timeout.
    (record->fresh ? fresh_ : idle_).push_back(record);
    ++stats_.idle;
    record->expired = false;
    runtime::reactor& loop = runtime::reactor::current();
    io_uring_sqe* entry = loop.sqe();
    io_uring_prep_recv(entry, record->fd, nullptr, 0, 0);
    entry->flags |= IOSQE_BUFFER_SELECT;
    entry->buf_group = loop.buffers(runtime::buffer_group::server).group_id();
    // NOTE: wait for bytes before taking a buffer. Without POLL_FIRST the kernel picks a
    // buffer when the receive is issued, and with every buffer leased an idle connection
    // would fail at once with -ENOBUFS and turn busy for nothing.
    entry->ioprio |= IORING_RECVSEND_POLL_FIRST;
    io_uring_sqe_set_data64(entry, runtime::user_data_of(&record->receive));
}

void http_server::on_receive(runtime::completion* self, int result, std::uint32_t flags) {
    // Inside the CQE walk: record the result and schedule the connection's coroutine; it
    // starts after the walk.
    client_record* record = runtime::owned_completion<client_record>::owner_of(self);
    self->result_ = result;
    self->flags_ = flags;
    http_server& server = *record->server;
    if (record->list != nullptr) {
        record->list->remove(record);
    }
    --server.stats_.idle;
    server.busy_.push_back(record);
    server.connections_.spawn_scheduled(server.serve_record(record));
}

runtime::task<void> http_server::serve_record(client_record* record) {
    const int result = record->receive.result_;
    if (result <= 0 && result != -ENOBUFS) {
        co_await close_silent(record);
        co_return;
    }
    runtime::buffer_ring& ring = runtime::reactor::current().buffers(runtime::buffer_group::server);
    runtime::buffer_lease first = ring.adopt_selected(record->receive.flags_, result);
    if (result == -ENOBUFS) {
        ++stats_.buffer_waits;
    }
    detail::workspace* space = take_workspace();
    connection::ending how = connection::ending::close;
    {
        connection served{*this, *record, *space, std::move(first)};
        how = co_await served.run();
    }
    give_back(space);
    if (how == connection::ending::idle && !stopping_) {
        busy_.remove(record);
        wait_for_request(record);
        co_return;
    }
    if (how == connection::ending::linger) {
        co_await linger(record->fd);
    }
    co_await runtime::close(record->fd);
    free_record(record);
}

runtime::task<void> http_server::linger(int fd) {
    // NOTE: closing a socket with unread bytes makes the kernel send a reset, and a client
    // still sending its request then fails with ECONNRESET and may never read the answer
    // already sent. So the write side closes first (the client sees the end of the
    // answer), and what still arrives is read and dropped until the client closes too or
    // linger_timeout passes.
    ::shutdown(fd, SHUT_WR);
    ++stats_.lingering;
    const auto until = client_record::clock::now() + limits_.linger_timeout;
    while (client_record::clock::now() < until) {
        runtime::deadline_list::wait timed{deadlines_, until};
        // The end of the stream, an error, or the deadline (a cancellation) ends it.
        const int got = co_await runtime::read_some(fd, discard_.data(), discard_.size())
                            .with_cancel(timed.slot());
        if (got <= 0) {
            break;
        }
    }
    --stats_.lingering;
}

runtime::task<void> http_server::close_silent(client_record* record) {
    if (record->expired && record->fresh) {
        // Accepted, and no complete head within header_timeout: say so before closing.
        ++stats_.header_timeouts;
        std::string answer;
        handler_.append_error(answer, 408, "Request header timeout");
        co_await send_and_clear(record->fd, answer, limits_.send_timeout);
    } else if (record->expired) {
        ++stats_.idle_closed;
    }
    co_await runtime::close(record->fd);
    free_record(record);
}

void http_server::free_record(client_record* record) {
    busy_.remove(record);
    if (stats_.open-- == limits_.batch_waits_from) {
        runtime::reactor::current().batch_waits(false);
    }
    records_.give_back(record);
    if (capacity_waiter_) {
        runtime::reactor::current().schedule(std::exchange(capacity_waiter_, {}));
    }
}

runtime::task<void> http_server::expire_idle(std::chrono::milliseconds period) {
    while (!stopping_) {
        co_await runtime::sleep_for(period).with_cancel(&expiry_sleep_);
        const auto now = client_record::clock::now();
        for (detail::record_list* list : {&fresh_, &idle_}) {
            // In deadline order: the first that has not expired ends the walk.
            while (list->first != nullptr && list->first->deadline <= now) {
                client_record* record = list->first;
                list->remove(record);
                record->expired = true;
                runtime::reactor::current().cancel(&record->receive);
            }
        }
    }
}

void http_server::stop() {
    if (stopping_) {
        return;
    }
    stopping_ = true;
    handler_.on_stop();
    if (acceptor_ != nullptr) {
        acceptor_->request_stop();
    }
    if (capacity_waiter_) {
        runtime::reactor::current().schedule(std::exchange(capacity_waiter_, {}));
    }
    expiry_sleep_.cancel();
    // Idle connections wait in a receive: cancel it and they close.
    for (detail::record_list* list : {&fresh_, &idle_}) {
        while (list->first != nullptr) {
            client_record* record = list->first;
            list->remove(record);
            runtime::reactor::current().cancel(&record->receive);
        }
    }
}

void http_server::abort() {
    stop();
    // Every wait of a busy connection fails at once: its socket says so, and its timed
    // waits (receives, a handler's upstream answers and queues) are cancelled.
    for (client_record* record = busy_.first; record != nullptr; record = record->next) {
        ::shutdown(record->fd, SHUT_RDWR);
    }
    deadlines_.expire_all();
    handler_.abort();
}

detail::workspace* http_server::take_workspace() {
    detail::workspace* space = workspaces_.take(limits_.parse);
    stats_.workspaces = workspaces_.existing();
    return space;
}

void http_server::give_back(detail::workspace* space) {
    workspaces_.give_back(space);
    stats_.workspaces = workspaces_.existing();
}

} // namespace net
