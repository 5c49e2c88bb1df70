# examples/custom_model: --steps N, N in [1, 100000].
cli_ok("usage: custom_model" "--help")
cli_refused("--steps needs a value" "--steps")
foreach(bad 0 -1 -99999999999999999999 abc 5x 1.5 1e3 100001 9223372036854775807 99999999999999999999 "''" "' 5'")
  cli_refused("--steps '.*' is not an integer in \\[1, 100000\\]" "--steps ${bad}")
endforeach()
cli_refused("unknown option '--bogus'" "--bogus")
cli_refused("unknown option 'extra'" "--steps 2 extra")
