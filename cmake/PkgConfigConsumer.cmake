# Builds and runs a consumer program with the flags `pkg-config --cflags --libs` gives, and
# nothing else (ctest consumer_pkgconfig_c / _fortran). Variables:
#   PREFIX    the install prefix (its lib/pkgconfig is searched)
#   PACKAGE   the pkg-config package name
#   COMPILER  the compiler to use
#   SOURCE    the program
#   OUT       the executable to write
#   PKG_CONFIG  the pkg-config executable
#   LIBDIR    the install's library directory name (lib, lib64, ...)
set(ENV{PKG_CONFIG_PATH} "${PREFIX}/${LIBDIR}/pkgconfig")
execute_process(COMMAND "${PKG_CONFIG}" --cflags --libs "${PACKAGE}"
  OUTPUT_VARIABLE flags ERROR_VARIABLE err RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config --cflags --libs ${PACKAGE} failed: ${err}")
endif()
message(STATUS "pkg-config --cflags --libs ${PACKAGE}: ${flags}")
separate_arguments(flag_list UNIX_COMMAND "${flags}")
execute_process(COMMAND "${COMPILER}" "${SOURCE}" -o "${OUT}" ${flag_list}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building ${SOURCE} with those flags failed:\n${out}${err}")
endif()
# (no rpath in the flags, as pkg-config files give none: the loader is told where to look)
set(ENV{LD_LIBRARY_PATH} "${PREFIX}/${LIBDIR}")
execute_process(COMMAND "${OUT}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${OUT} failed (${rc}):\n${out}${err}")
endif()
message(STATUS "${OUT}: ${out}")
