# Programs that take no options: --help answers, anything else is refused.
cli_ok("usage: ${program_name}" "--help")
cli_ok("usage: ${program_name}" "-h")
cli_refused("unknown arguments" "--bogus")
cli_refused("unknown arguments" "--help extra")
cli_refused("unknown arguments" "1")
cli_refused("unknown arguments" "''")
