# Builds and runs tests/consumer as a separate project, using ctt either from an install prefix
# (MODE=find_package) or from its source tree (MODE=add_subdirectory).
file(REMOVE_RECURSE ${WORK_DIR})
set(consumer_args -S ${CTT_SOURCE_DIR}/tests/consumer -B ${WORK_DIR}/build
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCTT_CONSUMER_MODE=${MODE}
    -DCTT_CONSUMER_CHECKPOINT=${CTT_SOURCE_DIR}/tests/data/hf/llama)
if(MODE STREQUAL "find_package")
  execute_process(COMMAND ${CMAKE_COMMAND} --install ${CTT_BINARY_DIR} --prefix ${WORK_DIR}/prefix
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "installing ctt failed")
  endif()
  list(APPEND consumer_args -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
else()
  list(APPEND consumer_args -DCTT_SOURCE_DIR=${CTT_SOURCE_DIR})
endif()
foreach(step configure build run)
  if(step STREQUAL "configure")
    set(cmd ${CMAKE_COMMAND} ${consumer_args})
  elseif(step STREQUAL "build")
    set(cmd ${CMAKE_COMMAND} --build ${WORK_DIR}/build)
  else()
    set(cmd ${WORK_DIR}/build/consumer ${CTT_SOURCE_DIR}/tests/data/hf/llama/model.safetensors)
  endif()
  execute_process(COMMAND ${cmd} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer ${MODE}: ${step} failed")
  endif()
endforeach()
