#!/usr/bin/env bash
# The probe matrix of benches/load.sh alone, no load: starts the same
# upstreams, attestgate and its peers (nginx + Lua, HAProxy jwt_verify,
# Envoy jwt_authn; benches/load/peers.sh), runs the sanity checks (each
# must refuse forged, alg-confused, expired tokens and strip the token),
# then sends every checker the hostile tokens of benches/load/jwt.py and
# prints what each lets through: the check matrix of docs/PERFORMANCE.md.
#
#   benches/load/probe.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PROBES_ONLY=1 exec benches/load.sh
