#include "balancer/balancer_handler.hpp"

#include <cerrno>

#include "balancer/control_plane.hpp"
#include "balancer/key_source.hpp"
#include "http/hop_by_hop.hpp"
#include "http/serializer.hpp"
#include "runtime/remote_call.hpp"
#include "json/json_writer.hpp"

namespace balancer {

using clock = std::chrono::steady_clock;

namespace {
constexpr std::size_t stream_chunk = 64 * 1024;

void respond_json(net::request_context& request, int status, std::string_view body,
                  std::span<const http::header_field> extra = {}) {
    http::response_options options;
    options.status = status;
    options.content_type = "application/json";
    options.keep_alive = request.keep_alive;
    options.version = request.head.version;
    options.extra_headers = extra;
    if (request.head.method == http::method::head) {
        http::append_response_head(request.out, options, body.size());
    } else {
        http::append_response(request.out, options, body);
    }
}

void respond_failure(net::request_context& request, int status, std::string_view message,
                     std::span<const http::header_field> extra = {}) {
    std::string body;
    json::append_status_message(body, message, false);
    respond_json(request, status, body, extra);
}

bool is_control_path(std::string_view path) {
    return path == "/rep" || path == "/add" || path == "/rm";
}

bool blank(std::string_view text) {
    return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

runtime::task<api_answer> run_add(control_plane* control, json::control_payload_result payload,
                                  bool body_empty) {
    co_return co_await control->add(std::move(payload), body_empty);
}

runtime::task<api_answer> run_remove(control_plane* control, json::control_payload_result payload,
                                     bool body_empty) {
    co_return co_await control->remove(std::move(payload), body_empty);
}
} // namespace

balancer_handler::balancer_handler(const balancer_config& config, control_plane& control,
                                   std::shared_ptr<const routing_table> initial)
    : config_(config), control_(control), home_(runtime::reactor::current()),
      table_(std::move(initial)), pool_(config.upstream_idle) {
    timers_.spawn(deadlines_.run(std::chrono::milliseconds{50}));
}

balancer_handler::~balancer_handler() = default;

void balancer_handler::on_stop() {}

runtime::task<void> balancer_handler::drain() {
    co_await calls_.join();
    deadlines_.stop();
    co_await timers_.join();
}

runtime::task<net::response_event>
balancer_handler::next_event(net::client_connection& connection) {
    runtime::deadline_list::wait timed{deadlines_, clock::now() + config_.response_timeout};
    net::response_event event =
        co_await connection.next(std::chrono::milliseconds::max(), timed.slot());
    if (event.what == net::response_event::kind::failed) {
        event.error = timed.outcome(event.error);
    }
    co_return event;
}

std::uint64_t balancer_handler::body_limit(const http::request_head& head) const {
    return is_control_path(head.path) ? 64 * 1024 : config_.proxy_body_limit;
}

void balancer_handler::adopt(std::shared_ptr<const routing_table> table) {
    table_ = std::move(table);
    pool_.retain_only(*table_);
    in_flight_.assign(table_->targets.size(), 0);
    in_flight_total_ = 0;
}

runtime::task<void> balancer_handler::handle(net::request_context& request) {
    if (is_control_path(request.head.path)) {
        co_await control_request(request);
    } else {
        co_await proxy(request);
    }
}

runtime::task<void> balancer_handler::control_request(net::request_context& request) {
    const http::request_head& head = request.head;
    const std::string_view path = head.path;
    if (path == "/rep") {
        if (head.method != http::method::get && head.method != http::method::head) {
            static constexpr http::header_field allow[] = {{"Allow", "GET, HEAD"}};
            respond_failure(request, 405, "<Error> Method not allowed", allow);
            co_return;
        }
        respond_json(request, 200, render_replicas(table_->managed));
        co_return;
    }
    const bool is_add = path == "/add";
    const bool method_ok =
        is_add ? head.method == http::method::post
               : (head.method == http::method::delete_ || head.method == http::method::post);
    if (!method_ok) {
        static constexpr http::header_field allow_add[] = {{"Allow", "POST"}};
        static constexpr http::header_field allow_rm[] = {{"Allow", "DELETE, POST"}};
        respond_failure(request, 405, "<Error> Method not allowed",
                        is_add ? std::span<const http::header_field>{allow_add}
                               : std::span<const http::header_field>{allow_rm});
        co_return;
    }
    if (!config_.admin_token.empty()) {
        const std::string expected = "Bearer " + config_.admin_token;
        if (head.headers.find("Authorization").value_or("") != expected) {
            static constexpr http::header_field challenge[] = {{"WWW-Authenticate", "Bearer"}};
            respond_failure(request, 401, "<Error> Missing or wrong bearer token", challenge);
            co_return;
        }
    }
    const bool body_empty = blank(request.body);
    json::control_payload_result payload = payload_parser_.parse(request.body);
    control_plane* control = &control_;
    runtime::remote_call<api_answer> call{
        control_.reactor(), control_.scope(),
        [control, is_add, payload = std::move(payload), body_empty]() mutable {
            return is_add ? run_add(control, std::move(payload), body_empty)
                          : run_remove(control, std::move(payload), body_empty);
        }};
    const api_answer answer = co_await call;
    respond_json(request, answer.status, answer.body);
}

void balancer_handler::build_upstream_request(const net::request_context& request,
                                              std::string& wire) const {
    const http::request_head& head = request.head;
    wire.append(head.method_name).append(" ").append(head.target).append(" HTTP/1.1\r\n");
    std::string_view forwarded_for;
    bool has_host = false;
    for (const auto& field : head.headers) {
        // Expect: lbd has answered 100 Continue itself and holds the whole body.
        if (http::is_hop_by_hop(field.name, head.headers) ||
            http::iequals(field.name, "Content-Length") || http::iequals(field.name, "Expect")) {
            continue;
        }
        if (http::iequals(field.name, "X-Forwarded-For")) {
            forwarded_for = field.value;
            continue;
        }
        has_host = has_host || http::iequals(field.name, "Host");
        http::append_header(wire, field.name, field.value);
    }
    if (!has_host) {
        http::append_header(wire, "Host", "lbd");
    }
    if (!request.client_ip.empty()) {
        std::string chain(forwarded_for);
        if (!chain.empty()) {
            chain += ", ";
        }
        chain += request.client_ip;
        http::append_header(wire, "X-Forwarded-For", chain);
    }
    const bool body_method = head.method == http::method::post ||
                             head.method == http::method::put || head.method == http::method::patch;
    if (!request.body.empty() || body_method) {
        http::append_header(wire, "Content-Length", request.body.size());
    }
    wire += "\r\n";
    wire += request.body;
}

runtime::task<void> balancer_handler::proxy(net::request_context& request) {
    // Our own reference: the table may be replaced while this request waits.
    const std::shared_ptr<const routing_table> table = table_;
    const hashing::ring_snapshot& ring = *table->ring;
    if (ring.empty()) {
        ++metrics_.no_replica;
        respond_failure(request, 503, "<Error> No replicas available");
        co_return;
    }
    const std::uint64_t random_id = 100000 + random_() % 900000;
    const hashing::request_key key =
        extract_key(config_.key, request.head, request.client_ip, random_id);
    // The worker's own in-flight counts (bounded loads); other algorithms ignore them.
    const bool counting = table == table_ && in_flight_.size() == table->targets.size();
    const hashing::replica_loads loads =
        counting ? hashing::replica_loads{in_flight_, in_flight_total_} : hashing::replica_loads{};
    std::size_t index = ring.lookup(key, loads);
    std::string wire;
    build_upstream_request(request, wire);
    const bool idempotent = http::is_idempotent(request.head.method);

    for (int tries = 0;; ++tries) {
        const upstream_target& target = table->targets[index];
        // One lookup per attempt: map elements stay put, and none is ever erased.
        replica_counters& counters = metrics_.replicas[target.name];
        const bool counted = table == table_ && index < in_flight_.size();
        if (counted) {
            ++in_flight_[index];
            ++in_flight_total_;
        }
        ++counters.in_flight;
        const attempt_result result = co_await attempt(request, target, counters, wire, idempotent);
        --counters.in_flight;
        // Only if no new table reset the counts meanwhile.
        if (counted && table == table_) {
            --in_flight_[index];
            --in_flight_total_;
        }
        if (result == attempt_result::answered) {
            co_return;
        }
        if (result == attempt_result::broken) {
            // Part of the answer already went out: all we can do is close.
            request.keep_alive = false;
            co_return;
        }
        ++counters.by_class[0];
        control_plane* control = &control_;
        control_.reactor().post(
            [control, name = target.name]() mutable { control->report_suspect(std::move(name)); });
        if (tries == 0 && result == attempt_result::unreachable) {
            // The counts may have been reset while this request waited: take them afresh.
            const bool still_current =
                table == table_ && in_flight_.size() == table->targets.size();
            const std::size_t next = ring.lookup_excluding(
                key, index,
                still_current ? hashing::replica_loads{in_flight_, in_flight_total_}
                              : hashing::replica_loads{});
            if (next != hashing::ring_snapshot::no_replica) {
                ++counters.retried;
                index = next;
                continue;
            }
        }
        if (result == attempt_result::timed_out) {
            respond_failure(request, 504,
                            "<Error> Replica '" + target.name + "' did not answer in time");
        } else {
            respond_failure(request, 502, "<Error> Replica '" + target.name + "' is unreachable");
        }
        co_return;
    }
}

runtime::task<balancer_handler::attempt_result>
balancer_handler::attempt(net::request_context& request, const upstream_target& target,
                          replica_counters& counters, std::string_view wire, bool may_resend) {
    std::optional<net::client_connection> connection = pool_.take(target.pool_key);
    bool reused = connection.has_value();
    net::response_event event;
    clock::time_point sent_at;
    for (;;) {
        if (!connection) {
            auto opened =
                co_await net::client_connection::open(target.address, config_.connect_timeout);
            if (!opened) {
                co_return attempt_result::unreachable; // nothing was sent: safe to retry
            }
            connection.emplace(std::move(*opened));
            reused = false;
        }
        connection->expect_response_to(request.head.method);
        sent_at = clock::now();
        const int sent = co_await connection->send(wire, config_.response_timeout);
        event = sent == 0 ? co_await next_event(*connection)
                          : net::response_event{net::response_event::kind::failed, {}, sent};
        if (event.what == net::response_event::kind::head) {
            break;
        }
        const bool nothing_back = !connection->received_any();
        co_await connection->close();
        connection.reset();
        if (event.error == -ETIMEDOUT) {
            co_return attempt_result::timed_out;
        }
        // A pooled connection the replica had closed meanwhile: once more, on a fresh one,
        // unless a non-idempotent request was written and might have been processed.
        if (reused && nothing_back && (may_resend || sent < 0)) {
            continue;
        }
        // No response byte came back: another replica may take it if the method allows.
        co_return nothing_back&& may_resend ? attempt_result::unreachable : attempt_result::failed;
    }

    metrics_.observe_latency(std::chrono::duration<double>(clock::now() - sent_at).count());
    const http::response_head& head = connection->head();
    const int status = head.status;
    ++counters.by_class[std::clamp(status / 100, 1, 5)];

    if (status == 404) {
        // The spec's message replaces the replica's own 404.
        do {
            event = co_await next_event(*connection);
        } while (event.what == net::response_event::kind::body);
        if (event.what == net::response_event::kind::complete) {
            pool_.give_back(target.pool_key, std::move(*connection));
        } else {
            co_await connection->close();
        }
        std::string message = "<Error> '";
        message += request.head.path;
        message += "' endpoint does not exist in server replicas";
        respond_failure(request, 400, message);
        co_return attempt_result::answered;
    }

    const std::size_t mark = request.out.size();
    http::append_status_line(request.out, status);
    for (const auto& field : head.headers) {
        if (!http::is_hop_by_hop(field.name, head.headers) &&
            !http::iequals(field.name, "Content-Length")) {
            http::append_header(request.out, field.name, field.value);
        }
    }
    bool chunked_out = false;
    if (!head.has_body) {
        if (head.content_length) {
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
    for (;;) {
        event = co_await next_event(*connection);
        if (event.what == net::response_event::kind::complete) {
            break;
        }
        if (event.what == net::response_event::kind::failed) {
            co_await connection->close();
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
        if (chunked_out) {
            http::append_chunk(request.out, event.body);
        } else {
            request.out += event.body;
        }
        if (request.out.size() >= stream_chunk) {
            flushed = true;
            if (!co_await net::flush_response(request)) {
                co_await connection->close();
                co_return attempt_result::broken;
            }
        }
    }
    if (chunked_out) {
        http::append_last_chunk(request.out);
    }
    pool_.give_back(target.pool_key, std::move(*connection));
    co_return attempt_result::answered;
}

} // namespace balancer
