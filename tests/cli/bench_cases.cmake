# Google Benchmark programs: their own --help, unknown flags refused (no benchmark runs).
cli_ok("benchmark_filter" "--help")
cli_refused("unrecognized command-line flag: --bogus" "--bogus")
cli_refused("unrecognized command-line flag: extra" "extra")
if(program_name STREQUAL "bench_train")
  foreach(bad abc 0 -1 1025 99999999999999999999 "''")
    cli_refused_env("TERN_BENCH_THREADS='.*' is not an integer in \\[1, 1024\\]" "TERN_BENCH_THREADS=${bad}" "--help")
  endforeach()
endif()
