#!/usr/bin/env bash
# Checks proto/ against the last release's image (.ci/releases/<tag>.binpb) with buf's breaking rules (buf.yaml).
# A finding fails the check unless .ci/releases/accepted-breaks.txt lists it: the deliberate breaks since that
# release, each also recorded in CHANGELOG.md. Findings are compared without their line and column, which move.
# When a version is released: tag it, write its image with
#   npx buf build '.git#tag=vX.Y.Z' --exclude-path proto/google -o .ci/releases/vX.Y.Z.binpb
# point RELEASE below at it, and empty accepted-breaks.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
RELEASE=.ci/releases/v0.1.0.binpb
accepted=.ci/releases/accepted-breaks.txt

findings=$(npx buf breaking --against "$RELEASE" 2>&1 | sed -E 's/:[0-9]+:[0-9]+:/: /')
status=0
while IFS= read -r finding; do
  [ -z "$finding" ] && continue
  if ! grep -vE '^(#|$)' "$accepted" | grep -qxF -- "$finding"; then
    echo "not an accepted break: $finding"
    status=1
  fi
done <<<"$findings"
if [ $status -ne 0 ]; then
  echo "proto/ breaks the last release ($RELEASE) in a way that is not accepted. If the break is deliberate, record it in"
  echo "CHANGELOG.md and add the line above to $accepted; otherwise undo it."
else
  echo "no break against $RELEASE beyond the $(grep -cvE '^(#|$)' "$accepted") accepted ones"
fi
exit $status
