# bench/train/bench_dist.cpp (run by itself: one rank): usage, bad and out-of-range values.
cli_ok("usage: mpirun -np R bench_dist" "--help")
cli_refused("unknown option|needs a value" "--bogus 1")
foreach(case "--threads|0" "--threads|1025" "--threads|abc" "--steps|0" "--steps|100001" "--warmup|-1"
             "--bucket-mib|0" "--bucket-mib|1025" "--bucket-mib|x")
  string(REPLACE "|" ";" pair "${case}")
  list(GET pair 0 opt)
  list(GET pair 1 bad)
  cli_refused("${opt}" "${opt} '${bad}'")
endforeach()
