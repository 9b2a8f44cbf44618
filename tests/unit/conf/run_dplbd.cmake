# Runs dplbd and checks its exit code, stdout and stderr exactly.
#   cmake -DDPLBD=<exe> -DARGS=<;-list> -DEXPECT_RC=<n>
#         [-DEXPECT_STDOUT=<text>] [-DEXPECT_STDERR_FILE=<file>]
#         [-DEXPECT_STDERR_MATCH=<regex>] -P run_dplbd.cmake
# (run with WORKING_DIRECTORY set so that file names in messages are short).
execute_process(COMMAND ${DPLBD} ${ARGS}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(failed "")
if(NOT rc STREQUAL EXPECT_RC)
  string(APPEND failed "exit code ${rc}, expected ${EXPECT_RC}\n")
endif()
if(DEFINED EXPECT_STDOUT AND NOT out STREQUAL EXPECT_STDOUT)
  string(APPEND failed "stdout differs, expected:\n[${EXPECT_STDOUT}]\n")
endif()
if(DEFINED EXPECT_STDERR_FILE)
  file(READ ${EXPECT_STDERR_FILE} want)
  if(NOT err STREQUAL want)
    string(APPEND failed "stderr differs, expected:\n[${want}]\n")
  endif()
endif()
if(DEFINED EXPECT_STDERR_MATCH AND NOT err MATCHES "${EXPECT_STDERR_MATCH}")
  string(APPEND failed "stderr does not match ${EXPECT_STDERR_MATCH}\n")
endif()
if(failed)
  message(FATAL_ERROR "dplbd ${ARGS}:\n${failed}got stdout:\n[${out}]\ngot stderr:\n[${err}]")
endif()
