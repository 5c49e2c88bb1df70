# Installs the npm packages the GGUF reader tests compare against into DIR (once; later runs
# find MARKER there). A missing npm or a failed install is reported here and makes those tests
# SKIP with a message; it never fails the build.
# Inputs: DIR, PACKAGES (a ;-list of name@version), MARKER (a file the install leaves).
if(EXISTS ${MARKER})
  message(STATUS "npm packages already in ${DIR}")
  return()
endif()
find_program(NPM npm)
if(NOT NPM)
  message(STATUS "SKIP: npm not found; the GGUF reader tests will be skipped")
  return()
endif()
file(MAKE_DIRECTORY ${DIR})
# --ignore-scripts: node-llama-cpp's postinstall would try to build llama.cpp; the prebuilt
# @node-llama-cpp/linux-x64 binary is what the tests use (getLlama({build: "never"})).
execute_process(COMMAND ${NPM} install --prefix ${DIR} --no-audit --no-fund --no-save --omit=optional --ignore-scripts ${PACKAGES}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 600)
if(NOT rc EQUAL 0)
  message(STATUS "SKIP: npm install ${PACKAGES} failed (${rc}): ${err}")
endif()
