#pragma once
// lbd's command line: every flag defined once, on CLI11 (Debian libcli11-dev), with its
// environment fallback, default, check and help text; --help is generated from the same
// definitions. Turns the flags into a validated balancer_config. Start-up only.

#include <expected>
#include <string>

#include "balancer/config.hpp"

namespace cmd {

struct lbd_command_line {
    balancer::balancer_config config;
    bool help = false; // --help: `text` holds the help
    std::string text;  // the help, or the error for the user
};

// Parses lbd's arguments. An error is a message naming the flag (exit 2).
// `open_files` is the process's file descriptor limit, which sizes --max-connections.
std::expected<lbd_command_line, std::string> parse_lbd_command_line(int argc, char** argv,
                                                                    std::size_t open_files);

} // namespace cmd
