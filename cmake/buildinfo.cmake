# Writes buildinfo.h: version, git commit, compiler and flags, for every output clmd writes.
execute_process(COMMAND git -C ${SRC} rev-parse --short=12 HEAD OUTPUT_VARIABLE commit
                OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR commit STREQUAL "")
  set(commit "unknown")
endif()
execute_process(COMMAND git -C ${SRC} status --porcelain --untracked-files=no
                OUTPUT_VARIABLE dirty OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT dirty STREQUAL "")
  set(commit "${commit}-dirty")
endif()
string(STRIP "${FLAGS}" FLAGS)
set(text "#define CLMD_VERSION \"${VERSION}\"\n#define CLMD_GIT_COMMIT \"${commit}\"\n#define CLMD_COMPILER \"${COMPILER}\"\n#define CLMD_CFLAGS \"${FLAGS}\"\n")
file(WRITE ${OUT}.tmp "${text}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
