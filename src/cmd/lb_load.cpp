// lb-load: an io_uring HTTP/1.1 load client for the distribution and failure
// experiments (bench/analysis/run). Flag parsing and printing only; the work is in
// src/loadgen.

#include <cstdio>
#include <string_view>
#include <vector>

#include "loadgen/load_options.hpp"
#include "loadgen/load_report.hpp"
#include "loadgen/load_runner.hpp"
#include "runtime/startup_error.hpp"

int main(int argc, char** argv) {
    const std::vector<std::string_view> args(argv + 1, argv + argc);
    const auto options = loadgen::parse_load_options(args);
    if (!options) {
        std::fprintf(stderr, "lb-load: %s\n\n%.*s", options.error().c_str(),
                     static_cast<int>(loadgen::usage_text().size()), loadgen::usage_text().data());
        return 2;
    }
    if (options->help) {
        std::fwrite(loadgen::usage_text().data(), 1, loadgen::usage_text().size(), stdout);
        return 0;
    }
    try {
        const auto report = loadgen::run_load(*options);
        if (!report) {
            std::fprintf(stderr, "lb-load: %s\n", report.error().c_str());
            return 2;
        }
        const std::string text = options->json ? loadgen::render_json(*report, *options)
                                               : loadgen::render_table(*report, *options);
        std::fwrite(text.data(), 1, text.size(), stdout);
        return report->ok == report->requests ? 0 : 1;
    } catch (const runtime::startup_error& e) {
        std::fprintf(stderr, "lb-load: %s\n", e.what());
        return 2;
    }
}
