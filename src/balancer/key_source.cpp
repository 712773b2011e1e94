#include "balancer/key_source.hpp"

namespace balancer {

std::expected<key_source, std::string> key_source::parse(std::string_view text) {
    const auto with_name = [&](kind what,
                               std::string_view prefix) -> std::expected<key_source, std::string> {
        const std::string_view name = text.substr(prefix.size());
        if (name.empty()) {
            return std::unexpected("--hash-key " + std::string(text) + ": a name is missing");
        }
        return key_source{what, std::string(name)};
    };
    if (text.starts_with("header:")) {
        return with_name(kind::header, "header:");
    }
    if (text.starts_with("cookie:")) {
        return with_name(kind::cookie, "cookie:");
    }
    if (text.starts_with("query:")) {
        return with_name(kind::query, "query:");
    }
    if (text == "path") {
        return key_source{kind::path, ""};
    }
    if (text == "client-ip") {
        return key_source{kind::client_ip, ""};
    }
    if (text == "random") {
        return key_source{kind::random, ""};
    }
    return std::unexpected("--hash-key: unknown source '" + std::string(text) +
                           "' (expected header:NAME, cookie:NAME, query:NAME, path, client-ip "
                           "or random)");
}

std::string key_source::describe() const {
    switch (what) {
    case kind::header:
        return "header:" + name;
    case kind::cookie:
        return "cookie:" + name;
    case kind::query:
        return "query:" + name;
    case kind::path:
        return "path";
    case kind::client_ip:
        return "client-ip";
    case kind::random:
        return "random";
    }
    return "random";
}

namespace {
// The value of `name` in a "a=1; b=2" cookie header or an "a=1&b=2" query string.
std::string_view find_pair(std::string_view list, std::string_view name, char separator) {
    while (!list.empty()) {
        const auto end = list.find(separator);
        std::string_view pair = list.substr(0, end);
        list = end == std::string_view::npos ? std::string_view{} : list.substr(end + 1);
        while (!pair.empty() && pair.front() == ' ') {
            pair.remove_prefix(1);
        }
        const auto equals = pair.find('=');
        if (equals != std::string_view::npos && pair.substr(0, equals) == name) {
            return pair.substr(equals + 1);
        }
    }
    return {};
}
} // namespace

hashing::request_key extract_key(const key_source& source, const http::request_head& head,
                                 std::string_view client_ip, std::uint64_t random_id) {
    std::string_view text;
    switch (source.what) {
    case key_source::kind::header:
        text = head.headers.find(source.name).value_or(std::string_view{});
        break;
    case key_source::kind::cookie:
        if (auto cookie = head.headers.find("Cookie")) {
            text = find_pair(*cookie, source.name, ';');
        }
        break;
    case key_source::kind::query:
        text = find_pair(head.query, source.name, '&');
        break;
    case key_source::kind::path:
        text = head.path;
        break;
    case key_source::kind::client_ip:
        text = client_ip;
        break;
    case key_source::kind::random:
        break;
    }
    if (text.empty()) {
        return hashing::make_request_key(random_id);
    }
    return hashing::make_request_key(text);
}

} // namespace balancer
