# torch-from-python.cmake: points find_package(Torch) at the LibTorch inside a Python `torch` package.
#
# Input: GOLF_TORCH_PYTHON (a Python interpreter), GOLF_REQUIRE_CUDA. Checks that the package imports,
# is 2.4 or newer, and is CUDA-enabled when CUDA is required (with the CUDA toolkit present and of
# the same major version, so golf's CUDA code and LibTorch share one CUDA runtime); then puts the
# package's prefix first on CMAKE_PREFIX_PATH. The prefix itself (not only its share/cmake) must be
# there: TorchConfig finds c10 with find_library, which would otherwise take a system libc10.
set(_probe [=[
import sys
try:
    import torch, torch.utils
except Exception as e:
    sys.exit("cannot import torch: %s" % e)
print(torch.__version__.split("+")[0])
print(torch.version.cuda or "")
print(torch.utils.cmake_prefix_path)
print(torch.__file__)
]=])
execute_process(COMMAND "${GOLF_TORCH_PYTHON}" -c "${_probe}"
                RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "GOLF_TORCH_PYTHON=${GOLF_TORCH_PYTHON}: ${_err}${_rc}\n"
                      "Install the pinned torch with scripts/install-torch.sh, or point GOLF_TORCH_PYTHON at a Python with torch 2.4+.")
endif()
string(REPLACE "\n" ";" _out "${_out}")
list(GET _out 0 GOLF_TORCH_PACKAGE_VERSION)
list(GET _out 1 GOLF_TORCH_PACKAGE_CUDA)
list(GET _out 2 _cmake_prefix)
list(GET _out 3 _torch_file)
get_filename_component(_torch_root "${_cmake_prefix}/../.." ABSOLUTE)
if(GOLF_TORCH_PACKAGE_VERSION VERSION_LESS 2.4)
  message(FATAL_ERROR "${_torch_file} is torch ${GOLF_TORCH_PACKAGE_VERSION}; golf needs torch 2.4 or newer "
                      "(scripts/install-torch.sh installs the tested version)")
endif()
if(GOLF_REQUIRE_CUDA AND GOLF_TORCH_PACKAGE_CUDA STREQUAL "")
  message(FATAL_ERROR "${_torch_file} is torch ${GOLF_TORCH_PACKAGE_VERSION} without CUDA, and GOLF_REQUIRE_CUDA is on: "
                      "install a CUDA-enabled torch (scripts/install-torch.sh)")
endif()
if(NOT GOLF_TORCH_PACKAGE_CUDA STREQUAL "")
  find_package(CUDAToolkit QUIET)
  if(NOT CUDAToolkit_FOUND)
    message(FATAL_ERROR "${_torch_file} is torch ${GOLF_TORCH_PACKAGE_VERSION} built for CUDA ${GOLF_TORCH_PACKAGE_CUDA}; "
                        "building against it needs the CUDA toolkit (nvcc on PATH or CUDAToolkit_ROOT). See docs/gpu.md.")
  endif()
  string(REGEX MATCH "^[0-9]+" _torch_cuda_major "${GOLF_TORCH_PACKAGE_CUDA}")
  if(NOT CUDAToolkit_VERSION_MAJOR EQUAL _torch_cuda_major)
    message(FATAL_ERROR "CUDA toolkit ${CUDAToolkit_VERSION} (${CUDAToolkit_BIN_DIR}) and torch ${GOLF_TORCH_PACKAGE_VERSION} "
                        "(CUDA ${GOLF_TORCH_PACKAGE_CUDA}) differ in major version; golf's CUDA code and LibTorch must share "
                        "one CUDA runtime. Use a toolkit of CUDA ${_torch_cuda_major}.x or a matching torch.")
  endif()
endif()
list(PREPEND CMAKE_PREFIX_PATH "${_torch_root}" "${_cmake_prefix}")
set(GOLF_TORCH_ROOT "${_torch_root}")
message(STATUS "golf: LibTorch from torch ${GOLF_TORCH_PACKAGE_VERSION} (CUDA ${GOLF_TORCH_PACKAGE_CUDA}) at ${_torch_root}")
