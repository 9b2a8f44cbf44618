# Runs dplb-schedsim on one scenario and checks the result.
#   cmake -DSCHEDSIM=<binary> -DSCENARIO=<dir>/<name>.scn -P run_schedsim_case.cmake
# <name>.out present: exit 0 and stdout equal to it, byte for byte.
# <name>.err present: exit 2, empty stdout, stderr containing its first line.
# Each case is run twice: with the file as argument and on stdin.
get_filename_component(dir ${SCENARIO} DIRECTORY)
get_filename_component(name ${SCENARIO} NAME_WE)
set(out_file ${dir}/${name}.out)
set(err_file ${dir}/${name}.err)

if(EXISTS ${out_file})
  file(READ ${out_file} expected)
  set(expected_rc 0)
elseif(EXISTS ${err_file})
  file(STRINGS ${err_file} err_lines LIMIT_COUNT 1)
  list(GET err_lines 0 expected_err)
  set(expected "")
  set(expected_rc 2)
else()
  message(FATAL_ERROR "${name}: neither ${name}.out nor ${name}.err")
endif()

foreach(mode arg stdin)
  if(mode STREQUAL "arg")
    execute_process(COMMAND ${SCHEDSIM} ${SCENARIO}
      RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  else()
    execute_process(COMMAND ${SCHEDSIM} INPUT_FILE ${SCENARIO}
      RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  endif()
  if(NOT rc EQUAL expected_rc)
    message(FATAL_ERROR "${name} (${mode}): exit ${rc}, expected ${expected_rc}\nstderr:\n${err}")
  endif()
  if(NOT out STREQUAL expected)
    message(FATAL_ERROR "${name} (${mode}): stdout differs\n--- got:\n${out}--- expected:\n${expected}")
  endif()
  if(expected_rc EQUAL 2)
    string(FIND "${err}" "${expected_err}" pos)
    if(pos EQUAL -1)
      message(FATAL_ERROR "${name} (${mode}): stderr lacks '${expected_err}':\n${err}")
    endif()
  endif()
endforeach()
