#include "orchestrator/docker_api.hpp"

#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <optional>

#include <simdjson.h>

#include "net/http_client.hpp"
#include "json/json_writer.hpp"
#include "json/object_splitter.hpp"

namespace orchestrator {

using namespace std::chrono_literals;

namespace {
std::string network_address(simdjson::simdjson_result<simdjson::dom::element> networks,
                            const std::string& network) {
    std::string_view address;
    if (!networks[network]["IPAddress"].get_string().get(address)) {
        return std::string(address);
    }
    return "";
}
} // namespace

std::string daemon_message(const std::string& body) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    std::string_view message;
    if (!parser.parse(body).get(doc) && !doc["message"].get_string().get(message)) {
        return std::string(message);
    }
    return body.substr(0, 200);
}

std::string filters_json(const std::vector<std::string>& labels, std::string_view key,
                         const std::vector<std::string>& values) {
    std::string filter;
    json::json_writer writer{filter, json::key_order::as_written};
    writer.begin_object();
    if (!key.empty()) {
        writer.key(key).begin_array();
        for (const auto& value : values) {
            writer.value(value);
        }
        writer.end_array();
    }
    if (!labels.empty()) {
        writer.key("label").begin_array();
        for (const auto& label : labels) {
            writer.value(label);
        }
        writer.end_array();
    }
    writer.end_object();
    return filter;
}

void read_string_map(simdjson::simdjson_result<simdjson::dom::element> object,
                     std::map<std::string, std::string>& out) {
    simdjson::dom::object labels;
    if (object.get_object().get(labels)) {
        return; // absent or null: nothing
    }
    for (auto field : labels) {
        std::string_view value;
        if (!field.value.get_string().get(value)) {
            out.emplace(std::string(field.key), std::string(value));
        }
    }
}
std::optional<docker_error> unexpected_answer(const docker_result<docker_api::answer>& got,
                                              std::initializer_list<int> expected) {
    if (!got) {
        return got.error();
    }
    for (int status : expected) {
        if (got->status == status) {
            return std::nullopt;
        }
    }
    return docker_error{got->status, daemon_message(got->body)};
}

std::string url_encode(std::string_view text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

runtime::task<docker_result<docker_api::answer>> docker_api::call(std::string_view method,
                                                                  std::string target,
                                                                  std::string_view body,
                                                                  std::string_view prefix) {
    const std::string path = (prefix.empty() ? prefix_ : std::string(prefix)) + target;
    net::fetch_request request{.method = method,
                               .target = path,
                               .host = "docker",
                               .body = body,
                               .content_type = body.empty() ? "" : "application/json"};
    auto fetched = co_await net::fetch(socket_, request, timeout_);
    if (!fetched) {
        co_return std::unexpected(docker_error{.status = 0,
                                               .message = "Docker daemon unreachable at " +
                                                          socket_.to_string() + ": " +
                                                          std::strerror(-fetched.error()),
                                               .timed_out = fetched.error() == -ETIMEDOUT});
    }
    co_return answer{fetched->status, std::move(fetched->body)};
}

runtime::task<docker_result<std::string>> docker_api::connect() {
    prefix_.clear();
    auto got = co_await call("GET", "/version");
    prefix_ = "/v1.41";
    if (auto failed = unexpected_answer(got, {200})) {
        co_return std::unexpected(*failed);
    }
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    std::string_view version;
    if (parser.parse(got->body).get(doc) || doc["ApiVersion"].get_string().get(version)) {
        co_return std::unexpected(docker_error{got->status, "unexpected /version answer"});
    }
    const auto dot = version.find('.');
    const int major = std::atoi(std::string(version.substr(0, dot)).c_str());
    const int minor =
        dot == std::string_view::npos ? 0 : std::atoi(std::string(version.substr(dot + 1)).c_str());
    podman_ = false;
    simdjson::dom::array components;
    if (!doc["Components"].get_array().get(components)) {
        for (simdjson::dom::element component : components) {
            std::string_view name;
            podman_ = podman_ ||
                      (!component["Name"].get_string().get(name) && name.starts_with("Podman"));
        }
    }
    version_ = {major, minor};
    if (major < 1 || (major == 1 && minor < 41)) {
        co_return std::unexpected(docker_error{0, "Docker API " + std::string(version) +
                                                      " is too old: 1.41 or later is needed"});
    }
    co_return std::string(version);
}

runtime::task<docker_result<void>>
docker_api::ensure_network(const std::string& name,
                           const std::map<std::string, std::string>& labels, bool overlay) {
    auto found = co_await call("GET", "/networks/" + url_encode(name));
    if (!found) {
        co_return std::unexpected(found.error());
    }
    if (found->status == 200) {
        co_return docker_result<void>{};
    }
    std::string body;
    json::json_writer writer{body, json::key_order::as_written};
    writer.begin_object().key("Name").value(name).key("CheckDuplicate").value(true);
    if (overlay) {
        writer.key("Driver").value("overlay").key("Attachable").value(true);
    }
    writer.key("Labels").begin_object();
    for (const auto& [key, value] : labels) {
        writer.key(key).value(value);
    }
    writer.end_object().end_object();
    auto created = co_await call("POST", "/networks/create", body);
    if (!created) {
        co_return std::unexpected(created.error());
    }
    if (created->status != 201 && created->status != 409) {
        co_return std::unexpected(docker_error{created->status, daemon_message(created->body)});
    }
    co_return docker_result<void>{};
}

runtime::task<docker_result<std::string>> docker_api::create(const container_spec& spec) {
    std::string body;
    json::json_writer writer{body, json::key_order::as_written};
    writer.begin_object().key("Image").value(spec.image).key("Hostname").value(spec.name);
    writer.key("Env").begin_array();
    for (const auto& entry : spec.environment) {
        writer.value(entry);
    }
    writer.end_array().key("Labels").begin_object();
    for (const auto& [key, value] : spec.labels) {
        writer.key(key).value(value);
    }
    writer.end_object().key("HostConfig").begin_object().key("NetworkMode").value(spec.network);
    if (const std::string& seccomp = podman_ ? spec.seccomp_path : spec.seccomp_profile;
        !seccomp.empty()) {
        writer.key("SecurityOpt").begin_array().value("seccomp=" + seccomp).end_array();
    }
    writer.end_object()
        .key("NetworkingConfig")
        .begin_object()
        .key("EndpointsConfig")
        .begin_object()
        .key(spec.network)
        .begin_object()
        .key("Aliases")
        .begin_array()
        .value(spec.name)
        .end_array()
        .end_object()
        .end_object()
        .end_object()
        .end_object();
    auto got = co_await call("POST", "/containers/create?name=" + url_encode(spec.name), body);
    if (!got) {
        co_return std::unexpected(got.error());
    }
    // Podman's compatible service answers a name conflict with 500 ("... already in use").
    const bool conflict =
        got->status == 409 ||
        (podman_ && got->status == 500 && got->body.find("already in use") != std::string::npos);
    if (conflict) {
        co_return std::unexpected(
            docker_error{409, "a container named '" + spec.name +
                                  "' already exists: " + daemon_message(got->body)});
    }
    if (got->status == 404) {
        co_return std::unexpected(docker_error{
            404, "image '" + spec.image + "' not found: " + daemon_message(got->body)});
    }
    if (got->status != 201) {
        co_return std::unexpected(docker_error{got->status, daemon_message(got->body)});
    }
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    std::string_view id;
    if (parser.parse(got->body).get(doc) || doc["Id"].get_string().get(id)) {
        co_return std::unexpected(docker_error{got->status, "unexpected create answer"});
    }
    co_return std::string(id);
}

runtime::task<docker_result<void>> docker_api::start(const std::string& id) {
    auto got = co_await call("POST", "/containers/" + id + "/start");
    // 304: already running.
    if (auto failed = unexpected_answer(got, {204, 304})) {
        co_return std::unexpected(*failed);
    }
    co_return docker_result<void>{};
}

runtime::task<docker_result<container_info>> docker_api::inspect(const std::string& id,
                                                                 const std::string& network) {
    auto got = co_await call("GET", "/containers/" + id + "/json");
    if (auto failed = unexpected_answer(got, {200})) {
        co_return std::unexpected(*failed);
    }
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(got->body).get(doc)) {
        co_return std::unexpected(docker_error{got->status, "unexpected inspect answer"});
    }
    container_info info;
    std::string_view text;
    if (!doc["Id"].get_string().get(text)) {
        info.id = text;
    }
    if (!doc["Name"].get_string().get(text)) {
        info.name = text.starts_with("/") ? text.substr(1) : text;
    }
    bool running = false;
    if (!doc["State"]["Running"].get_bool().get(running)) {
        info.running = running;
    }
    read_string_map(doc["Config"]["Labels"], info.labels);
    info.address = network_address(doc["NetworkSettings"]["Networks"], network);
    co_return info;
}

runtime::task<docker_result<void>> docker_api::stop(const std::string& id,
                                                    std::chrono::seconds grace) {
    auto got =
        co_await call("POST", "/containers/" + id + "/stop?t=" + std::to_string(grace.count()));
    // 304: already stopped; 404: already gone.
    if (auto failed = unexpected_answer(got, {204, 304, 404})) {
        co_return std::unexpected(*failed);
    }
    co_return docker_result<void>{};
}

runtime::task<docker_result<void>> docker_api::remove(const std::string& id) {
    auto got = co_await call("DELETE", "/containers/" + id + "?force=true&v=true");
    if (auto failed = unexpected_answer(got, {204, 404})) {
        co_return std::unexpected(*failed);
    }
    co_return docker_result<void>{};
}

runtime::task<docker_result<std::vector<container_info>>>
docker_api::list(const std::vector<std::string>& labels, const std::string& network) {
    auto got = co_await call("GET", "/containers/json?all=true&filters=" +
                                        url_encode(filters_json(labels)));
    if (auto failed = unexpected_answer(got, {200})) {
        co_return std::unexpected(*failed);
    }
    simdjson::dom::parser parser;
    simdjson::dom::array items;
    if (parser.parse(got->body).get(items)) {
        co_return std::unexpected(docker_error{got->status, "unexpected list answer"});
    }
    std::vector<container_info> out;
    for (simdjson::dom::element item : items) {
        container_info info;
        std::string_view text;
        if (!item["Id"].get_string().get(text)) {
            info.id = text;
        }
        simdjson::dom::array names;
        if (!item["Names"].get_array().get(names)) {
            for (simdjson::dom::element name : names) {
                if (!name.get_string().get(text)) {
                    info.name = text.starts_with("/") ? text.substr(1) : text;
                    break;
                }
            }
        }
        if (!item["State"].get_string().get(text)) {
            info.running = text == "running";
        }
        read_string_map(item["Labels"], info.labels);
        info.address = network_address(item["NetworkSettings"]["Networks"], network);
        out.push_back(std::move(info));
    }
    co_return out;
}

runtime::task<docker_error> docker_api::follow_events(const std::string& type,
                                                      const std::vector<std::string>& labels,
                                                      const std::string& since,
                                                      event_handler on_event, int* stream_fd,
                                                      const bool* stop) {
    auto connection = co_await net::client_connection::open(socket_, timeout_);
    if (connection && *stop) {
        co_await connection->close();
        co_return docker_error{0, "stopped"};
    }
    if (!connection) {
        co_return docker_error{0, "Docker daemon unreachable at " + socket_.to_string() + ": " +
                                      std::strerror(-connection.error())};
    }
    // Filters: events of this type (of objects with these labels) only.
    const std::string filter = filters_json(labels, "type", {type});
    std::string target = prefix_ + "/events?filters=" + url_encode(filter);
    if (!since.empty()) {
        target += "&since=" + url_encode(since);
    }
    std::string wire = "GET " + target + " HTTP/1.1\r\nHost: docker\r\n\r\n";
    connection->expect_response_to(http::method::get);
    *stream_fd = connection->fd();
    if (const int sent = co_await connection->send(wire, timeout_); sent < 0) {
        co_await connection->close();
        *stream_fd = -1;
        co_return docker_error{0, std::string("events: ") + std::strerror(-sent)};
    }
    json::object_splitter splitter;
    simdjson::dom::parser parser;
    docker_error ended{0, "events stream ended"};
    while (!*stop) {
        // The stream is idle for as long as nothing happens: wait for days, not seconds.
        const net::response_event event = co_await connection->next(std::chrono::hours{24 * 365});
        if (event.what == net::response_event::kind::head) {
            if (connection->head().status != 200) {
                ended = docker_error{connection->head().status, "events refused"};
                break;
            }
            continue;
        }
        if (event.what != net::response_event::kind::body) {
            if (event.what == net::response_event::kind::failed) {
                ended.message = std::string("events stream: ") + std::strerror(-event.error);
            }
            break;
        }
        splitter.feed(event.body, [&](std::string_view object) {
            simdjson::dom::element doc;
            if (parser.parse(object.data(), object.size()).get(doc)) {
                return;
            }
            std::string_view action;
            if (doc["Action"].get_string().get(action)) {
                return;
            }
            std::string_view id;
            if (doc["Actor"]["ID"].get_string().get(id)) {
                id = {};
            }
            std::map<std::string, std::string> attributes;
            read_string_map(doc["Actor"]["Attributes"], attributes);
            std::string time;
            if (std::int64_t nanos = 0;
                doc["timeNano"].get_int64().get(nanos) == simdjson::SUCCESS) {
                time = std::to_string(nanos / 1'000'000'000) + "." + [&] {
                    std::string fraction = std::to_string(nanos % 1'000'000'000);
                    return std::string(9 - fraction.size(), '0') + fraction;
                }();
            }
            on_event(std::string(action), std::string(id), attributes, time);
        });
    }
    *stream_fd = -1;
    co_await connection->close();
    co_return ended;
}

} // namespace orchestrator
