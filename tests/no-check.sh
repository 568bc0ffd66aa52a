#!/bin/sh
# no-check.sh: stands in for the unit tests when configure found no Check.
echo "SKIP: the Check library was not found; install check (./bootstrap --deps) and re-run configure"
exit 77
