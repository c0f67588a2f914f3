# Helpers shared by the end-to-end checks of the moelab program (included by check_*.cmake).

# Runs the command; fails the check unless it exits 0. Its stdout goes to out_var.
function(run_ok out_var)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()

function(expect text regex what)
  if(NOT text MATCHES "${regex}")
    message(FATAL_ERROR "${what}: expected /${regex}/ in:\n${text}")
  endif()
endfunction()

# The command must fail with a short (at most two-line) error on stderr that matches regex.
function(run_fails regex what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc EQUAL 0)
    message(FATAL_ERROR "${what}: succeeded: ${ARGN}")
  endif()
  expect("${err}" "${regex}" "${what}")
  string(STRIP "${err}" err)
  string(REGEX MATCHALL "\n" nl "${err}")
  list(LENGTH nl lines)
  if(lines GREATER 1)
    message(FATAL_ERROR "${what}: expected a short error, got:\n${err}")
  endif()
endfunction()
