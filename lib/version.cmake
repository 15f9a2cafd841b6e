# Writes version.hpp at build time (not configure time), so the git description stamped into
# every file audiosim writes is the one of the build. configure_file leaves an unchanged file alone.
execute_process(COMMAND git describe --always --dirty --tags
                WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE AUDIOSIM_GIT_DESCRIBE OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT AUDIOSIM_GIT_DESCRIBE)
  set(AUDIOSIM_GIT_DESCRIBE "unknown")
endif()
configure_file(${INPUT} ${OUTPUT} @ONLY)
