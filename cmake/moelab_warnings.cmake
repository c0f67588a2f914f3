# Warnings are errors in moelab's own targets (not in third-party headers).
function(moelab_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Wno-unused-parameter)
  if(MOELAB_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
