// The control API's changes, /add and /rm, on the control thread: validated by the pure
// rules of control_api, carried out through the replica_set, answered once every worker
// routes by the result. All or nothing: an /add that cannot start every replica it asked
// for stops those it started and changes nothing. Also the changes other balancers made, as
// a shared backend (swarm) reports them.

#include <algorithm>

#include "balancer/control_plane.hpp"
#include "balancer/log.hpp"
#include "json/json_writer.hpp"

namespace balancer {

namespace {
std::string failure_body(std::string_view message) {
    std::string body;
    json::append_status_message(body, message, false);
    return body;
}

api_answer failure(int status, std::string message) {
    return api_answer{status, failure_body(message)};
}
} // namespace

std::optional<api_answer> control_plane::refuse_change() const {
    if (stopping_ || changes_closed_) {
        return failure(503, "<Error> lbd is stopping");
    }
    if (changing_) {
        return failure(409, "<Error> Another /add or /rm is in progress");
    }
    return std::nullopt;
}

naming_rules control_plane::rules() const {
    naming_rules rules{.host_port = config_.backend == backend_kind::static_list,
                       .host_names = config_.allow_dns_upstreams,
                       .max_replicas = config_.max_replicas,
                       .busy = {},
                       .own_names = config_.own_names};
    for (const auto& [name, record] : set_.records()) {
        if (!record.member) {
            rules.busy.push_back(name);
        }
    }
    return rules;
}

runtime::task<api_answer> control_plane::add(json::control_payload_result payload,
                                             bool body_empty) {
    if (auto busy = refuse_change()) {
        co_return std::move(*busy);
    }
    const std::vector<std::string> members = set_.member_names();
    auto planned = plan_add(payload, body_empty, members, rules(),
                            [](std::uint64_t k) { return "Server" + std::to_string(k); });
    if (auto* failed = std::get_if<api_error>(&planned)) {
        co_return failure(failed->status, failed->message);
    }
    changing_ = true;
    const add_plan plan = std::get<add_plan>(std::move(planned));
    std::uint64_t id = set_.next_id();
    for (std::size_t i = 0; i < plan.names.size(); ++i) {
        spawn_status_.erase(plan.names[i]);
        set_.join(plan.names[i], id++, plan.weights[i], now());
    }
    pump();
    if (auto failed = co_await await_joined(plan.names)) {
        // All or nothing: whatever this call started goes away again.
        set_.abandon(plan.names);
        pump();
        co_await await_forgotten(plan.names, stop_grace);
        changing_ = false;
        log_event("error", "add_failed", {{"error", failed->body}});
        co_return std::move(*failed);
    }
    set_.commit(plan.names, now());
    pump();
    co_await published(publish_needed());
    changing_ = false;
    co_return api_answer{200, render_replicas(set_.serving())};
}

runtime::task<std::optional<api_answer>>
control_plane::await_joined(const std::vector<std::string>& names) {
    while (true) {
        if (stopping_ || changes_closed_) {
            co_return failure(503, "<Error> lbd is stopping");
        }
        bool pending = false;
        for (const auto& name : names) {
            const replica_set::join_progress progress = set_.progress(name);
            if (progress.state == replica_set::join_progress::kind::failed) {
                const replica_record* record = set_.find(name);
                if (record != nullptr && record->spawn_failures > 0) {
                    const auto status = spawn_status_.find(name);
                    std::string message = record->last_failure;
                    if (!message.starts_with("<Error>")) {
                        message = "<Error> Failed to start replica '" + name + "': " + message;
                    }
                    co_return failure(status != spawn_status_.end() ? status->second : 500,
                                      std::move(message));
                }
                co_return failure(500, "<Error> Replica '" + name + "' " + progress.reason);
            }
            pending = pending || progress.state == replica_set::join_progress::kind::pending;
        }
        if (!pending) {
            co_return std::nullopt;
        }
        // Woken by every event the replica_set hears; its deadlines bound the wait.
        co_await progress_.wait(std::chrono::hours{1});
    }
}

runtime::task<void> control_plane::await_forgotten(const std::vector<std::string>& names,
                                                   std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    // Left: a record of the name that is no member (a member by now was added by another
    // balancer meanwhile, and is no business of this call).
    const auto left = [&] {
        return std::ranges::any_of(names, [&](const std::string& name) {
            const replica_record* record = set_.find(name);
            return record != nullptr && !record->member;
        });
    };
    while (!stopping_ && !changes_closed_ && left() &&
           std::chrono::steady_clock::now() < deadline) {
        co_await progress_.wait(deadline - std::chrono::steady_clock::now());
    }
}

runtime::task<api_answer> control_plane::remove(json::control_payload_result payload,
                                                bool body_empty) {
    if (auto busy = refuse_change()) {
        co_return std::move(*busy);
    }
    const std::vector<std::string> members = set_.member_names();
    auto planned = plan_remove(payload, body_empty, members, [this](std::size_t count) {
        return std::uniform_int_distribution<std::size_t>(0, count - 1)(random_);
    });
    if (auto* failed = std::get_if<api_error>(&planned)) {
        co_return failure(failed->status, failed->message);
    }
    changing_ = true;
    const remove_plan plan = std::get<remove_plan>(std::move(planned));
    // Routing first: once this answers, no new request reaches a removed replica. The
    // replicas are stopped once the table without them is out (the publisher releases
    // them), letting requests in flight finish.
    set_.remove(plan.names);
    pump();
    co_await published(publish_needed());
    changing_ = false;
    co_return api_answer{200, render_replicas(set_.serving())};
}

runtime::task<void> control_plane::finish_cut_short_changes(std::chrono::milliseconds grace) {
    // Their replicas go, also where remove_all() keeps the rest (a backend other balancers
    // share): an /add cut short by the shutdown answered 503 and must leave nothing.
    std::vector<std::string> unfinished;
    for (const auto& [name, record] : set_.records()) {
        if (record.state == replica_state::joining || record.state == replica_state::removing) {
            unfinished.push_back(name);
        }
    }
    for (const std::string& name : unfinished) {
        co_await backend_->remove(name, grace);
    }
}

std::vector<std::string>
control_plane::on_membership(const std::vector<orchestrator::adopted_replica>& appeared,
                             const std::vector<std::string>& vanished) {
    std::vector<std::string> later;
    if (stopping_) {
        return later;
    }
    // Gone first: a name removed and added again by others in one report is let go, then
    // taken back once its old record has left.
    std::vector<std::string> gone;
    for (const std::string& name : vanished) {
        if (const replica_record* record = set_.find(name); record != nullptr && record->member) {
            gone.push_back(name);
            log_event("info", "replica_gone_elsewhere", {{"name", name}});
        }
    }
    if (!gone.empty()) {
        set_.remove(gone);
    }
    for (const orchestrator::adopted_replica& replica : appeared) {
        if (set_.in_use(replica.name)) {
            // A member already (this balancer added it); else joining here (an /add that may
            // yet lose to this very service and roll back) or still leaving: asked again.
            if (!set_.find(replica.name)->member) {
                later.push_back(replica.name);
            }
            continue;
        }
        const bool id_taken =
            std::any_of(set_.records().begin(), set_.records().end(),
                        [&](const auto& entry) { return entry.second.id == replica.id; });
        if (id_taken) {
            later.push_back(replica.name);
            continue;
        }
        log_event("info", "replica_found_elsewhere", {{"name", replica.name}});
        set_.add_member(replica.name, replica.id, std::max(replica.weight, 1U), now());
    }
    pump();
    return later;
}

} // namespace balancer
