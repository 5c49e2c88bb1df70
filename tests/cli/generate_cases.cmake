# examples/generate.cpp (tern_generate): missing and bad options, bad numbers, unusable model
# files. Options are checked before the model is read, so no model is needed for those cases;
# the demo's ctest runs tern_generate on a real saved model.
cli_ok("usage: tern_generate" "--help")
cli_refused("--model PATH is required" "--prompt x")
cli_refused("--prompt TEXT is required" "--model m.tern")
cli_refused("the prompt is empty" "--model m.tern --prompt ''")
cli_refused("unknown option --bogus" "--model m.tern --prompt x --bogus 1")
cli_refused("needs a value" "--model m.tern --prompt x -n")
foreach(case "-n|abc" "-n|-1" "-n|1.5" "-n|16777217" "-n|99999999999999999999"
             "--temperature|-1" "--temperature|nan" "--temperature|inf" "--temperature|1001" "--temperature|x"
             "--top-k|-1" "--top-k|16777217" "--top-p|0" "--top-p|1.5" "--top-p|-0.5" "--top-p|nan"
             "--seed|-1" "--seed|abc" "--seed|18446744073709551616" "--threads|0" "--threads|1025" "--threads|-2"
             "--stop-byte|256" "--stop-byte|-1" "--stop-byte|a")
  string(REPLACE "|" ";" pair "${case}")
  list(GET pair 0 opt)
  list(GET pair 1 bad)
  cli_refused("option ${opt}" "--model m.tern --prompt x ${opt} '${bad}'")
endforeach()
cli_refused("option --path: unknown kernel path 'sse9'" "--model m.tern --prompt x --path sse9")
# Model files: missing, a directory, a device, garbage, empty.
file(WRITE "${WORK}/garbage.tern" "not a model file, just some bytes")
file(WRITE "${WORK}/empty.tern" "")
file(MAKE_DIRECTORY "${WORK}/dir.tern")
cli_refused("'missing.tern': cannot open" "--model missing.tern --prompt x")
cli_refused("is a directory" "--model dir.tern --prompt x")
cli_refused("is a character device" "--model /dev/zero --prompt x")
cli_refused("garbage.tern': header: the file has 33 bytes" "--model garbage.tern --prompt x")
cli_refused("empty.tern': the file is empty" "--model empty.tern --prompt x")
# GGUF files: garbage and empty ones are refused by the GGUF reader, naming the file.
file(WRITE "${WORK}/garbage.gguf" "not a gguf file, just some bytes")
file(WRITE "${WORK}/empty.gguf" "")
cli_refused("garbage.gguf': magic" "--model garbage.gguf --prompt x")
cli_refused("empty.gguf': header" "--model empty.gguf --prompt x")
