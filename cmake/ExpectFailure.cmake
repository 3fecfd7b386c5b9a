# Runs PROGRAM, which must fail (non-zero exit) with stderr matching the regex EXPECT.
#   cmake -DPROGRAM=<exe> -DEXPECT=<regex> -P ExpectFailure.cmake
execute_process(COMMAND "${PROGRAM}" RESULT_VARIABLE rc
  OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "expected a failure, the program exited 0\nstdout:\n${out}\nstderr:\n${err}")
endif()
if(NOT err MATCHES "${EXPECT}")
  message(FATAL_ERROR "stderr does not match '${EXPECT}'\nstderr:\n${err}")
endif()
message(STATUS "failed as expected (exit ${rc}): ${err}")
