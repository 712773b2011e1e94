#include "loadgen/load_options.hpp"

#include <charconv>
#include <limits>
#include <optional>

namespace loadgen {

namespace {

std::optional<std::uint64_t> parse_count(std::string_view text, std::uint64_t low,
                                         std::uint64_t high) {
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size() || value < low || value > high) {
        return std::nullopt;
    }
    return value;
}

} // namespace

std::expected<http_url, std::string> parse_http_url(std::string_view text) {
    constexpr std::string_view scheme = "http://";
    if (!text.starts_with(scheme)) {
        return std::unexpected("--url must start with http:// (got '" + std::string(text) + "')");
    }
    text.remove_prefix(scheme.size());
    const std::size_t path_start = text.find_first_of("/?");
    const std::string_view authority = text.substr(0, path_start);
    if (authority.empty() || authority.starts_with(':')) {
        return std::unexpected(std::string("--url has no host"));
    }
    http_url url;
    url.host = std::string(authority);
    // A port follows the last ':' unless that ':' sits inside an IPv6 literal "[...]".
    const std::size_t colon = authority.rfind(':');
    const std::size_t bracket = authority.rfind(']');
    const bool has_port =
        colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket);
    if (has_port) {
        if (!parse_count(authority.substr(colon + 1), 1, 65535)) {
            return std::unexpected("--url has a bad port in '" + std::string(authority) + "'");
        }
        url.authority = std::string(authority);
    } else {
        url.authority = std::string(authority) + ":80";
    }
    url.target = path_start == std::string_view::npos ? "/" : std::string(text.substr(path_start));
    if (url.target.starts_with('?')) {
        url.target.insert(0, "/");
    }
    return url;
}

std::string_view usage_text() {
    return R"(usage: lb-load --url http://HOST:PORT/PATH [options]

Sends R GET requests over C keep-alive connections (C coroutines pulling from one shared
counter, on one io_uring reactor per thread) and reports responses per server (from the
body "Hello from Server: <ID>"), per status code, errors, latency percentiles, requests
per second and a timeline.

  --url URL            the target, http:// only (required)
  --requests R         requests to send (default 10000; closed loop)
  --rate N             open loop: N requests a second on a fixed timetable, whatever the
                       answers, each latency counted from when its request was due
                       (no coordinated omission); needs --duration
  --duration S         seconds to run: open loop, requests = N x S; closed loop (no
                       --rate), as many requests as the connections get through
  --body-bytes B       POST a body of B bytes instead of GET (default 0: GET)
  --connections C      keep-alive connections (default 64; open loop: enough to hold the
                       requests in flight at N a second)
  --request-id MODE    random: a random 6-digit X-Request-ID per request (default);
                       none: no X-Request-ID header
  --threads T          reactor threads sharing the connections (default 1)
  --timeline-ms MS     timeline bucket width (default 100)
  --timeout-ms MS      connect, send and per-receive timeout (default 5000)
  --json               print one JSON object instead of a table
  --help               print this text

A lost connection counts its request as an error and is reopened for the next request.
Exit status: 0 when every request got a 2xx response, 1 otherwise, 2 on a bad flag.
)";
}

std::expected<load_options, std::string>
parse_load_options(std::span<const std::string_view> args) {
    load_options options;
    bool has_url = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string_view name = args[i];
        if (!name.starts_with("-")) {
            return std::unexpected("unexpected argument '" + std::string(name) + "'");
        }
        name.remove_prefix(name.starts_with("--") ? 2 : 1);
        std::optional<std::string_view> inline_value;
        if (const std::size_t equals = name.find('='); equals != std::string_view::npos) {
            inline_value = name.substr(equals + 1);
            name = name.substr(0, equals);
        }
        if (name == "help" || name == "h") {
            options.help = true;
            continue;
        }
        if (name == "json") {
            options.json = true;
            continue;
        }
        std::string_view value;
        if (inline_value) {
            value = *inline_value;
        } else if (i + 1 < args.size()) {
            value = args[++i];
        } else {
            return std::unexpected("--" + std::string(name) + " needs a value");
        }
        const auto bad = [&](std::string_view what) {
            return std::unexpected("--" + std::string(name) + " " + std::string(what) + " (got '" +
                                   std::string(value) + "')");
        };
        if (name == "url") {
            auto url = parse_http_url(value);
            if (!url) {
                return std::unexpected(url.error());
            }
            options.url = std::move(*url);
            has_url = true;
        } else if (name == "requests") {
            const auto count = parse_count(value, 1, 100'000'000);
            if (!count) {
                return bad("must be a number from 1 to 100000000");
            }
            options.requests = *count;
        } else if (name == "rate") {
            const auto rate = parse_count(value, 1, 10'000'000);
            if (!rate) {
                return bad("must be a number of requests a second from 1 to 10000000");
            }
            options.rate = static_cast<double>(*rate);
        } else if (name == "duration") {
            const auto seconds = parse_count(value, 1, 86'400);
            if (!seconds) {
                return bad("must be a number of seconds from 1 to 86400");
            }
            options.duration = std::chrono::seconds{*seconds};
        } else if (name == "body-bytes") {
            const auto bytes = parse_count(value, 0, 1ULL << 34);
            if (!bytes) {
                return bad("must be a number of bytes from 0 to 17179869184");
            }
            options.body_bytes = *bytes;
        } else if (name == "connections") {
            const auto count = parse_count(value, 1, 10'000);
            if (!count) {
                return bad("must be a number from 1 to 10000");
            }
            options.connections = static_cast<std::uint32_t>(*count);
        } else if (name == "threads") {
            const auto count = parse_count(value, 1, 256);
            if (!count) {
                return bad("must be a number from 1 to 256");
            }
            options.threads = static_cast<std::uint32_t>(*count);
        } else if (name == "request-id") {
            if (value == "random") {
                options.request_ids = request_id_mode::random;
            } else if (value == "none") {
                options.request_ids = request_id_mode::none;
            } else {
                return bad("must be random or none");
            }
        } else if (name == "timeline-ms") {
            const auto ms = parse_count(value, 1, 3'600'000);
            if (!ms) {
                return bad("must be a number of milliseconds from 1 to 3600000");
            }
            options.timeline_bucket = std::chrono::milliseconds{*ms};
        } else if (name == "timeout-ms") {
            const auto ms = parse_count(value, 1, 3'600'000);
            if (!ms) {
                return bad("must be a number of milliseconds from 1 to 3600000");
            }
            options.timeout = std::chrono::milliseconds{*ms};
        } else {
            return std::unexpected("unknown flag --" + std::string(name));
        }
    }
    if (!has_url && !options.help) {
        return std::unexpected(std::string("--url is required"));
    }
    if (options.rate > 0 && options.duration.count() == 0) {
        return std::unexpected(std::string("--rate needs --duration (open loop)"));
    }
    if (options.rate > 0) {
        options.requests = static_cast<std::uint64_t>(
            options.rate * std::chrono::duration<double>(options.duration).count());
    } else if (options.duration.count() > 0) {
        options.requests = std::numeric_limits<std::uint64_t>::max(); // until the time is up
    }
    return options;
}

} // namespace loadgen
