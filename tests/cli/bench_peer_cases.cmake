# bench/peer/bench_peer.cpp: usage, bad modes and arity, bad thread counts (checked before the
# file is read), unusable files.
cli_ok("usage: bench_peer make OUT.gguf" "--help")
cli_refused("usage: bench_peer" "")
cli_refused("usage: bench_peer" "bogus")
cli_refused("usage: bench_peer" "run only_a_file.gguf")
foreach(bad 0 -1 1025 abc 1x 1.5 99999999999999999999 "''")
  cli_refused("THREADS must be an integer in 1..1024" "run m.gguf '${bad}'")
endforeach()
file(WRITE "${WORK}/garbage.gguf" "not a gguf file")
cli_refused("'missing.gguf': cannot open" "run missing.gguf 1")
cli_refused("garbage.gguf': header" "run garbage.gguf 1")
