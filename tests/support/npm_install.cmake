# Installs the npm packages a test compares against into DIR (once; later runs find MARKER
# there). A missing npm or a failed install is reported here and makes the tests that need the
# packages SKIP with a message; it never fails the build.
# Inputs: DIR, PACKAGES (a ;-list of name@version), MARKER (a file the install leaves), FOR (the
# tests that use them, for the messages), NPM_FLAGS (optional, a ;-list of extra npm flags).
if(EXISTS ${MARKER})
  message(STATUS "npm packages already in ${DIR}")
  return()
endif()
find_program(NPM npm)
if(NOT NPM)
  message(STATUS "SKIP: npm not found; ${FOR} will be skipped")
  return()
endif()
file(MAKE_DIRECTORY ${DIR})
execute_process(COMMAND ${NPM} install --prefix ${DIR} --no-audit --no-fund --no-save --omit=optional ${NPM_FLAGS} ${PACKAGES}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 600)
if(NOT rc EQUAL 0)
  message(STATUS "SKIP: npm install ${PACKAGES} failed (${rc}); ${FOR} will be skipped: ${err}")
endif()
