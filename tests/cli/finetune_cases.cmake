# examples/finetune.cpp (tern_finetune): missing, bad, negative, zero and huge option values,
# unusable paths. Options are checked before any file is read, so most cases need no checkpoint;
# tests/hf/finetune_run.cmake runs the program on a real one.
set(base "--model hf --corpus c.txt --out o.tern --steps 2")
cli_ok("usage: tern_finetune" "--help")
cli_refused("--model HFDIR is required" "--corpus c.txt --out o.tern --steps 2")
cli_refused("--corpus FILE is required" "--model hf --out o.tern --steps 2")
cli_refused("--out MODEL.tern is required" "--model hf --corpus c.txt --steps 2")
cli_refused("--steps N \\(N > 0\\) is required" "--model hf --corpus c.txt --out o.tern")
cli_refused("unknown option --bogus" "${base} --bogus 1")
cli_refused("needs a value" "${base} --lr")
cli_refused("unexpected argument 'stray'" "${base} stray")
cli_refused("option --policy: 'bitnet' is not paper, qat_norm or qat" "${base} --policy bitnet")
cli_refused("--make-tiny-checkpoint takes only .*\\(not --model\\)" "--make-tiny-checkpoint t --model hf")
cli_refused("--make-tiny-checkpoint takes only .*\\(not --lr\\)" "--make-tiny-checkpoint t --lr 1e-3")
foreach(case "--steps|0" "--steps|-1" "--steps|100000001" "--steps|abc" "--steps|1.5" "--steps|99999999999999999999"
             "--seq|0" "--seq|8193" "--batch|0" "--batch|65537" "--batch|-3" "--threads|0" "--threads|1025"
             "--lr|0" "--lr|-1" "--lr|2" "--lr|nan" "--lr|inf" "--lr|x" "--clip|0" "--clip|1e7"
             "--kd-tau|0" "--kd-tau|101" "--weight-decay|-0.1" "--weight-decay|2"
             "--eval-windows|-1" "--eval-windows|16777217" "--log-every|-1" "--pretrain-steps|-5"
             "--checkpoint-every|-1" "--checkpoint-every|-2" "--checkpoint-every|100000001" "--ramp-end|0" "--ramp-end|1.5"
             "--ramp-len|0" "--ramp-len|-1" "--stop-at|-1" "--stop-at|3" "--seed|-1" "--seed|18446744073709551616")
  string(REPLACE "|" ";" pair "${case}")
  list(GET pair 0 opt)
  list(GET pair 1 bad)
  cli_refused("${opt}" "${base} ${opt} '${bad}'")
endforeach()
cli_refused("--batch x --seq" "${base} --batch 4096 --seq 4096")
# unusable paths: the checkpoint directory and the corpus
file(MAKE_DIRECTORY "${WORK}/empty_dir")
file(WRITE "${WORK}/c.txt" "some text to tokenize, long enough for a window or two of a tiny model.\n")
cli_refused("/nonexistent.: no such directory" "--model /nonexistent --corpus c.txt --out o.tern --steps 2")
cli_refused("config.json" "--model empty_dir --corpus c.txt --out o.tern --steps 2")
cli_refused("config 'c.txt': not valid JSON" "--model c.txt --corpus c.txt --out o.tern --steps 2")
