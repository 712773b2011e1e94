#pragma once
// A small command-line reader shared by the mains: "--name value", "--name=value" and
// boolean "--name". Unknown flags and missing values are errors for the caller to print
// with the usage text. Start-up only; allocates freely.

#include <charconv>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cmd {

class flag_reader {
public:
    flag_reader(int argc, char** argv) : arguments_(argv + 1, argv + argc) {}

    bool done() const { return index_ >= arguments_.size(); }

    // The current flag's name without dashes ("listen"); consumes it.
    std::string next_name() {
        std::string_view argument = arguments_[index_++];
        pending_value_.reset();
        if (!argument.starts_with("-")) {
            return "";
        }
        argument.remove_prefix(argument.starts_with("--") ? 2 : 1);
        if (const auto equals = argument.find('='); equals != std::string_view::npos) {
            pending_value_ = std::string(argument.substr(equals + 1));
            argument = argument.substr(0, equals);
        }
        return std::string(argument);
    }

    // The value of the flag just read ("--x v" or "--x=v"), or nullopt when missing.
    std::optional<std::string> value() {
        if (pending_value_) {
            return std::exchange(pending_value_, std::nullopt);
        }
        if (index_ >= arguments_.size()) {
            return std::nullopt;
        }
        return std::string(arguments_[index_++]);
    }

private:
    std::vector<std::string_view> arguments_;
    std::size_t index_ = 0;
    std::optional<std::string> pending_value_;
};

// Parses a whole decimal number in [low, high].
inline std::optional<long> parse_number(std::string_view text, long low, long high) {
    long value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size() || value < low || value > high) {
        return std::nullopt;
    }
    return value;
}

// The environment variable's value, or `fallback` when unset or empty.
inline std::string env_or(const char* name, std::string fallback) {
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? std::string(value) : std::move(fallback);
}

} // namespace cmd
