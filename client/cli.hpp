#pragma once

// The `switchboard` command line: one subcommand per admin request plus
// `report` and `watch`; tables for people, --json for scripts; exit status 0
// on success, 1 with a one-line message on any error, 2 on bad usage.

namespace sb::client {

int run_cli(int argc, char** argv);

} // namespace sb::client
