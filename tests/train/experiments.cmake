# Runs the experiment scripts on tiny --quick runs: examples/experiments/lr_sweep.sh (two
# learning rates, one seed) and sizes.sh (one size, one seed). Checks that lr_select.py chose,
# for each fine-tuned variant, the learning rate whose run has the lower selection loss in the
# demo's own JSON lines, and reported that run's losses; that sizes.sh wrote its table; and
# that both scripts answer --help. Without python3 the test says SKIPPED (ctest: skipped).
# Usage: cmake -DDEMO=<tern_demo> -DSCRIPTS=<examples/experiments> -DWORK=<dir> -P <this file>
find_program(PYTHON3 python3)
if(NOT PYTHON3)
  message(STATUS "SKIPPED: python3 is not installed")
  return()
endif()
file(REMOVE_RECURSE ${WORK})
foreach(script lr_sweep.sh sizes.sh)
  execute_process(COMMAND bash ${SCRIPTS}/${script} --help RESULT_VARIABLE rc OUTPUT_VARIABLE out)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "usage: examples/experiments/${script} DEMO OUT")
    message(FATAL_ERROR "${script} --help (${rc}): ${out}")
  endif()
endforeach()

set(lrs 1e-3 2e-2)
execute_process(COMMAND ${CMAKE_COMMAND} -E env SEEDS=1 "LRS=1e-3 2e-2" JOBS=1 FT_STEPS=6 "EXTRA=--quick --steps 8"
                        bash ${SCRIPTS}/lr_sweep.sh ${DEMO} ${WORK}/lr
                RESULT_VARIABLE rc OUTPUT_VARIABLE table ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "lr_sweep.sh failed (${rc}):\n${table}\n${err}")
endif()
# The fine-tuning corpus's choice: the section up to the next heading.
string(FIND "${table}" "### Each variant at its best learning rate on the fine-tuning corpus" at)
string(FIND "${table}" "### Each variant at its best learning rate on the pretraining corpus" end)
if(at LESS 0 OR end LESS at)
  message(FATAL_ERROR "lr_sweep.sh: no selection sections in its table:\n${table}")
endif()
math(EXPR len "${end} - ${at}")
string(SUBSTRING "${table}" ${at} ${len} section)
foreach(variant fp_ft qat_abrupt qat_norm paper kd)
  set(best "")
  foreach(lr ${lrs})
    file(READ ${WORK}/lr/lr-${lr}/1-6.json line)
    string(JSON sel GET "${line}" tern_demo ${variant} ft_select_loss)
    string(JSON kept GET "${line}" tern_demo ${variant} val_loss)
    if(best STREQUAL "" OR sel LESS best_sel)  # if(LESS) compares the numbers as doubles
      set(best ${lr})
      set(best_sel ${sel})
      set(best_kept ${kept})
    endif()
  endforeach()
  # lr_select.py prints the lr with %g (0.001, 0.02) and the loss with 3 decimals.
  execute_process(COMMAND ${PYTHON3} -c "print(f'{${best}:g} | {${best_kept}:.3f}')" OUTPUT_VARIABLE want
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  string(REPLACE "." "\\." want_re "${want}")
  if(NOT section MATCHES "\\| ${variant} \\| ${want_re} \\|")
    message(FATAL_ERROR "lr_select.py: expected '${variant} | ${want}' (the lower ft_select_loss of the "
                        "runs), got:\n${section}")
  endif()
endforeach()

execute_process(COMMAND ${CMAKE_COMMAND} -E env SIZES=24x2x2 SEEDS=1 FT_STEPS=6 "EXTRA=--quick --steps 8"
                        bash ${SCRIPTS}/sizes.sh ${DEMO} ${WORK}/sizes
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT EXISTS ${WORK}/sizes/24x2/1-6.json OR NOT out MATCHES "## dim 24, 2 layers.*\\| paper \\| [*]*[0-9.]+")
  message(FATAL_ERROR "sizes.sh failed (${rc}):\n${out}\n${err}")
endif()
file(READ ${WORK}/sizes/24x2/1-6.json line)
string(JSON dim GET "${line}" tern_demo model dim)
if(NOT dim EQUAL 24)
  message(FATAL_ERROR "sizes.sh: the run's model has dim ${dim}, not 24")
endif()
