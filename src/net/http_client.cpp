#include "net/http_client.hpp"

#include <cerrno>
#include <utility>

#include <sys/socket.h>
#include <unistd.h>

#include "http/serializer.hpp"
#include "net/listener.hpp"
#include "runtime/io.hpp"
#include "runtime/reactor.hpp"

namespace net {

client_connection::client_connection(int fd) : fd_(fd), state_(std::make_unique<stable_state>()) {
    state_->receive.owner_ = state_.get();
    state_->receive.on_cqe_ = &on_armed_cqe;
}

client_connection& client_connection::operator=(client_connection&& other) noexcept {
    if (this != &other) {
        abandon_armed();
        lease_.release();
        fd_ = std::move(other.fd_);
        state_ = std::move(other.state_);
        lease_ = std::move(other.lease_);
        input_ = other.input_;
        need_bytes_ = other.need_bytes_;
        received_any_ = other.received_any_;
        reusable_ = other.reusable_;
        at_eof_ = other.at_eof_;
        skipping_interim_ = other.skipping_interim_;
        expect_upgrade_ = other.expect_upgrade_;
    }
    return *this;
}

client_connection::~client_connection() {
    abandon_armed();
}

void client_connection::abandon_armed() noexcept {
    if (!state_ || !state_->armed) {
        return;
    }
    if (state_->arrived) {
        // Its result is not wanted; a buffer the kernel picked for it goes back.
        state_->armed = false;
        runtime::reactor::current()
            .buffers(runtime::buffer_group::client)
            .adopt_selected(state_->receive.flags_, 0)
            .release();
        return;
    }
    // The kernel still points at the receive: cancel it and let the CQE handler free the
    // state when it comes (a close of the fd alone would not end the receive).
    runtime::reactor::current().cancel(&state_->receive);
    state_->orphaned = true;
    state_.release();
}

void client_connection::on_armed_cqe(runtime::completion* self, int result, std::uint32_t flags) {
    auto* state = runtime::owned_completion<stable_state>::owner_of(self);
    self->result_ = result;
    self->flags_ = flags;
    state->arrived = true;
    if (state->orphaned) {
        // A buffer the kernel picked is ours to give back.
        runtime::reactor::current()
            .buffers(runtime::buffer_group::client)
            .adopt_selected(flags, 0)
            .release();
        delete state;
        return;
    }
    if (state->waiter) {
        runtime::reactor::current().schedule(std::exchange(state->waiter, {}));
    } else if (state->on_idle_end != nullptr) {
        state->on_idle_end(state->idle_context);
    }
}

void client_connection::arm_receive() {
    assert(state_ && !state_->armed && input_.empty() && !lease_);
    runtime::reactor& loop = runtime::reactor::current();
    io_uring_sqe* entry = loop.sqe();
    io_uring_prep_recv(entry, fd_.get(), nullptr, 0, 0);
    entry->flags |= IOSQE_BUFFER_SELECT;
    entry->buf_group = loop.buffers(runtime::buffer_group::client).group_id();
    // Wait for bytes (or the close) before taking a buffer (see http_server's receives).
    entry->ioprio |= IORING_RECVSEND_POLL_FIRST;
    io_uring_sqe_set_data64(entry, runtime::user_data_of(&state_->receive));
    state_->armed = true;
    state_->arrived = false;
    state_->receive.cancel_requested_ = false;
}

void client_connection::watch(void (*on_idle_end)(void*), void* context) noexcept {
    state_->on_idle_end = on_idle_end;
    state_->idle_context = context;
}

void client_connection::unwatch() noexcept {
    if (state_) {
        state_->on_idle_end = nullptr;
        state_->idle_context = nullptr;
    }
}

struct client_connection::armed_awaiter {
    stable_state* state_;
    bool await_ready() const noexcept { return state_->arrived; }
    void await_suspend(std::coroutine_handle<> waiter) noexcept { state_->waiter = waiter; }
    void await_resume() const noexcept {}
};

runtime::task<runtime::received> client_connection::take_armed(runtime::cancel_slot* slot) {
    stable_state& state = *state_;
    if (slot != nullptr) {
        slot->attach(&state.receive);
    }
    co_await armed_awaiter{&state};
    if (slot != nullptr) {
        slot->detach();
    }
    state.armed = false;
    co_return runtime::received_from(
        state.receive, state.receive.result_,
        runtime::reactor::current().buffers(runtime::buffer_group::client));
}

runtime::task<std::expected<client_connection, int>> client_connection::open(const endpoint& where,
                                                                             milliseconds timeout) {
    const int fd = ::socket(where.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        co_return std::unexpected(-errno);
    }
    const endpoint target = where; // the kernel reads it while the connect is pending
    const int connected =
        co_await runtime::connect(fd, target.address(), target.length).with_timeout(timeout);
    if (connected < 0) {
        ::close(fd);
        co_return std::unexpected(connected);
    }
    set_no_delay(fd);
    co_return client_connection{fd};
}

runtime::task<std::expected<opened_connection, int>>
client_connection::open_and_send(const endpoint& where, milliseconds timeout,
                                 std::string_view first) {
    const int fd = ::socket(where.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        co_return std::unexpected(-errno);
    }
    set_no_delay(fd);              // before the first bytes go out
    const endpoint target = where; // the kernel reads it while the connect is pending
    const runtime::connect_send_result done =
        co_await runtime::connect_send_op{fd, target.address(), target.length, timeout, first};
    if (done.connected < 0) {
        ::close(fd);
        co_return std::unexpected(done.connected);
    }
    co_return opened_connection{client_connection{fd}, done.sent};
}

runtime::task<int> client_connection::send(std::string_view bytes, milliseconds timeout,
                                           int flags) {
    co_return co_await runtime::send_all(fd_.get(), bytes, timeout, flags);
}

void client_connection::expect_response_to(http::method method) {
    state_->parser.set_request_method(method);
    received_any_ = false;
    reusable_ = false;
    skipping_interim_ = false;
    expect_upgrade_ = false;
}

std::string client_connection::take_over() {
    std::string rest(input_);
    input_ = {};
    lease_.release();
    reusable_ = false;
    return rest;
}

runtime::task<response_event> client_connection::next(milliseconds timeout,
                                                      runtime::cancel_slot* slot) {
    const std::chrono::nanoseconds receive_timeout = timeout == milliseconds::max()
                                                         ? std::chrono::nanoseconds::max()
                                                         : std::chrono::nanoseconds{timeout};
    for (;;) {
        if (need_bytes_ && input_.empty()) {
            lease_.release();
            if (at_eof_) {
                const http::parse_step last = state_->parser.finish();
                if (last.event == http::parse_event::message_complete) {
                    need_bytes_ = false;
                    reusable_ = false;
                    co_return response_event{response_event::kind::complete};
                }
                co_return response_event{response_event::kind::failed, {}, -ECONNRESET};
            }
            runtime::buffer_ring& ring =
                runtime::reactor::current().buffers(runtime::buffer_group::client);
            runtime::received got;
            bool taken = false;
            if (state_->armed) {
                assert(receive_timeout == std::chrono::nanoseconds::max());
                got = co_await take_armed(slot);
                taken = true;
            }
            // An armed receive that found no buffer is retried the usual way, which waits
            // for one to come back.
            if (!taken || got.result == -ENOBUFS) {
                got = co_await runtime::receive_some(fd_.get(), ring, receive_timeout, slot);
            }
            if (got.result == 0) {
                at_eof_ = true;
                continue;
            }
            if (got.result < 0) {
                co_return response_event{response_event::kind::failed, {}, got.result};
            }
            received_any_ = true;
            more_waiting_ = got.more;
            lease_ = std::move(got.buffer);
            input_ = lease_.view();
        }
        const http::parse_step step = state_->parser.feed(input_);
        input_.remove_prefix(step.consumed);
        need_bytes_ = step.event == http::parse_event::need_more;
        switch (step.event) {
        case http::parse_event::need_more:
            break;
        case http::parse_event::headers_complete:
            if (state_->parser.head().status == 101) {
                if (!expect_upgrade_) {
                    co_return response_event{response_event::kind::failed, {}, -EPROTO};
                }
                co_return response_event{response_event::kind::head};
            }
            if (state_->parser.head().status < 200) {
                // 100 Continue and other interim answers: the final one follows.
                skipping_interim_ = true;
                break;
            }
            co_return response_event{response_event::kind::head};
        case http::parse_event::body:
            co_return response_event{response_event::kind::body, step.body};
        case http::parse_event::message_complete:
            if (std::exchange(skipping_interim_, false)) {
                break;
            }
            // Bytes after a complete response on an idle connection are a broken upstream.
            reusable_ = state_->parser.head().keep_alive && input_.empty() && !at_eof_;
            // An idle pooled connection must not pin a receive buffer of the worker.
            if (input_.empty()) {
                lease_.release();
                need_bytes_ = true;
            }
            co_return response_event{response_event::kind::complete};
        case http::parse_event::error:
            co_return response_event{response_event::kind::failed, {}, -EPROTO};
        }
    }
}

runtime::task<void> client_connection::close() {
    abandon_armed();
    lease_.release();
    if (fd_) {
        co_await runtime::close(fd_.release());
    }
}

runtime::task<std::expected<fetched_response, int>> fetch_on(client_connection& connection,
                                                             const fetch_request& request,
                                                             milliseconds timeout,
                                                             std::size_t max_body) {
    std::string wire;
    std::vector<http::header_field> headers;
    headers.push_back({"Host", request.host});
    if (!request.content_type.empty()) {
        headers.push_back({"Content-Type", request.content_type});
    }
    headers.insert(headers.end(), request.headers.begin(), request.headers.end());
    const bool has_body =
        !request.body.empty() || request.method == "POST" || request.method == "PUT";
    http::append_request_head(wire, request.method, request.target, headers,
                              has_body ? std::optional<std::uint64_t>{request.body.size()}
                                       : std::nullopt);
    wire += request.body;
    connection.expect_response_to(request.method == "HEAD" ? http::method::head
                                                           : http::method::get);
    if (const int sent = co_await connection.send(wire, timeout); sent < 0) {
        co_return std::unexpected(sent);
    }
    fetched_response out;
    for (;;) {
        const response_event event = co_await connection.next(timeout);
        switch (event.what) {
        case response_event::kind::head:
            out.status = connection.head().status;
            break;
        case response_event::kind::body:
            if (out.body.size() + event.body.size() > max_body) {
                co_return std::unexpected(-EMSGSIZE);
            }
            out.body.append(event.body);
            break;
        case response_event::kind::complete:
            co_return out;
        case response_event::kind::failed:
            co_return std::unexpected(event.error);
        }
    }
}

runtime::task<std::expected<fetched_response, int>> fetch(const endpoint& where,
                                                          const fetch_request& request,
                                                          milliseconds timeout,
                                                          std::size_t max_body) {
    auto connection = co_await client_connection::open(where, timeout);
    if (!connection) {
        co_return std::unexpected(connection.error());
    }
    auto result = co_await fetch_on(*connection, request, timeout, max_body);
    co_await connection->close();
    co_return result;
}

} // namespace net
