#!/bin/sh
# Written by mmplugin-gen bundle: Mattermost starts a gRPC plugin as `venv/bin/python EXECUTABLE`,
# so this stands in for Python and execs the plugin binary, which then gets the host's signals and kill.
[ $# -gt 0 ] || { echo 'usage: venv/bin/python EXECUTABLE [ARG...] (runs the plugin EXECUTABLE in its place)' >&2; exit 2; }
case $1 in /*) exe=$1 ;; *) exe=./$1 ;; esac
shift
exec "$exe" "$@"
