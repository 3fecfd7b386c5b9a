# FpmConsumer.cmake -- the `fpm` test: builds and runs an fpm project (tests/fpm) that depends on
# this tree (fpm.toml at its root) and on coreutils, against the Rust library built by cargo.
#
#   cmake -DFPM=<fpm> -DSOURCE_DIR=<this tree> -DCONSUMER_DIR=<tests/fpm> -DWORK_DIR=<dir>
#         -DCOREUTILS_SRC=<coreutils checkout, with src/> -DCARGO_LIBDIR=<dir of libdiffstruc.so>
#         -DFC=<fortran compiler> -DCC=<c compiler> -P FpmConsumer.cmake
#
# coreutils is made an fpm package in WORK_DIR (a minimal generated fpm.toml and a copy of its
# sources): the consumer's path dependency on it must override the git dependency of our
# fpm.toml. GitHub is not reachable, and any git URL on github.com is redirected to a missing
# local path so that an attempt to fetch it fails at once instead of hanging.
# Skipped ("fpm SKIPPED:") when fpm or coreutils is missing.
cmake_minimum_required(VERSION 3.25)

macro(skip reason)
  message("fpm SKIPPED: ${reason}")
  if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.29)
    cmake_language(EXIT 77)
  endif()
  return()
endmacro()

if(NOT FPM OR NOT EXISTS "${FPM}")
  find_program(FPM fpm)
endif()
if(NOT FPM)
  skip("fpm is not on PATH (pip install fpm)")
endif()
if(NOT EXISTS "${COREUTILS_SRC}/src/coreutils.f90")
  skip("no coreutils sources at ${COREUTILS_SRC} (DIFFSTRUC_CLIENTS_DIR/coreutils)")
endif()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}/coreutils" "${WORK_DIR}/consumer")
file(COPY "${COREUTILS_SRC}/src" DESTINATION "${WORK_DIR}/coreutils")
file(WRITE "${WORK_DIR}/coreutils/fpm.toml"
  "name = \"coreutils\"\nversion = \"0.1.0\"\n[library]\nsource-dir = \"src\"\n")
file(COPY "${CONSUMER_DIR}/app" DESTINATION "${WORK_DIR}/consumer")
# fpm 0.12 takes path dependencies relative to the manifest.
file(RELATIVE_PATH DIFFSTRUC_SOURCE_DIR "${WORK_DIR}/consumer" "${SOURCE_DIR}")
set(COREUTILS_DIR "../coreutils")
configure_file("${CONSUMER_DIR}/fpm.toml.in" "${WORK_DIR}/consumer/fpm.toml" @ONLY)

set(env
  GIT_TERMINAL_PROMPT=0
  GIT_CONFIG_COUNT=1
  "GIT_CONFIG_KEY_0=url.file:///nonexistent-github/.insteadOf"
  "GIT_CONFIG_VALUE_0=https://github.com/")
set(args run --compiler "${FC}" --c-compiler "${CC}"
  --link-flag "-L${CARGO_LIBDIR} -Wl,-rpath,${CARGO_LIBDIR}")
message(STATUS "fpm ${args}")
execute_process(COMMAND "${CMAKE_COMMAND}" -E env ${env} "${FPM}" ${args}
  WORKING_DIRECTORY "${WORK_DIR}/consumer"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "fpm run failed (exit ${rc})")
endif()
if(NOT out MATCHES "fpm consumer: ok")
  message(FATAL_ERROR "the fpm consumer did not report success")
endif()
