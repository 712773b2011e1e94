#include "balancer/log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

#include <unistd.h>

namespace balancer {

namespace {
void append_value(std::string& line, std::string_view value) {
    const bool quote = value.empty() || value.find_first_of(" \"=\t") != std::string_view::npos;
    if (!quote) {
        line += value;
        return;
    }
    line += '"';
    for (char c : value) {
        if (c == '"' || c == '\\') {
            line += '\\';
        }
        line += c == '\n' ? ' ' : c;
    }
    line += '"';
}
} // namespace

void log_event(std::string_view level, std::string_view event,
               std::initializer_list<log_field> fields) {
    const auto now = std::chrono::system_clock::now();
    const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char stamp[96];
    std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                  utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                  static_cast<int>(millis));
    std::string line = "ts=";
    line += stamp;
    line += " level=";
    line += level;
    line += " event=";
    line += event;
    for (const auto& [key, value] : fields) {
        line += ' ';
        line += key;
        line += '=';
        append_value(line, value);
    }
    line += '\n';
    [[maybe_unused]] ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
}

} // namespace balancer
