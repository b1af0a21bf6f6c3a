# ctt_add_hf_model(<target> CONFIG <config.json> [NAMESPACE <ns>] [HEADER <name.hpp>]
#                  [ARCHITECTURE <HF class>] [WEIGHTS f32|bf16|f16|int8]
#                  [KV_CACHE f32|bf16|f16])
#
# Turns a Hugging Face config.json into a compiled model type. At configure time it builds the
# small ctt-hf-config tool (once per build tree) and runs it to write <name.hpp> (default
# <target>.hpp), which defines `<ns>::config` and `<ns>::model` (default namespace: <target>).
# <target> is an INTERFACE library: link it and `#include "<name.hpp>"`. ARCHITECTURE picks the
# HF class (GPT2ForSequenceClassification, ...) when config.json's "architectures" does not.
# WEIGHTS is how the model stores its projections once loaded (`config::weight_storage`); by
# default the checkpoint's torch_dtype (bfloat16 -> bf16, float16 -> f16, else f32).
# KV_CACHE is how a decoder's (or encoder-decoder's) sessions hold keys and values
# (`config::kv_cache_storage`, default f32): bf16 or f16 halve the bytes long-context decode
# reads. `<ns>::model_of<C>` is the family's template, for variants of `<ns>::config`.
#
# An unsupported model_type or setting stops the configuration with the tool's message. The
# header is regenerated when config.json changes.
include_guard(GLOBAL)

# Remembered globally: the function is called from other directories (a parent project that
# used add_subdirectory), where this file's variables are not visible.
set_property(GLOBAL PROPERTY CTT_HF_CONFIG_DIR "${CMAKE_CURRENT_LIST_DIR}")

function(_ctt_build_hf_config_tool out_exe)
  get_property(exe GLOBAL PROPERTY CTT_HF_CONFIG_TOOL)
  if(exe AND EXISTS "${exe}")
    set(${out_exe} "${exe}" PARENT_SCOPE)
    return()
  endif()
  # The tool source sits in tools/ of a source tree, or in share/ctt/tools of an install.
  get_property(dir GLOBAL PROPERTY CTT_HF_CONFIG_DIR)
  set(source "${dir}/../tools/ctt_hf_config.cpp")
  if(NOT EXISTS "${source}")
    set(source "${dir}/tools/ctt_hf_config.cpp")
  endif()
  set(include_dirs "")
  foreach(dep ctt::ctt nlohmann_json::nlohmann_json xsimd)
    if(TARGET ${dep})
      get_target_property(dirs ${dep} INTERFACE_INCLUDE_DIRECTORIES)
      if(dirs)
        list(APPEND include_dirs ${dirs})
      endif()
    endif()
  endforeach()
  # Build-tree targets report $<BUILD_INTERFACE:...>; keep the build-side paths.
  string(REGEX REPLACE "\\$<BUILD_INTERFACE:([^>]*)>" "\\1" include_dirs "${include_dirs}")
  string(REGEX REPLACE "\\$<INSTALL_INTERFACE:[^>]*>" "" include_dirs "${include_dirs}")
  set(exe "${CMAKE_BINARY_DIR}/ctt_tools/ctt-hf-config${CMAKE_EXECUTABLE_SUFFIX}")
  try_compile(ok "${CMAKE_BINARY_DIR}/ctt_tools/build"
              SOURCES "${source}"
              CMAKE_FLAGS "-DINCLUDE_DIRECTORIES=${include_dirs}"
              CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON
              COPY_FILE "${exe}"
              OUTPUT_VARIABLE log)
  if(NOT ok)
    message(FATAL_ERROR "ctt_add_hf_model: building ctt-hf-config failed:\n${log}")
  endif()
  set_property(GLOBAL PROPERTY CTT_HF_CONFIG_TOOL "${exe}")
  set(${out_exe} "${exe}" PARENT_SCOPE)
endfunction()

function(ctt_add_hf_model target)
  cmake_parse_arguments(arg "" "CONFIG;NAMESPACE;HEADER;ARCHITECTURE;WEIGHTS;KV_CACHE" "" ${ARGN})
  if(NOT arg_CONFIG)
    message(FATAL_ERROR "ctt_add_hf_model(${target}): CONFIG <config.json> is required")
  endif()
  get_filename_component(config "${arg_CONFIG}" ABSOLUTE)
  if(NOT EXISTS "${config}")
    message(FATAL_ERROR "ctt_add_hf_model(${target}): ${config} does not exist")
  endif()
  if(NOT arg_NAMESPACE)
    set(arg_NAMESPACE ${target})
  endif()
  if(NOT arg_HEADER)
    set(arg_HEADER ${target}.hpp)
  endif()
  set(weights "")
  if(arg_WEIGHTS)
    set(weights --weights ${arg_WEIGHTS})
  endif()
  if(arg_KV_CACHE)
    list(APPEND weights --kv-cache ${arg_KV_CACHE})
  endif()
  _ctt_build_hf_config_tool(tool)
  set(out_dir "${CMAKE_CURRENT_BINARY_DIR}/ctt_models/${target}")
  file(MAKE_DIRECTORY "${out_dir}")
  execute_process(COMMAND "${tool}" "${config}" "${out_dir}/${arg_HEADER}" "${arg_NAMESPACE}"
                          ${arg_ARCHITECTURE} ${weights} RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    string(STRIP "${err}" err)
    message(FATAL_ERROR "ctt_add_hf_model(${target}): ${err}")
  endif()
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${config}")
  add_library(${target} INTERFACE)
  target_include_directories(${target} INTERFACE "${out_dir}")
  target_link_libraries(${target} INTERFACE ctt::ctt)
endfunction()
