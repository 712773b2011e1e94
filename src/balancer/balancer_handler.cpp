#include "balancer/balancer_handler.hpp"

#include <cerrno>

#include "balancer/control_plane.hpp"
#include "balancer/respond.hpp"
#include "runtime/remote_call.hpp"
#include "json/json_writer.hpp"

namespace balancer {

namespace {
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

std::uint64_t balancer_handler::body_limit(const http::request_head& head) const {
    return is_control_path(head.path) ? 64 * 1024 : config_.proxy_body_limit;
}

bool balancer_handler::streams_body(const http::request_head& head) const {
    return !is_control_path(head.path);
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

} // namespace balancer
