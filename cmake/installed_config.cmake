# Writes the config `cmake --install` puts in /etc/switchboard: the example
# file, with its relative state paths (database, credentials) made absolute
# under SB_STATE_DIR (the unit's StateDirectory). The daemon reads them
# relative to its working folder; the CLI reads the same file from any
# folder, so there they must be absolute.
#   -DSB_CONFIG_IN=... -DSB_CONFIG_OUT=... -DSB_STATE_DIR=...
file(READ "${SB_CONFIG_IN}" ini)
foreach(key db-path admin-token-file report-token-file)
  string(REGEX REPLACE "\n${key}=\"([^/\"][^\"]*)\""
         "\n${key}=\"${SB_STATE_DIR}/\\1\"" ini "${ini}")
endforeach()
file(WRITE "${SB_CONFIG_OUT}" "${ini}")
