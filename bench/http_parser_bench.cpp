// Google Benchmark for http::request_parser: one typical ~300-byte GET (the shape curl
// and wrk send through the balancer) and a pipelined batch of them in one buffer.
// Reports bytes/s and ns per request; one parser reused across iterations, as a
// connection reuses it, so the figures include no warm-up allocation.
#include <benchmark/benchmark.h>

#include <string>
#include <string_view>

#include "http/request_parser.hpp"

namespace {

const std::string typical_get = "GET /home?user=4711&session=abcdef0123456789 HTTP/1.1\r\n"
                                "Host: loadbalancer.example:5000\r\n"
                                "User-Agent: Mozilla/5.0 (X11; Linux x86_64) bench/1.0\r\n"
                                "Accept: application/json, text/plain, */*\r\n"
                                "Accept-Encoding: gzip, deflate\r\n"
                                "X-Request-ID: 123456\r\n"
                                "Cookie: sid=0123456789abcdef; theme=dark\r\n"
                                "Connection: keep-alive\r\n"
                                "\r\n";

// Parses every request in `input`; returns how many completed.
int parse_all(http::request_parser& parser, std::string_view input) {
    int completed = 0;
    for (;;) {
        http::parse_step s = parser.feed(input);
        input.remove_prefix(s.consumed);
        if (s.event == http::parse_event::message_complete) {
            ++completed;
        } else if (s.event == http::parse_event::need_more || s.event == http::parse_event::error) {
            return completed;
        }
    }
}

void report(benchmark::State& state, std::size_t bytes, int requests) {
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * requests);
    // Seconds per request, printed with an SI prefix: "180n" is 180 ns per request.
    state.counters["time/request"] =
        benchmark::Counter(static_cast<double>(state.iterations()) * requests,
                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void bm_parse_get(benchmark::State& state) {
    http::request_parser parser;
    for (auto _ : state) {
        int n = parse_all(parser, typical_get);
        benchmark::DoNotOptimize(n);
        benchmark::DoNotOptimize(parser.head().headers.find("x-request-id"));
    }
    state.SetLabel(std::to_string(typical_get.size()) + " bytes");
    report(state, typical_get.size(), 1);
}

void bm_parse_pipelined(benchmark::State& state) {
    const int batch = static_cast<int>(state.range(0));
    std::string input;
    for (int i = 0; i < batch; ++i) {
        input += typical_get;
    }
    http::request_parser parser;
    for (auto _ : state) {
        int n = parse_all(parser, input);
        if (n != batch) {
            state.SkipWithError("pipelined batch did not parse");
            break;
        }
        benchmark::DoNotOptimize(n);
    }
    report(state, input.size(), batch);
}

} // namespace

BENCHMARK(bm_parse_get);
BENCHMARK(bm_parse_pipelined)->Arg(16)->Arg(64);

BENCHMARK_MAIN();
