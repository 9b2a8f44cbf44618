# The e2e tier's ctest registration, included by each tests/e2e/<area>.
#
#   dplb_e2e_test(NAME SCRIPT TIMEOUT ARG...)
#
# runs `bash SCRIPT ARG...` from the including directory as test NAME with
# label e2e. The tests share the namespace lock (RESOURCE_LOCK netns: they
# compete for the same two cores and global conntrack) and exit 77 to say
# "skipped" (not root, no /dev/net/tun).
include_guard(GLOBAL)

function(dplb_e2e_test name script timeout)
  add_test(NAME ${name} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/${script} ${ARGN})
  set_tests_properties(${name} PROPERTIES
    LABELS e2e
    RESOURCE_LOCK netns
    TIMEOUT ${timeout}
    SKIP_RETURN_CODE 77)
endfunction()
