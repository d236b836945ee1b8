# plugin-code.cmake: writes a plugin library's code manifest, <library>.code: one line per source
# file, "<bytes> <sha256> <name>". golf-host sums these bytes as bytes_code for the plugins a
# pipeline uses (host/code_bytes.cpp). Run by golf_add_plugin() after each build:
#   cmake -DOUT=<library>.code -DFILES=<absolute paths, |-separated> -P plugin-code.cmake
string(REPLACE "|" ";" FILES "${FILES}")
set(text "# golf plugin code: bytes sha256 file, for bytes_code\n")
foreach(f IN LISTS FILES)
  file(SIZE "${f}" bytes)
  file(SHA256 "${f}" sha)
  get_filename_component(name "${f}" NAME)
  string(APPEND text "${bytes} ${sha} ${name}\n")
endforeach()
file(WRITE "${OUT}.tmp" "${text}")
file(RENAME "${OUT}.tmp" "${OUT}")
