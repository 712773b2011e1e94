#pragma once
// What every CLI11 command line here shares: the --help layout ("  --name TYPE   help (env
// NAME; default D)", wrapped to 100 columns) and the checks CLI11 lacks. Start-up only.

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

namespace cmd {

// A CLI11 check: a power of two in [low, high] (buffer ring sizes).
CLI::Validator power_of_two(long low, long high);

class help_formatter final : public CLI::Formatter {
public:
    help_formatter() { column_width(32); }
    std::string make_option_opts(const CLI::Option* option) const override;
    std::string make_option_desc(const CLI::Option* option) const override;
};

} // namespace cmd
