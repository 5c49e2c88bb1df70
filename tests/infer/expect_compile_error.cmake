# Compiles SRC with -DTERN_CASE=${CASE} and passes when the compiler fails AND its output holds
# EXPECT (the static_assert message), so the test checks the message, not just a failure.
separate_arguments(flags UNIX_COMMAND "${FLAGS}")
execute_process(COMMAND ${CXX} -std=c++20 -fsyntax-only -DTERN_CASE=${CASE} ${flags} ${SRC}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "expected a compile error for case ${CASE}, but ${SRC} compiled")
endif()
string(FIND "${out}${err}" "${EXPECT}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "case ${CASE} failed to compile, but without the message '${EXPECT}':\n${err}")
endif()
message(STATUS "case ${CASE}: refused with '${EXPECT}'")
