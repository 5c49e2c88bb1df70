# Runs one program on a list of command lines and checks each outcome.
# Usage: cmake -DPROGRAM=<exe> -DCASES=<cases.cmake> -DWORK=<scratch dir> -P run_cli_cases.cmake
# The cases file calls
#   cli_ok(<regex> <words>)          exit 0, stdout + stderr match <regex>
#   cli_refused(<regex> <words>)     a normal exit with a status in 1..125 (not a signal, not a
#                                    timeout), stdout + stderr match <regex>
#   cli_refused_env(<regex> <VAR=value> <words>)   the same with an environment variable set
# <words> is one string of shell words after the program (sh -c "exec <program> <words>", so
# '' passes an empty argument). Every run is bounded by CLI_TIMEOUT seconds (default 60): a hang
# is a failure, as is a crash, an abort or a sanitizer report.
foreach(v PROGRAM CASES WORK)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run_cli_cases: pass -D${v}=...")
  endif()
endforeach()
if(NOT DEFINED CLI_TIMEOUT)
  set(CLI_TIMEOUT 60)
endif()
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
get_filename_component(program_name "${PROGRAM}" NAME)
set(cli_failures "")
set(cli_count 0)

function(cli_run expect regex env words)
  set(shown "${words}")
  if(env)
    set(shown "${env} ${words}")
  endif()
  execute_process(COMMAND /bin/sh -c "${env} exec \"${PROGRAM}\" ${words}" RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT ${CLI_TIMEOUT} WORKING_DIRECTORY "${WORK}")
  set(all "${out}${err}")
  set(problem "")
  if(NOT rc MATCHES "^[0-9]+$")
    set(problem "did not exit normally: ${rc}")  # a signal or the timeout, as CMake words it
  elseif(all MATCHES "ERROR: (Address|Thread|Leak)Sanitizer|runtime error:")
    set(problem "sanitizer report")
  elseif(expect STREQUAL "ok" AND NOT rc EQUAL 0)
    set(problem "exit ${rc}, expected 0")
  elseif(expect STREQUAL "refused" AND (rc EQUAL 0 OR rc GREATER 125))
    set(problem "exit ${rc}, expected a refusal (1..125)")
  elseif(NOT all MATCHES "${regex}")
    set(problem "output does not match '${regex}'")
  endif()
  math(EXPR c "${cli_count} + 1")
  set(cli_count ${c} PARENT_SCOPE)
  if(problem)
    string(SUBSTRING "${all}" 0 400 head)
    set(cli_failures "${cli_failures}\n  ${program_name} ${shown}: ${problem}\n    output: ${head}" PARENT_SCOPE)
  endif()
endfunction()
function(cli_ok regex words)
  cli_run(ok "${regex}" "" "${words}")
  set(cli_count ${cli_count} PARENT_SCOPE)
  set(cli_failures "${cli_failures}" PARENT_SCOPE)
endfunction()
function(cli_refused regex words)
  cli_run(refused "${regex}" "" "${words}")
  set(cli_count ${cli_count} PARENT_SCOPE)
  set(cli_failures "${cli_failures}" PARENT_SCOPE)
endfunction()
function(cli_refused_env regex env words)
  cli_run(refused "${regex}" "${env}" "${words}")
  set(cli_count ${cli_count} PARENT_SCOPE)
  set(cli_failures "${cli_failures}" PARENT_SCOPE)
endfunction()

include("${CASES}")

if(cli_failures)
  message(FATAL_ERROR "cli ${program_name}: ${cli_count} cases, failures:${cli_failures}")
endif()
message(STATUS "cli ${program_name}: ${cli_count} cases, each exited as expected with a message")
