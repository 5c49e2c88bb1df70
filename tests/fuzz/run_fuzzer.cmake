# One bounded fuzzing run (see CMakeLists.txt): seeds, then libFuzzer for TERN_FUZZ_SECONDS.
# Usage: cmake -DNAME=<n> -DFUZZER=<exe> -DSEEDER=<exe> -DWORK=<dir> -DMALLOC_LIMIT_MB=<n> [-DREGRESSIONS=<dir>]
#        -P run_fuzzer.cmake
foreach(v NAME FUZZER SEEDER WORK MALLOC_LIMIT_MB)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run_fuzzer: pass -D${v}=...")
  endif()
endforeach()
set(seconds 30)
if(DEFINED ENV{TERN_FUZZ_SECONDS})
  set(seconds "$ENV{TERN_FUZZ_SECONDS}")
  if(NOT seconds MATCHES "^[0-9]+$" OR seconds EQUAL 0 OR seconds GREATER 86400)
    message(FATAL_ERROR "run_fuzzer: TERN_FUZZ_SECONDS='${seconds}' must be a whole number of seconds in [1, 86400]")
  endif()
endif()

set(seed 1)
if(DEFINED ENV{TERN_FUZZ_SEED})
  set(seed "$ENV{TERN_FUZZ_SEED}")
  if(NOT seed MATCHES "^[0-9]+$" OR seed GREATER 4294967295)
    message(FATAL_ERROR "run_fuzzer: TERN_FUZZ_SEED='${seed}' must be a whole number in [0, 4294967295] (0: a new seed each run)")
  endif()
endif()
# Reproducers of past findings, committed beside the fuzzers, are read with the seeds.
set(regressions "")
if(DEFINED REGRESSIONS AND IS_DIRECTORY "${REGRESSIONS}")
  set(regressions "${REGRESSIONS}")
endif()

# Fresh seeds and corpus every run (the run is reproducible from the seeds); findings are kept
# until the next run.
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}/seeds" "${WORK}/corpus" "${WORK}/findings")
execute_process(COMMAND "${SEEDER}" "${WORK}/seeds" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                TIMEOUT 120)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "fuzz_${NAME}: the seed writer failed (${rc}):\n${out}${err}")
endif()
file(GLOB seeds "${WORK}/seeds/*")
list(LENGTH seeds n_seeds)
if(n_seeds EQUAL 0)
  message(FATAL_ERROR "fuzz_${NAME}: the seed writer wrote no seeds")
endif()

set(n_regressions 0)
if(regressions)
  file(GLOB regression_files "${regressions}/*")
  list(LENGTH regression_files n_regressions)
endif()
message(STATUS "fuzz_${NAME}: ${n_seeds} seeds, ${n_regressions} regression inputs, seed ${seed}, ${seconds} s, malloc limit ${MALLOC_LIMIT_MB} MB, rss limit 2048 MB")
math(EXPR wall "${seconds} + 120")
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env
          "ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0:abort_on_error=0"
          "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1"
          "${FUZZER}" -max_total_time=${seconds} -timeout=10 -rss_limit_mb=2048
          -malloc_limit_mb=${MALLOC_LIMIT_MB} -seed=${seed} -artifact_prefix=${WORK}/findings/ -print_final_stats=1
          "${WORK}/corpus" "${WORK}/seeds" ${regressions}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT ${wall})
file(WRITE "${WORK}/fuzzer.log" "${out}${err}")
file(GLOB findings "${WORK}/findings/*")
string(REGEX MATCH "Done [0-9]+ runs in [0-9]+ second" done "${err}")
string(REGEX MATCH "stat::number_of_executed_units: [0-9]+" units "${err}")
if(NOT rc EQUAL 0 OR findings)
  string(LENGTH "${err}" len)
  if(len GREATER 6000)
    math(EXPR from "${len} - 6000")
    string(SUBSTRING "${err}" ${from} 6000 err)
  endif()
  message(FATAL_ERROR "fuzz_${NAME}: FINDING (exit ${rc}). Reproducer(s), kept: ${findings}\n"
                      "Reproduce: ${FUZZER} <reproducer>\nFull log: ${WORK}/fuzzer.log\n${err}")
endif()
if(NOT done)
  message(FATAL_ERROR "fuzz_${NAME}: libFuzzer did not report a finished run; log: ${WORK}/fuzzer.log")
endif()
message(STATUS "fuzz_${NAME}: clean: ${done}s (${units}), 0 findings")
