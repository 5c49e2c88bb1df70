# examples/demo.cpp (tern_demo): every option with bad, missing, negative, zero and huge values,
# paths that are not usable files, and combinations that are refused. Each case starts with a
# tiny run's options, so a value wrongly accepted costs a second, not a training run.
set(tiny "--quick --steps 1 --ft-steps 1 --variants ptq")
cli_ok("usage: tern_demo" "--help")
cli_refused("unknown option --bogus" "${tiny} --bogus 1")
cli_refused("option stray needs a value \\(or is unknown\\)" "${tiny} stray")

# Integer options: name, smallest valid value, largest valid value.
set(int_options
  --steps 1 100000000  --ft-steps 1 100000000  --synthetic-bytes 1 4294967296  --dim 2 4096
  --layers 1 256  --heads 1 256  --seq 1 8192  --batch 1 65536  --eval-windows 0 16777216
  --threads 1 1024  --log-every 0 100000000)
list(LENGTH int_options n)
math(EXPR last "${n} - 1")
foreach(i RANGE 0 ${last} 3)
  math(EXPR i_lo "${i} + 1")
  math(EXPR i_hi "${i} + 2")
  list(GET int_options ${i} opt)
  list(GET int_options ${i_lo} lo)
  list(GET int_options ${i_hi} hi)
  cli_refused("option ${opt} needs a value" "${tiny} ${opt}")
  foreach(bad abc 1.5 1e3 0x10 "''" "' 5'" "5 " +-1 99999999999999999999999 -99999999999999999999999)
    cli_refused("option ${opt}" "${tiny} ${opt} '${bad}'")
  endforeach()
  math(EXPR below "${lo} - 1")
  math(EXPR above "${hi} + 1")
  foreach(bad ${below} ${above} -1 9223372036854775807 -9223372036854775807)
    cli_refused("option ${opt}" "${tiny} ${opt} ${bad}")
  endforeach()
endforeach()
# The seed: any unsigned 64-bit value, never a negative one.
foreach(bad -1 -0 abc 1.5 18446744073709551616 "''")
  cli_refused("option --seed" "${tiny} --seed '${bad}'")
endforeach()
cli_refused("option --seed needs a value" "${tiny} --seed")

# Real-valued options: non-finite, negative, zero, past the upper bound, not numbers.
foreach(opt --lr --ft-lr --clip --kd-tau --ramp-end --ramp-len)
  cli_refused("option ${opt} needs a value" "${tiny} ${opt}")
  foreach(bad nan inf -inf abc "''" -1 0 1e308 1e999 1e-99999 "0.5x")
    cli_refused("option ${opt}" "${tiny} ${opt} '${bad}'")
  endforeach()
endforeach()

# Combinations.
cli_refused("option --batch x --seq must be in" "${tiny} --batch 65536 --seq 8192")
cli_refused("transformer_config.n_heads" "${tiny} --dim 96 --heads 5")
cli_refused("transformer_config.n_heads" "${tiny} --dim 7 --heads 1")
cli_refused("option --order: 'middle' is not first or last" "${tiny} --order middle")
cli_refused("unknown variant 'foo'" "${tiny} --variants foo")
cli_refused("option --ramp-shape: 'cubic' is not linear, sigmoid or exponential" "${tiny} --ramp-shape cubic")
cli_refused("option --ramp-shape needs a value" "${tiny} --ramp-shape")
# The recipe's ablations run, and appear, only when listed.
cli_ok("paper_plain +\\(d\\) with a gain-free extra norm +[0-9.]+.*paper_head +\\(d\\) \\+ ternary LM head +[0-9.]+.*\"shape\":\"exponential\"},\"lr\":.*paper: layer-wise exponential ramps of 2 steps, 2 apart"
       "${tiny} --variants paper_plain,paper_head --ft-steps 16 --ramp-shape exponential")
cli_refused("the list is empty" "${tiny} --variants ''")
# FP fine-tuning (fp_ft) and the selection halves of --split halves: both in the table and the JSON.
cli_refused("option --split: 'thirds' is not whole or halves" "${tiny} --split thirds")
cli_refused("--split halves: each half of the 70-byte validation split of built-in Markov source"
            "${tiny} --synthetic-bytes 700 --seq 32 --split halves")
cli_ok("sel +ft sel\n.*fp_ft +FP fine-tuned, not quantized +[0-9.]+ .*\"fp_ft\":\\{\"val_loss\":[0-9.]+,.*\"select_loss\":[0-9.]+,\"ft_select_loss\":[0-9.]+\\}.*\"split\":\"halves\""
       "${tiny} --variants ptq,fp_ft --ft-steps 2 --split halves")
cli_ok("\"split\":\"whole\"" "${tiny}")
cli_refused("unknown variant ''" "${tiny} --variants ,")

# The deployment options.
cli_refused("option --deploy-format: 'tq3' is not tq2 or tq1" "${tiny} --deploy-format tq3")
cli_refused("option --deploy-head: 'f16' is not f32, bf16 or i8" "${tiny} --deploy-head f16")
cli_refused("option --save-model" "${tiny} --save-model ''")
foreach(bad -1 1048577 abc 1.5 "''")
  cli_refused("option --sample-bytes" "${tiny} --sample-bytes '${bad}'")
endforeach()

# Paths: missing, a directory, a FIFO nobody writes, a device, empty and too short files.
file(WRITE "${WORK}/empty.txt" "")
file(WRITE "${WORK}/short.txt" "0123456789")
file(WRITE "${WORK}/garbage.ckpt" "this is not a checkpoint, not even close")
file(MAKE_DIRECTORY "${WORK}/dir")
find_program(MKFIFO mkfifo)
set(have_fifo OFF)
if(MKFIFO)
  execute_process(COMMAND ${MKFIFO} "${WORK}/fifo" RESULT_VARIABLE fifo_rc)
  if(fifo_rc EQUAL 0)
    set(have_fifo ON)
  endif()
endif()
if(NOT have_fifo)
  message(WARNING "cli tern_demo: SKIPPED the FIFO cases (mkfifo unavailable)")
endif()
foreach(opt --corpus --ft-corpus --load-fp)
  cli_refused("option ${opt} needs a file name" "${tiny} ${opt} ''")
  cli_refused("'/nonexistent/x': cannot open: No such file" "${tiny} ${opt} /nonexistent/x")
  cli_refused("is a directory" "${tiny} ${opt} dir")
  cli_refused("is a character device" "${tiny} ${opt} /dev/zero")
  if(have_fifo)
    cli_refused("is a FIFO" "${tiny} ${opt} fifo")
  endif()
endforeach()
cli_refused("is empty" "${tiny} --corpus empty.txt")
cli_refused("is too short" "${tiny} --corpus short.txt")
cli_refused("is empty" "${tiny} --ft-corpus empty.txt")
# per-step metrics and a distinct fine-tuning corpus
cli_refused("option --log-dir needs a file name" "${tiny} --log-dir ''")
cli_refused("--log-dir: 'empty.txt' exists and is not a directory" "${tiny} --log-dir empty.txt")
cli_refused("--log-dir: cannot create '/proc/tern_logs'" "${tiny} --log-dir /proc/tern_logs")
cli_ok("ft nats.*best ternary variant by validation loss on the fine-tuning corpus: qat_abrupt"
       "${tiny} --variants qat_abrupt --ft-steps 3 --ft-corpus ${CMAKE_CURRENT_LIST_DIR}/../../README.md --log-dir logs")
# The default fine-tuning data: the related built-in source (its limit printed, both columns);
# 'same' fine-tunes on the pretraining corpus (one column, no fine-tuning corpus line).
cli_ok("fine-tuning source entropy \\(the limit\\): [0-9.]+ nats/byte.*ft nats.*\"ft_corpus\":\\{\"name\":\"built-in related Markov source"
       "${tiny} --variants qat_abrupt --ft-steps 2")
cli_ok("qat_abrupt +\\(b\\) QAT, lambda=1 from step 0 +[0-9.]+ +[0-9.]+ +[-+][0-9.]+% +- +2 +[0-9]+ +[0-9.]+\n"
       "${tiny} --variants qat_abrupt --ft-steps 2 --ft-corpus same")
foreach(f fp qat_abrupt)
  if(NOT EXISTS "${WORK}/logs/${f}.csv")
    message(FATAL_ERROR "cli tern_demo: --log-dir logs wrote no logs/${f}.csv")
  endif()
endforeach()
file(STRINGS "${WORK}/logs/qat_abrupt.csv" rows)
list(LENGTH rows n_rows)
list(GET rows 0 header)
list(GET rows 3 row3)
if(NOT n_rows EQUAL 4 OR NOT header STREQUAL "step,loss,lr,grad_norm,tokens_per_s,skipped,lambda_mean,lambda_0,lambda_1"
   OR NOT row3 MATCHES "^3,[0-9.e+-]+,[0-9.e+-]+,[0-9.e+-]+,[0-9.]+,0,1,1,1$")
  message(FATAL_ERROR "cli tern_demo: logs/qat_abrupt.csv is not a header and 3 rows of step 1..3 at lambda 1:\n${rows}")
endif()
cli_refused("bad magic" "${tiny} --load-fp garbage.ckpt")
cli_refused("option --save-fp needs a file name" "${tiny} --save-fp ''")
cli_refused("cannot create '/nonexistent/x.ckpt.tmp'" "${tiny} --save-fp /nonexistent/x.ckpt")
cli_refused("cannot rename" "${tiny} --save-fp dir")
# A checkpoint of another model: refused by its tag, naming both.
cli_ok("loaded|fp: validation" "${tiny} --save-fp fp.ckpt")
cli_refused("model tag mismatch: the file holds .*dim=32.* but the model is .*dim=64" "${tiny} --dim 64 --load-fp fp.ckpt")
