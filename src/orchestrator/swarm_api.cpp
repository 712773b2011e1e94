#include "orchestrator/swarm_api.hpp"

#include <nettle/base64.h>

#include "json/json_writer.hpp"

namespace orchestrator {

namespace {
std::string base64(std::string_view text) {
    std::string out(BASE64_ENCODE_RAW_LENGTH(text.size()), '\0');
    base64_encode_raw(reinterpret_cast<char*>(out.data()), text.size(),
                      reinterpret_cast<const std::uint8_t*>(text.data()));
    return out;
}

std::string string_at(simdjson::simdjson_result<simdjson::dom::element> element) {
    std::string_view text;
    if (element.get_string().get(text)) {
        return {};
    }
    return std::string(text);
}

// "2026-12-01T20:10:11.5Z" -> seconds part and a 9-digit fraction, for ordering.
std::pair<std::string_view, std::string> split_time(std::string_view time) {
    const auto dot = time.find('.');
    std::string_view seconds = time.substr(0, std::min(dot, time.find_first_of("Z+-", 11)));
    std::string fraction;
    if (dot != std::string_view::npos) {
        const auto end = time.find_first_not_of("0123456789", dot + 1);
        fraction = time.substr(dot + 1, end == std::string_view::npos ? end : end - dot - 1);
    }
    fraction.resize(9, '0');
    return {seconds, fraction};
}
} // namespace

bool earlier(std::string_view a, std::string_view b) {
    return split_time(a) < split_time(b);
}

std::string service_create_body(const service_spec& spec, bool with_seccomp) {
    using namespace std::chrono_literals;
    std::string body;
    json::json_writer writer{body, json::key_order::as_written};
    writer.begin_object().key("Name").value(spec.name).key("Labels").begin_object();
    for (const auto& [key, value] : spec.labels) {
        writer.key(key).value(value);
    }
    writer.end_object().key("TaskTemplate").begin_object();
    writer.key("ContainerSpec")
        .begin_object()
        .key("Image")
        .value(spec.image)
        .key("Hostname")
        .value(spec.name)
        .key("Labels")
        .begin_object();
    for (const auto& [key, value] : spec.labels) {
        writer.key(key).value(value); // on the containers too (docker ps --filter label=)
    }
    writer.end_object().key("Env").begin_array();
    for (const auto& entry : spec.environment) {
        writer.value(entry);
    }
    writer.end_array();
    if (with_seccomp && !spec.seccomp_profile.empty()) {
        writer.key("Privileges")
            .begin_object()
            .key("Seccomp")
            .begin_object()
            .key("Mode")
            .value("custom")
            .key("Profile")
            .value(base64(spec.seccomp_profile))
            .end_object()
            .end_object();
    }
    writer.end_object();
    // Swarm restarts a task that stops for any reason, after 100 ms, without a limit: the
    // replica's name stays with a running task, and lbd follows it.
    writer.key("RestartPolicy")
        .begin_object()
        .key("Condition")
        .value("any")
        .key("Delay")
        .value(std::chrono::nanoseconds(100ms).count())
        .end_object();
    writer.key("Placement")
        .begin_object()
        .key("Preferences")
        .begin_array()
        .begin_object()
        .key("Spread")
        .begin_object()
        .key("SpreadDescriptor")
        .value("node.id")
        .end_object()
        .end_object()
        .end_array()
        .end_object();
    writer.key("Networks")
        .begin_array()
        .begin_object()
        .key("Target")
        .value(spec.network)
        .key("Aliases")
        .begin_array()
        .value(spec.name)
        .end_array()
        .end_object()
        .end_array();
    writer.end_object();
    writer.key("Mode")
        .begin_object()
        .key("Replicated")
        .begin_object()
        .key("Replicas")
        .value(1)
        .end_object()
        .end_object();
    writer.key("EndpointSpec").begin_object().key("Mode").value("dnsrr").end_object();
    writer.end_object();
    return body;
}

docker_result<std::vector<swarm_service>> parse_services(std::string_view body) {
    simdjson::dom::parser parser;
    simdjson::dom::array items;
    if (parser.parse(body.data(), body.size()).get(items)) {
        return std::unexpected(docker_error{200, "unexpected services answer"});
    }
    std::vector<swarm_service> out;
    for (simdjson::dom::element item : items) {
        swarm_service service;
        service.id = string_at(item["ID"]);
        service.name = string_at(item["Spec"]["Name"]);
        service.created_at = string_at(item["CreatedAt"]);
        read_string_map(item["Spec"]["Labels"], service.labels);
        out.push_back(std::move(service));
    }
    return out;
}

docker_result<std::vector<swarm_task>> parse_tasks(std::string_view body,
                                                   const std::string& network) {
    simdjson::dom::parser parser;
    simdjson::dom::array items;
    if (parser.parse(body.data(), body.size()).get(items)) {
        return std::unexpected(docker_error{200, "unexpected tasks answer"});
    }
    std::vector<swarm_task> out;
    for (simdjson::dom::element item : items) {
        swarm_task task;
        task.id = string_at(item["ID"]);
        task.service_id = string_at(item["ServiceID"]);
        task.node_id = string_at(item["NodeID"]);
        task.state = string_at(item["Status"]["State"]);
        task.error = string_at(item["Status"]["Err"]);
        task.desired_state = string_at(item["DesiredState"]);
        task.created_at = string_at(item["CreatedAt"]);
        simdjson::dom::array attachments;
        if (!item["NetworksAttachments"].get_array().get(attachments)) {
            for (simdjson::dom::element attachment : attachments) {
                if (string_at(attachment["Network"]["Spec"]["Name"]) != network) {
                    continue;
                }
                simdjson::dom::array addresses;
                std::string_view first;
                if (!attachment["Addresses"].get_array().get(addresses) && addresses.size() > 0 &&
                    !addresses.at(0).get_string().get(first)) {
                    task.address = std::string(first.substr(0, first.find('/')));
                }
            }
        }
        out.push_back(std::move(task));
    }
    return out;
}

runtime::task<docker_result<void>> swarm_api::check_manager() {
    auto got = co_await engine_.call("GET", "/info");
    if (auto failed = unexpected_answer(got, {200})) {
        co_return std::unexpected(*failed);
    }
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(got->body).get(doc)) {
        co_return std::unexpected(docker_error{got->status, "unexpected /info answer"});
    }
    const std::string state = string_at(doc["Swarm"]["LocalNodeState"]);
    bool manager = false;
    if (doc["Swarm"]["ControlAvailable"].get_bool().get(manager)) {
        manager = false;
    }
    if (state != "active") {
        co_return std::unexpected(
            docker_error{0, "this Docker engine is not part of a swarm (its swarm state is '" +
                                state + "'): --backend swarm needs a manager's API"});
    }
    if (!manager) {
        co_return std::unexpected(docker_error{
            0, "this Docker engine is a swarm worker: --backend swarm needs a manager's API "
               "(run lbd on a manager node)"});
    }
    co_return docker_result<void>{};
}

runtime::task<docker_result<std::string>> swarm_api::create_service(const service_spec& spec) {
    const bool seccomp = engine_.api_version() >= seccomp_api_version;
    const std::string prefix = seccomp ? "/v1.44" : "";
    auto got = co_await engine_.call("POST", "/services/create", service_create_body(spec, seccomp),
                                     prefix);
    if (!got) {
        co_return std::unexpected(got.error());
    }
    if (got->status == 409) {
        co_return std::unexpected(
            docker_error{409, "a service named '" + spec.name +
                                  "' already exists: " + daemon_message(got->body)});
    }
    if (got->status != 201) {
        co_return std::unexpected(docker_error{got->status, daemon_message(got->body)});
    }
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    std::string_view id;
    if (parser.parse(got->body).get(doc) || doc["ID"].get_string().get(id)) {
        co_return std::unexpected(docker_error{got->status, "unexpected service create answer"});
    }
    co_return std::string(id);
}

runtime::task<docker_result<void>> swarm_api::remove_service(const std::string& id) {
    auto got = co_await engine_.call("DELETE", "/services/" + url_encode(id));
    if (auto failed = unexpected_answer(got, {200, 204, 404})) {
        co_return std::unexpected(*failed);
    }
    co_return docker_result<void>{};
}

runtime::task<docker_result<std::vector<swarm_service>>>
swarm_api::services(const std::vector<std::string>& labels) {
    auto got =
        co_await engine_.call("GET", "/services?filters=" + url_encode(filters_json(labels)));
    if (auto failed = unexpected_answer(got, {200})) {
        co_return std::unexpected(*failed);
    }
    co_return parse_services(got->body);
}

runtime::task<docker_result<std::vector<swarm_task>>>
swarm_api::tasks(const std::vector<std::string>& service_ids, const std::string& network) {
    if (service_ids.empty()) {
        co_return std::vector<swarm_task>{};
    }
    std::string filter;
    json::json_writer writer{filter, json::key_order::as_written};
    writer.begin_object().key("service").begin_array();
    for (const auto& id : service_ids) {
        writer.value(id);
    }
    writer.end_array().key("desired-state").begin_array().value("running").end_array().end_object();
    auto got = co_await engine_.call("GET", "/tasks?filters=" + url_encode(filter));
    if (auto failed = unexpected_answer(got, {200})) {
        co_return std::unexpected(*failed);
    }
    co_return parse_tasks(got->body, network);
}

} // namespace orchestrator
