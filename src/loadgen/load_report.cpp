#include "loadgen/load_report.hpp"

#include <cstdio>

#include "json/json_writer.hpp"

namespace loadgen {

namespace {

// A number with fixed decimals as pre-rendered JSON (the writer has integers only).
std::string fixed(double value, int decimals) {
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, value);
    return text;
}

double to_ms(std::uint64_t us) {
    return static_cast<double>(us) / 1000.0;
}

} // namespace

std::optional<std::string_view> extract_server_id(std::string_view body) {
    constexpr std::string_view phrase = "Hello from Server: ";
    const std::size_t start = body.find(phrase);
    if (start == std::string_view::npos) {
        return std::nullopt;
    }
    std::string_view rest = body.substr(start + phrase.size());
    // The id ends at the JSON string's closing quote; ids are container names
    // ([A-Za-z0-9_.-]) or SERVER_ID values, so no escaped quote can hide in one.
    rest = rest.substr(0, rest.find('"'));
    if (rest.empty()) {
        return std::nullopt;
    }
    return rest;
}

void load_report::count_response(int status, std::string_view body) {
    ++responses;
    ++per_status[status];
    if (status < 200 || status > 299) {
        return;
    }
    ++ok;
    const auto id = extract_server_id(body);
    if (!id) {
        ++unknown_server;
        return;
    }
    if (auto found = per_server.find(*id); found != per_server.end()) {
        ++found->second;
    } else {
        per_server.emplace(std::string(*id), 1);
    }
}

void load_report::merge(const load_report& other) {
    requests += other.requests;
    responses += other.responses;
    ok += other.ok;
    unknown_server += other.unknown_server;
    errors.connect += other.errors.connect;
    errors.reset += other.errors.reset;
    errors.timeout += other.errors.timeout;
    errors.other += other.errors.other;
    for (const auto& [id, count] : other.per_server) {
        per_server[id] += count;
    }
    for (const auto& [status, count] : other.per_status) {
        per_status[status] += count;
    }
    over_time.merge(other.over_time);
    latencies.merge(other.latencies);
    body_bytes_received += other.body_bytes_received;
    body_bytes_sent += other.body_bytes_sent;
}

double load_report::requests_per_second() const noexcept {
    const double seconds = std::chrono::duration<double>(elapsed).count();
    return seconds > 0 ? static_cast<double>(responses) / seconds : 0.0;
}

std::string render_json(const load_report& report, const load_options& options) {
    std::string out;
    json::json_writer writer(out, json::key_order::as_written);
    writer.begin_object();
    writer.key("url").value("http://" + options.url.host + options.url.target);
    writer.key("requests").value(report.requests);
    writer.key("connections").value(options.connections);
    writer.key("threads").value(options.threads);
    writer.key("request_id")
        .value(options.request_ids == request_id_mode::random ? "random" : "none");
    writer.key("responses").value(report.responses);
    writer.key("ok").value(report.ok);
    writer.key("failed").value(report.requests - report.ok);
    writer.key("unknown_server").value(report.unknown_server);
    writer.key("duration_s").raw(fixed(std::chrono::duration<double>(report.elapsed).count(), 3));
    writer.key("requests_per_second").raw(fixed(report.requests_per_second(), 1));
    writer.key("rate").raw(fixed(options.rate, 1)); // 0: closed loop
    writer.key("body_bytes_sent").value(report.body_bytes_sent);
    writer.key("body_bytes_received").value(report.body_bytes_received);
    writer.key("servers").begin_object();
    for (const auto& [id, count] : report.per_server) {
        writer.key(id).value(count);
    }
    writer.end_object();
    writer.key("status").begin_object();
    for (const auto& [status, count] : report.per_status) {
        writer.key(std::to_string(status)).value(count);
    }
    writer.end_object();
    writer.key("errors").begin_object();
    writer.key("connect").value(report.errors.connect);
    writer.key("reset").value(report.errors.reset);
    writer.key("timeout").value(report.errors.timeout);
    writer.key("other").value(report.errors.other);
    writer.key("total").value(report.errors.total());
    writer.end_object();
    writer.key("latency_ms").begin_object();
    writer.key("count").value(report.latency.count);
    writer.key("p50").raw(fixed(to_ms(report.latency.p50_us), 3));
    writer.key("p90").raw(fixed(to_ms(report.latency.p90_us), 3));
    writer.key("p99").raw(fixed(to_ms(report.latency.p99_us), 3));
    writer.key("p99.9").raw(fixed(to_ms(report.latency.p999_us), 3));
    writer.key("p99.99").raw(fixed(to_ms(report.latency.p9999_us), 3));
    writer.key("max").raw(fixed(to_ms(report.latency.max_us), 3));
    writer.key("mean").raw(fixed(report.latency.mean_us / 1000.0, 3));
    writer.end_object();
    writer.key("timeline").begin_object();
    writer.key("bucket_ms")
        .value(std::chrono::duration_cast<std::chrono::milliseconds>(report.over_time.width())
                   .count());
    writer.key("ok").begin_array();
    for (const timeline_bucket& bucket : report.over_time.buckets()) {
        writer.value(bucket.ok);
    }
    writer.end_array();
    writer.key("errors").begin_array();
    for (const timeline_bucket& bucket : report.over_time.buckets()) {
        writer.value(bucket.errors);
    }
    writer.end_array();
    writer.end_object();
    writer.end_object();
    out += '\n';
    return out;
}

std::string render_table(const load_report& report, const load_options& options) {
    std::string out;
    char line[256];
    const auto add = [&](const char* format, auto... values) {
        std::snprintf(line, sizeof line, format, values...);
        out += line;
    };
    add("target        http://%s%s\n", options.url.host.c_str(), options.url.target.c_str());
    add("requests      %llu over %u connections, %u thread(s), X-Request-ID %s\n",
        static_cast<unsigned long long>(report.requests), options.connections, options.threads,
        options.request_ids == request_id_mode::random ? "random" : "none");
    add("duration      %.3f s, %.1f requests/s%s\n",
        std::chrono::duration<double>(report.elapsed).count(), report.requests_per_second(),
        options.rate > 0 ? " (open loop)" : "");
    if (options.rate > 0) {
        add("rate          %.0f requests/s scheduled; latencies from each request's due time\n",
            options.rate);
    }
    add("responses     %llu (%llu ok), failed %llu\n",
        static_cast<unsigned long long>(report.responses),
        static_cast<unsigned long long>(report.ok),
        static_cast<unsigned long long>(report.requests - report.ok));
    add("errors        connect %llu, reset %llu, timeout %llu, other %llu\n",
        static_cast<unsigned long long>(report.errors.connect),
        static_cast<unsigned long long>(report.errors.reset),
        static_cast<unsigned long long>(report.errors.timeout),
        static_cast<unsigned long long>(report.errors.other));
    add("latency ms    p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  p99.99 %.3f  max %.3f  "
        "mean %.3f\n",
        to_ms(report.latency.p50_us), to_ms(report.latency.p90_us), to_ms(report.latency.p99_us),
        to_ms(report.latency.p999_us), to_ms(report.latency.p9999_us), to_ms(report.latency.max_us),
        report.latency.mean_us / 1000.0);
    out += "\nstatus        count\n";
    for (const auto& [status, count] : report.per_status) {
        add("%-13d %llu\n", status, static_cast<unsigned long long>(count));
    }
    out += "\nserver        count    share\n";
    for (const auto& [id, count] : report.per_server) {
        const double share =
            report.ok > 0 ? 100.0 * static_cast<double>(count) / static_cast<double>(report.ok)
                          : 0.0;
        add("%-13s %-8llu %5.1f%%\n", id.c_str(), static_cast<unsigned long long>(count), share);
    }
    if (report.unknown_server > 0) {
        add("%-13s %llu\n", "(no id)", static_cast<unsigned long long>(report.unknown_server));
    }
    return out;
}

} // namespace loadgen
