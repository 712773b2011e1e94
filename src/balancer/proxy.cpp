// The proxy path of balancer_handler: pick the replica for the request's key, send the
// request with its body read ahead (or streamed on when longer), relay the response as it
// arrives, and try the next replica once where that is safe.
#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>

#include <sys/uio.h>

#include "balancer/balancer_handler.hpp"
#include "balancer/key_source.hpp"
#include "balancer/respond.hpp"
#include "http/hop_by_hop.hpp"
#include "http/serializer.hpp"
#include "runtime/reactor.hpp"

namespace balancer {

using clock = std::chrono::steady_clock;

namespace {
// Response bytes gathered before a flush to the client, and the most of a request body
// read before the upstream request goes out (a longer body is streamed on).
constexpr std::size_t stream_chunk = 64 * 1024;
// Response body pieces from this size on are sent from the buffer they arrived in; smaller
// ones are copied behind the head (and behind pipelined answers), which costs less than a
// system call of their own.
constexpr std::size_t direct_send_bytes = 4096;

// The client's body broke off: answer what the server says (nothing when the client is
// gone) and close.
void answer_body_failure(net::request_context& request, const net::body_piece& failure) {
    request.keep_alive = false;
    if (failure.status != 0) {
        std::string message = "<Error> ";
        message += failure.reason;
        respond_failure(request, failure.status, message);
    }
}
// "Name: a, b, ours\r\n": every `name` field of `fields` joined in order, then `ours`.
void append_joined(std::string& out, std::string_view name, const http::header_list& fields,
                   std::string_view ours) {
    out.append(name).append(": ");
    for (const auto& field : fields) {
        if (http::iequals(field.name, name)) {
            out.append(field.value).append(", ");
        }
    }
    out.append(ours).append("\r\n");
}
// The status line and the fields a response goes on with (no hop-by-hop field, no
// Content-Length, Via joined with lbd's). A plain function: the filter's table lives on
// the stack, never in a coroutine frame.
// False when the fields name more Connection options than the filter takes.
bool append_end_to_end_fields(std::string& out, int status, const http::header_list& fields) {
    const http::hop_by_hop_filter hop_by_hop{fields};
    if (hop_by_hop.too_many()) {
        return false;
    }
    http::append_status_line(out, status);
    for (const auto& field : fields) {
        if (!hop_by_hop.drops(field.name) && !http::iequals(field.name, "Content-Length") &&
            !http::iequals(field.name, "Via")) {
            http::append_header(out, field.name, field.value);
        }
    }
    append_joined(out, "Via", fields, "1.1 lbd");
    return true;
}
} // namespace

runtime::task<net::response_event>
balancer_handler::next_event(net::client_connection& connection) {
    runtime::deadline_list::wait timed{deadlines_, runtime::turn_time() + config_.response_timeout};
    net::response_event event =
        co_await connection.next(std::chrono::milliseconds::max(), timed.slot());
    if (event.what == net::response_event::kind::failed) {
        event.error = timed.outcome(event.error);
    }
    co_return event;
}

bool balancer_handler::build_upstream_request(const net::request_context& request,
                                              const outbound_body& body, std::string& wire) const {
    const http::request_head& head = request.head;
    wire.append(head.method_name).append(" ").append(head.target).append(" HTTP/1.1\r\n");
    // One pass copies the end-to-end fields; X-Forwarded-For and Via are joined into one
    // field each afterwards (theirs in order, then lbd's), written straight into `wire`.
    const http::hop_by_hop_filter hop_by_hop{head.headers};
    if (hop_by_hop.too_many()) {
        return false;
    }
    std::string_view host;
    bool has_proto = false;
    bool has_forwarded_host = false;
    for (const auto& field : head.headers) {
        // Expect: lbd has answered 100 Continue itself.
        if (hop_by_hop.drops(field.name) || http::iequals(field.name, "Content-Length") ||
            http::iequals(field.name, "Expect") || http::iequals(field.name, "X-Forwarded-For") ||
            http::iequals(field.name, "Via")) {
            continue;
        }
        if (http::iequals(field.name, "Host")) {
            host = field.value;
        }
        // A proxy in front of lbd (terminating TLS, say) knows better: its values stay.
        has_proto = has_proto || http::iequals(field.name, "X-Forwarded-Proto");
        has_forwarded_host = has_forwarded_host || http::iequals(field.name, "X-Forwarded-Host");
        http::append_header(wire, field.name, field.value);
    }
    if (host.empty()) {
        http::append_header(wire, "Host", "lbd");
    }
    if (!request.client_ip.empty()) {
        append_joined(wire, "X-Forwarded-For", head.headers, request.client_ip);
    }
    if (!has_proto) {
        http::append_header(wire, "X-Forwarded-Proto", "http");
    }
    if (!has_forwarded_host && !host.empty()) {
        http::append_header(wire, "X-Forwarded-Host", host);
    }
    append_joined(wire, "Via", head.headers,
                  request.head.version == http::version::http_1_0 ? "1.0 lbd" : "1.1 lbd");
    if (request.handover != nullptr) {
        // Hop-by-hop, but the one hop that matters here: the replica is asked to switch.
        http::append_header(wire, "Connection", "Upgrade");
        http::append_header(wire, "Upgrade", head.headers.find("Upgrade").value_or(""));
    }
    if (body.rest != nullptr && body.chunked) {
        http::append_header(wire, "Transfer-Encoding", "chunked");
        wire += "\r\n";
        http::append_chunk(wire, body.ahead);
        return true;
    }
    const bool body_method = head.method == http::method::post ||
                             head.method == http::method::put || head.method == http::method::patch;
    if (body.rest != nullptr) {
        // A request body is chunked or has a Content-Length: this one has the length.
        http::append_header(wire, "Content-Length", head.content_length.value_or(0));
    } else if (!body.ahead.empty() || body_method) {
        http::append_header(wire, "Content-Length", body.ahead.size());
    }
    wire += "\r\n";
    wire += body.ahead;
    return true;
}

runtime::task<bool> balancer_handler::read_ahead(net::request_context& request,
                                                 outbound_body& body) {
    // Every proxied route streams its body (streams_body): it is never handed over whole.
    assert(request.body_stream != nullptr);
    if (request.head.content_length.value_or(0) > stream_chunk) {
        // Too long to be sent twice anyway: streamed from its first byte, never copied.
        body.rest = request.body_stream;
        co_return true;
    }
    for (;;) {
        const net::body_piece piece = co_await request.body_stream->read();
        if (piece.what == net::body_piece::kind::end) {
            co_return true;
        }
        if (piece.what == net::body_piece::kind::failed) {
            body.failure = piece;
            co_return false;
        }
        body.ahead += piece.bytes;
        if (body.ahead.size() >= stream_chunk) {
            body.rest = request.body_stream;
            body.chunked = request.head.chunked;
            co_return true;
        }
    }
}

replica_slot* balancer_handler::pick(const hashing::request_key& key, const replica_slot* after) {
    const hashing::ring_snapshot& ring = *table_->ring;
    const hashing::replica_loads loads{loads_, loads_total_};
    // Health at pick time: replicas that are down are skipped, their keys go to their next
    // choice, and no other key moves (docs/design.md, "Routing").
    const std::span<const std::uint8_t> routable = table_->routable;
    std::size_t index = hashing::ring_snapshot::no_replica;
    if (after == nullptr) {
        index = ring.lookup(key, loads, routable);
    } else if (const std::size_t previous = ring.find(after->target().name);
               previous != hashing::ring_snapshot::no_replica) {
        index = ring.lookup_excluding(key, previous, loads, routable);
    } else {
        // The replica tried first left the table meanwhile: the key's first choice now.
        index = ring.lookup(key, loads, routable);
    }
    return index == hashing::ring_snapshot::no_replica ? nullptr : slots_[index].get();
}

runtime::task<void> balancer_handler::proxy(net::request_context& request) {
    if (table_->ring->empty() || !table_->any_routable) {
        ++metrics_.no_replica;
        respond_failure(request, 503, "<Error> No replicas available");
        co_return;
    }
    // The connection's scratch buffers: the upstream request and the body read ahead are
    // built where the previous request's were, so a steady stream allocates nothing.
    std::string& wire = (*request.scratch)[0];
    outbound_body body{(*request.scratch)[1]};
    wire.clear();
    body.ahead.clear();
    if (!co_await read_ahead(request, body)) {
        answer_body_failure(request, body.failure);
        co_return;
    }
    if (body.rest != nullptr) {
        // The rest of the body waits in the client's socket; its receive buffer goes back
        // while this request waits for a slot, a connection and the replica.
        body.rest->park();
    }
    const std::uint64_t random_id = 100000 + random_() % 900000;
    const hashing::request_key key =
        extract_key(config_.key, request.head, request.client_ip, random_id);
    if (!build_upstream_request(request, body, wire)) {
        request.keep_alive = false;
        respond_failure(request, 400,
                        "<Error> Too many Connection options (at most " +
                            std::to_string(http::hop_by_hop_filter::max_tokens) + ")");
        co_return;
    }
    const bool idempotent = http::is_idempotent(request.head.method);

    replica_slot* previous = nullptr;
    // Picks made again because the replica left the table while the request waited for it.
    int repicks = 0;
    for (int tries = 0;;) {
        // The table of the moment: it may have changed while this request waited.
        replica_slot* slot = pick(key, previous);
        if (slot == nullptr) {
            ++metrics_.no_replica;
            respond_failure(request, 503, "<Error> No replicas available");
            co_return;
        }
        replica_slot::waiter queued;
        const std::uint64_t picked_in = table_->generation;
        const replica_slot::admission admitted = co_await slot->acquire(queued);
        if (admitted == replica_slot::admission::retired && repicks++ < 4) {
            continue;
        }
        if (admitted == replica_slot::admission::granted && table_->generation != picked_in &&
            !routable(*slot) && repicks++ < 4) {
            // It went out of picking while this request queued for it: nothing was sent.
            slot->release();
            continue;
        }
        if (admitted != replica_slot::admission::granted) {
            const std::string& name = slot->target().name;
            std::string message = "<Error> Replica '" + name + "' ";
            if (admitted == replica_slot::admission::queue_full) {
                message += "is at its limit of " + std::to_string(slot_limits_.max_in_flight) +
                           " requests in flight per worker, and its queue is full";
            } else if (admitted == replica_slot::admission::timed_out) {
                message += "had no free slot within " +
                           std::to_string(config_.queue_timeout.count()) + " ms";
            } else {
                message += "is not taking requests: lbd is stopping";
            }
            respond_failure(request, 503, message);
            co_return;
        }
        const attempt_result result = co_await attempt(request, *slot, wire, body, idempotent);
        slot->release();
        replica_counters& counters = slot->counters();
        if (result == attempt_result::answered) {
            co_return;
        }
        if (result == attempt_result::broken) {
            // Part of the answer already went out: all we can do is close.
            request.keep_alive = false;
            co_return;
        }
        if (result == attempt_result::client_failed) {
            answer_body_failure(request, body.failure);
            co_return;
        }
        ++counters.by_class[0];
        control_.report_suspect(slot->target().name);
        if (tries++ == 0 && result == attempt_result::unreachable && !aborting_) {
            // The next distinct replica of the key, if there is one.
            if (replica_slot* next = pick(key, slot); next != nullptr && next != slot) {
                ++counters.retried;
                previous = slot;
                continue;
            }
        }
        if (result == attempt_result::timed_out) {
            respond_failure(request, 504,
                            "<Error> Replica '" + slot->target().name + "' did not answer in time");
        } else {
            respond_failure(request, 502,
                            "<Error> Replica '" + slot->target().name + "' is unreachable");
        }
        co_return;
    }
}

runtime::task<int> balancer_handler::send_rest(net::client_connection& connection,
                                               outbound_body& body) {
    for (;;) {
        const net::body_piece piece = co_await body.rest->read();
        body.started = true;
        if (piece.what == net::body_piece::kind::failed) {
            body.failure = piece;
            co_return -ECONNABORTED;
        }
        if (piece.what == net::body_piece::kind::end) {
            if (!body.chunked) {
                co_return 0;
            }
            co_return co_await connection.send(http::last_chunk, config_.response_timeout);
        }
        // The piece is a view into the client's receive buffer: sent from there, framed
        // when chunked, before the next read; with MSG_MORE while more is waiting, as the
        // answer's pieces are (relay_response).
        const int flags = piece.more ? MSG_MORE : 0;
        int sent = 0;
        if (body.chunked) {
            http::chunk_header_buffer buffer;
            const std::string_view size_line = http::chunk_header(buffer, piece.bytes.size());
            std::array<iovec, 3> vectors{
                {{const_cast<char*>(size_line.data()), size_line.size()},
                 {const_cast<char*>(piece.bytes.data()), piece.bytes.size()},
                 {const_cast<char*>(http::chunk_terminator.data()),
                  http::chunk_terminator.size()}}};
            sent = co_await runtime::writev_all(connection.fd(), vectors, config_.response_timeout,
                                                flags);
        } else {
            sent = co_await connection.send(piece.bytes, config_.response_timeout, flags);
        }
        if (sent != 0) {
            co_return sent;
        }
    }
}

runtime::task<balancer_handler::attempt_result>
balancer_handler::attempt(net::request_context& request, replica_slot& slot, std::string_view wire,
                          outbound_body& body, bool may_resend) {
    // A pooled connection has its receive armed, so one the replica closed has left the
    // pool already; the rare close that races with this request is still handled below.
    // An upgrade takes a connection of its own: it never goes back to the pool.
    const bool upgrading = request.handover != nullptr;
    std::optional<net::client_connection> connection = upgrading ? std::nullopt : slot.take_idle();
    bool reused = connection.has_value();
    net::response_event event;
    clock::time_point sent_at;
    int sent = 0;
    active_upstream active;
    for (;;) {
        sent_at = clock::now();
        sent = 0;
        // Bytes of the request already sent with the connect of a new connection.
        std::size_t already = 0;
        if (!connection) {
            auto opened = co_await net::client_connection::open_and_send(
                slot.target().address, config_.connect_timeout, wire);
            if (!opened) {
                co_return attempt_result::unreachable; // nothing was sent: safe to retry
            }
            connection.emplace(std::move(opened->connection));
            reused = false;
            sent = std::min(opened->sent, 0);
            already = static_cast<std::size_t>(std::max(opened->sent, 0));
        }
        track(active, connection->fd());
        connection->expect_response_to(request.head.method);
        if (upgrading) {
            connection->expect_upgrade();
        }
        if (sent == 0) {
            sent = co_await connection->send(wire.substr(already), config_.response_timeout);
        }
        if (sent == 0 && body.rest != nullptr) {
            sent = co_await send_rest(*connection, body);
            if (body.failure.what == net::body_piece::kind::failed) {
                untrack(active);
                co_await connection->close();
                co_return attempt_result::client_failed;
            }
            // The body may not have ended (the replica answered early): its buffer goes
            // back while the answer is awaited.
            body.rest->park();
        }
        // A replica that stopped reading the body may have answered before it closed
        // (413, say): that answer is the client's.
        const bool look_for_answer = sent == 0 || (body.started && sent != -ETIMEDOUT);
        if (may_resend && !body.started) {
            active.waiting_on = &slot; // cut if the replica goes down meanwhile
        }
        event = look_for_answer ? co_await next_event(*connection)
                                : net::response_event{net::response_event::kind::failed, {}, sent};
        active.waiting_on = nullptr;
        if (event.what == net::response_event::kind::head) {
            break;
        }
        untrack(active);
        const bool nothing_back = !connection->received_any();
        co_await connection->close();
        connection.reset();
        if (event.error == -ETIMEDOUT || sent == -ETIMEDOUT) {
            co_return attempt_result::timed_out;
        }
        // Once part of a streamed body was read from the client, it cannot be sent again.
        const bool resendable = !body.started && !aborting_;
        // A pooled connection the replica had closed meanwhile: once more, on a fresh one,
        // unless a non-idempotent request was written and might have been processed.
        // (Not when lbd cut it because the replica went down: the retry goes elsewhere.)
        if (reused && nothing_back && resendable && (may_resend || sent < 0) && !active.cut) {
            continue;
        }
        // No response byte came back: another replica may take it if the method allows.
        const bool elsewhere = nothing_back && may_resend && resendable;
        co_return elsewhere ? attempt_result::unreachable : attempt_result::failed;
    }
    metrics_.observe_latency(std::chrono::duration<double>(clock::now() - sent_at).count());
    // Reusable only when the whole request went out.
    const attempt_result result =
        co_await relay_response(request, slot, *connection, sent == 0, active);
    untrack(active);
    co_return result;
}

runtime::task<balancer_handler::attempt_result>
balancer_handler::relay_response(net::request_context& request, replica_slot& slot,
                                 net::client_connection& connection, bool reusable,
                                 active_upstream& active) {
    const upstream_target& target = slot.target();
    replica_counters& counters = slot.counters();
    net::response_event event;
    const http::response_head& head = connection.head();
    const int status = head.status;
    ++counters.by_class[std::clamp(status / 100, 1, 5)];
    if (status == 101) {
        // Only an upgrade request gets here (the connection refuses a 101 otherwise).
        co_return co_await tunnel(request, slot, connection, active);
    }
    if (request.handover != nullptr) {
        // The replica did not switch protocols: an ordinary answer (the client connection
        // closes after it), on an upstream connection that is not reused either.
        reusable = false;
    }

    if (status == 404) {
        // The spec's message replaces the replica's own 404.
        do {
            event = co_await next_event(connection);
        } while (event.what == net::response_event::kind::body);
        if (event.what == net::response_event::kind::complete && reusable) {
            slot.give_back(std::move(connection));
        } else {
            co_await connection.close();
        }
        std::string message = "<Error> '";
        message += request.head.path;
        message += "' endpoint does not exist in server replicas";
        respond_failure(request, 400, message);
        co_return attempt_result::answered;
    }

    const std::size_t mark = request.out.size();
    if (!append_end_to_end_fields(request.out, status, head.headers)) {
        co_await connection.close();
        ++counters.by_class[0];
        respond_failure(request, 502,
                        "<Error> Replica '" + target.name + "' sent too many Connection options");
        co_return attempt_result::answered;
    }
    bool chunked_out = false;
    if (!head.has_body) {
        // A HEAD answer keeps its length; 204 and 304 carry none (RFC 9110, 8.6).
        if (head.content_length && status != 204 && status != 304) {
            http::append_header(request.out, "Content-Length", *head.content_length);
        }
    } else if (head.content_length && !head.chunked) {
        http::append_header(request.out, "Content-Length", *head.content_length);
    } else if (request.head.version == http::version::http_1_1) {
        http::append_header(request.out, "Transfer-Encoding", "chunked");
        chunked_out = true;
    } else {
        request.keep_alive = false; // an HTTP/1.0 client reads the body until close
    }
    if (!request.keep_alive) {
        http::append_header(request.out, "Connection", "close");
    } else if (request.head.version == http::version::http_1_0) {
        http::append_header(request.out, "Connection", "keep-alive");
    }
    request.out += "\r\n";

    bool flushed = false;
    // A sized answer (Content-Length) is only of use whole; a streamed one (chunked, or
    // until close: events, long polls) is of use as it comes.
    const bool sized = head.content_length && !head.chunked;
    std::uint64_t relayed = 0; // body bytes passed on so far
    for (;;) {
        event = co_await next_event(connection);
        if (event.what == net::response_event::kind::complete) {
            break;
        }
        if (event.what == net::response_event::kind::failed) {
            co_await connection.close();
            control_.report_suspect(target.name); // a replica killed mid-answer, say
            if (!flushed) {
                // Nothing reached the client yet: answer 502 instead of a torn response.
                request.out.resize(mark);
                ++counters.by_class[0];
                respond_failure(request, 502,
                                "<Error> Replica '" + target.name + "' broke its response");
                co_return attempt_result::answered;
            }
            co_return attempt_result::broken;
        }
        if (request.head.method == http::method::head) {
            continue;
        }
        relayed += event.body.size();
        const bool sized_body_done = sized && relayed >= *head.content_length;
        if (event.body.size() >= direct_send_bytes) {
            // A large piece goes out from the upstream's receive buffer, after what is
            // pending, in one writev: no copy into request.out.
            http::chunk_header_buffer buffer;
            std::array<std::string_view, 3> pieces{event.body};
            std::size_t count = 1;
            if (chunked_out) {
                pieces = {http::chunk_header(buffer, event.body.size()), event.body,
                          http::chunk_terminator};
                count = 3;
            }
            flushed = true;
            // While more of the body is already here, the kernel may hold this piece back
            // to send it with the next in fewer, fuller segments (a 1 MiB download: a third
            // fewer segments); the last piece before a wait goes out at once. Never the end
            // of a sized body, after which nothing else is sent to push it out (a chunked
            // answer ends with its last chunk, one read until close with the close).
            const bool more = connection.more_waiting() && !sized_body_done;
            const std::span<const std::string_view> out(pieces.data(), count);
            if (!co_await net::flush_response(request, out, more)) {
                co_await connection.close();
                co_return attempt_result::broken;
            }
            continue;
        }
        if (chunked_out) {
            http::append_chunk(request.out, event.body);
        } else {
            request.out += event.body;
        }
        // Small pieces gather (while a sized answer lasts, or 64 KiB); a streamed one goes
        // out as soon as the replica pauses.
        if (request.out.size() >= stream_chunk || (!sized && !connection.more_waiting())) {
            flushed = true;
            if (!co_await net::flush_response(request)) {
                co_await connection.close();
                co_return attempt_result::broken;
            }
        }
    }
    if (chunked_out) {
        http::append_last_chunk(request.out);
    }
    if (reusable) {
        slot.give_back(std::move(connection));
    } else {
        co_await connection.close();
    }
    co_return attempt_result::answered;
}

} // namespace balancer
