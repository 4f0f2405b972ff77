# Writes OUTPUT, the source of recgate::build::version() and revision(), from VERSION and the
# git revision of SOURCE_DIR. Run at every build (util/CMakeLists.txt); configure_file leaves
# the file untouched when its text is the same, so nothing recompiles unless the revision moved.
#   cmake -DSOURCE_DIR=... -DOUTPUT=... -DVERSION=... -P build_revision.cmake
set(RECGATE_REVISION "unknown")
find_program(GIT_EXECUTABLE git)
if(GIT_EXECUTABLE AND EXISTS "${SOURCE_DIR}/.git")
  execute_process(
    COMMAND "${GIT_EXECUTABLE}" -C "${SOURCE_DIR}" rev-parse --short=12 HEAD
    OUTPUT_VARIABLE head
    RESULT_VARIABLE head_failed
    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT head_failed AND head MATCHES "^[0-9a-f]+$")
    set(RECGATE_REVISION "${head}")
    execute_process(
      COMMAND "${GIT_EXECUTABLE}" -C "${SOURCE_DIR}" diff --quiet HEAD --
      RESULT_VARIABLE dirty
      OUTPUT_QUIET ERROR_QUIET)
    if(dirty EQUAL 1)
      string(APPEND RECGATE_REVISION "-dirty")
    endif()
  endif()
endif()
set(RECGATE_VERSION "${VERSION}")
configure_file("${CMAKE_CURRENT_LIST_DIR}/build_info.cpp.in" "${OUTPUT}" @ONLY)
