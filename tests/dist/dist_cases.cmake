# The MPI tests of data-parallel training, one CASE per ctest test; every mpirun is bounded by
# 60 s (a hung rank fails the test).
# Usage: cmake -DCASE=<case> -DMPIEXEC=<mpirun> -DNP_FLAG=-n -DPROGRAM=<dist_train> -DWORK=<dir>
#              [-DDEMO=<tern_demo>] [-DTRAIN_LOOP=<train_loop>] -P dist_cases.cmake
#   one_vs_two_ranks  8 steps of the same global batches on 1 rank and on 2: the weights agree
#                     within the float summation-order tolerance (||w2 - w1|| <= 1e-4 ||w1 - w0||),
#                     the progress lines (global loss, global gradient norm) are the same, the
#                     2 ranks' replicas are identical, and two 2-rank runs write the same
#                     checkpoint byte for byte; 3 ranks (shards of 1, 1 and 2 windows: the
#                     token-weighted average) agree with 1 rank within the same tolerance
#   resume            a 2-rank run checkpointed at step 4 (rank 0 writes) and resumed by 2 new
#                     ranks (rank 0 reads and sends) ends with the checkpoint of the uninterrupted
#                     2-rank run, byte for byte
#   failing_rank      rank 1 throws at step 3 while rank 0 waits in the allreduce, and a corpus
#                     path that does not exist: mpirun ends with a failure status and the message,
#                     no hang
#   demo_two_ranks    tern_demo --quick under 2 ranks: one JSON line, progress lines once
#   train_loop_two_ranks  train_loop under 2 ranks: its resume check passes, printed once
foreach(v CASE MPIEXEC NP_FLAG PROGRAM WORK)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "dist_cases: pass -D${v}=...")
  endif()
endforeach()
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")

# mpi_run(<np> <prefix> <program> <args...>): runs it, sets <prefix>_rc and <prefix>_out
# (stdout + stderr).
function(mpi_run np prefix program)
  execute_process(COMMAND ${MPIEXEC} ${NP_FLAG} ${np} ${program} ${ARGN} RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60 WORKING_DIRECTORY "${WORK}")
  set(${prefix}_rc "${rc}" PARENT_SCOPE)
  set(${prefix}_out "${out}${err}" PARENT_SCOPE)
endfunction()
function(expect_ok prefix what)
  if(NOT "${${prefix}_rc}" STREQUAL "0")
    message(FATAL_ERROR "dist_cases ${CASE}: ${what} failed (${${prefix}_rc}):\n${${prefix}_out}")
  endif()
  message(STATUS "${what}:\n${${prefix}_out}")
endfunction()
function(expect_same_file a b what)
  file(SHA256 "${WORK}/${a}" ha)
  file(SHA256 "${WORK}/${b}" hb)
  if(NOT ha STREQUAL hb)
    message(FATAL_ERROR "dist_cases ${CASE}: ${what}: ${a} and ${b} differ")
  endif()
endfunction()
function(count_matches regex text out)
  string(REGEX MATCHALL "${regex}" found "${text}")
  list(LENGTH found n)
  set(${out} ${n} PARENT_SCOPE)
endfunction()

if(CASE STREQUAL "one_vs_two_ranks")
  mpi_run(1 r1 ${PROGRAM} --steps 8 --save one.ckpt)
  expect_ok(r1 "1 rank")
  mpi_run(2 r2 ${PROGRAM} --steps 8 --save two.ckpt --compare one.ckpt --tolerance 1e-4)
  expect_ok(r2 "2 ranks against 1")
  if(NOT r2_out MATCHES "replicas identical")
    message(FATAL_ERROR "dist_cases ${CASE}: no 'replicas identical' in:\n${r2_out}")
  endif()
  # The progress lines print the loss and |g| of the global batch: the same digits on 1 and 2 ranks.
  set(progress "step [0-9]+/8  loss [0-9.]+  lambda [0-9.]+  lr [0-9.e+-]+  .g. [0-9.e+-]+")
  string(REGEX MATCHALL "${progress}" p1 "${r1_out}")
  string(REGEX MATCHALL "${progress}" p2 "${r2_out}")
  list(LENGTH p1 n1)
  if(NOT n1 EQUAL 2 OR NOT "${p1}" STREQUAL "${p2}")
    message(FATAL_ERROR "dist_cases ${CASE}: progress lines differ between 1 and 2 ranks:\n${p1}\n${p2}")
  endif()
  mpi_run(2 r3 ${PROGRAM} --steps 8 --save two_again.ckpt)
  expect_ok(r3 "2 ranks again")
  expect_same_file(two.ckpt two_again.ckpt "two 2-rank runs")
  mpi_run(3 r4 ${PROGRAM} --steps 8 --compare one.ckpt --tolerance 1e-4)
  expect_ok(r4 "3 ranks (uneven shards) against 1")
elseif(CASE STREQUAL "resume")
  mpi_run(2 a ${PROGRAM} --steps 8 --save straight.ckpt)
  expect_ok(a "uninterrupted 2-rank run")
  mpi_run(2 b ${PROGRAM} --steps 4 --save mid.ckpt)
  expect_ok(b "2-rank run to step 4")
  mpi_run(2 c ${PROGRAM} --steps 8 --resume mid.ckpt --save resumed.ckpt)
  expect_ok(c "2-rank run resumed at step 4")
  expect_same_file(straight.ckpt resumed.ckpt "resumed against uninterrupted")
  mpi_run(2 d ${PROGRAM} --steps 8 --resume missing.ckpt)
  if("${d_rc}" STREQUAL "0" OR NOT d_out MATCHES "missing.ckpt.*cannot open")
    message(FATAL_ERROR "dist_cases ${CASE}: resuming from a missing file: exit ${d_rc}:\n${d_out}")
  endif()
elseif(CASE STREQUAL "failing_rank")
  mpi_run(2 f ${PROGRAM} --steps 8 --fail-rank 1 --fail-at 3)
  if(NOT f_rc MATCHES "^[0-9]+$" OR f_rc EQUAL 0 OR NOT f_out MATCHES "rank 1 of 2: injected failure on rank 1 at step 3")
    message(FATAL_ERROR "dist_cases ${CASE}: a failing rank 1: exit '${f_rc}' (expected a failure status):\n${f_out}")
  endif()
  mpi_run(2 g ${PROGRAM} --steps 8 --corpus "${WORK}/no such corpus.txt")
  if(NOT g_rc MATCHES "^[0-9]+$" OR g_rc EQUAL 0 OR NOT g_out MATCHES "no such corpus.txt.*cannot open")
    message(FATAL_ERROR "dist_cases ${CASE}: a missing corpus: exit '${g_rc}':\n${g_out}")
  endif()
  if(DEMO)
    mpi_run(2 h ${DEMO} --quick --corpus "${WORK}/no such corpus.txt")
    if(NOT h_rc MATCHES "^[0-9]+$" OR h_rc EQUAL 0 OR NOT h_out MATCHES "tern_demo: .*no such corpus.txt.*cannot open")
      message(FATAL_ERROR "dist_cases ${CASE}: tern_demo with a missing corpus: exit '${h_rc}':\n${h_out}")
    endif()
  endif()
elseif(CASE STREQUAL "demo_two_ranks")
  mpi_run(2 d ${DEMO} --quick --seed 7 --steps 12 --ft-steps 6 --save-model ${WORK}/demo.tern)
  expect_ok(d "tern_demo --quick on 2 ranks")
  count_matches("{\"tern_demo\":" "${d_out}" n_json)
  count_matches("\\[fp\\] step 12/12" "${d_out}" n_progress)
  if(NOT n_json EQUAL 1 OR NOT n_progress EQUAL 1)
    message(FATAL_ERROR "dist_cases ${CASE}: ${n_json} JSON lines and ${n_progress} final fp progress lines, expected 1 each:\n${d_out}")
  endif()
  if(NOT d_out MATCHES "2 ranks")
    message(FATAL_ERROR "dist_cases ${CASE}: the demo does not say it ran on 2 ranks:\n${d_out}")
  endif()
elseif(CASE STREQUAL "train_loop_two_ranks")
  mpi_run(2 t ${TRAIN_LOOP})
  expect_ok(t "train_loop on 2 ranks")
  count_matches("resumed run is bit-identical" "${t_out}" n)
  if(NOT n EQUAL 1)
    message(FATAL_ERROR "dist_cases ${CASE}: the verdict printed ${n} times, expected once:\n${t_out}")
  endif()
else()
  message(FATAL_ERROR "dist_cases: unknown CASE '${CASE}'")
endif()
