# golf-sdk.cmake: the golf::sdk target and golf_add_plugin(), used by golf's own build and by
# outside projects through find_package(golf).
set(_GOLF_SDK_CMAKE_DIR ${CMAKE_CURRENT_LIST_DIR})

# Defines golf::sdk: SDK headers + LibTorch + GOLF_BUILD_CUDA for the fingerprint.
# REQUIRES: find_package(Torch) already ran in this project.
function(golf_define_sdk_target include_dir)
  if(TARGET golf::sdk)
    return()
  endif()
  add_library(golf_sdk INTERFACE IMPORTED GLOBAL)
  if(TORCH_CUDA_LIBRARIES)
    set(cuda 1)
  else()
    set(cuda 0)
  endif()
  set_target_properties(golf_sdk PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${include_dir}"
    INTERFACE_COMPILE_DEFINITIONS "GOLF_BUILD_CUDA=${cuda}"
    INTERFACE_COMPILE_FEATURES cxx_std_17)
  # TORCH_LIBRARIES carries LibTorch's own compile flags (e.g. _GLIBCXX_USE_CXX11_ABI). libstdc++ is
  # named first so it precedes LibTorch among the needed libraries: the torch package's libtorch.so
  # exports its own std::filesystem symbols, and binding to those crashes.
  set_property(TARGET golf_sdk PROPERTY INTERFACE_LINK_LIBRARIES stdc++ ${TORCH_LIBRARIES})
  add_library(golf::sdk ALIAS golf_sdk)
endfunction()

# golf_add_plugin(<target> SOURCES <files...> [LIBRARIES <targets...>] [OUTPUT_DIRECTORY <dir>])
# Builds a plugin library (a MODULE: loaded with dlopen, never linked against). Only the entry
# point written by GOLF_PLUGINS is exported. SOURCES is all of the plugin's own code, headers
# included: their bytes are what the plugin adds to a run's bytes_code, recorded beside the library
# in <library>.code (cmake/plugin-code.cmake), which is installed with it.
function(golf_add_plugin target)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "golf_add_plugin(${target}): SOURCES is required")
  endif()
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE golf::sdk ${ARG_LIBRARIES})
  set_target_properties(${target} PROPERTIES CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  endif()
  set(code "")
  foreach(src IN LISTS ARG_SOURCES)
    get_filename_component(abs "${src}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    list(APPEND code "${abs}")
  endforeach()
  string(REPLACE ";" "|" code "${code}")  # one command-line argument
  add_custom_command(TARGET ${target} POST_BUILD
    COMMAND ${CMAKE_COMMAND} -DOUT=$<TARGET_FILE:${target}>.code "-DFILES=${code}" -P ${_GOLF_SDK_CMAKE_DIR}/plugin-code.cmake
    VERBATIM)
endfunction()
