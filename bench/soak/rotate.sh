#!/usr/bin/env bash
# Signing-key rotation under load (DS-2): Bulwark on PostgreSQL issues ES256 access tokens to
# 16 workers; each token is verified as a resource server would, against a copy of /jwks
# refreshed only every CACHE seconds (never on an unknown kid). At 10 s `bulwark keys rotate
# --alg ES256 --activate-in ACTIVATE` runs (ACTIVATE > CACHE + reload): no valid token may
# be refused. At 70 s a second rotation with --immediately (a compromise: no time to publish) shows the
# check can fail: tokens signed with a key the cache does not hold yet are refused.
#
#   bench/soak/rotate.sh               # results in /tmp/soak-results/rotate-<ts>/
set -euo pipefail
OUT="${OUT:-/tmp/soak-results/rotate-$(date -u +%Y%m%dT%H%M%SZ)}"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
CACHE="${CACHE:-20}"
ACTIVATE="${ACTIVATE:-30}"
export BULWARK_TOKENS__ACCESS_TOKEN_ALG=ES256 BULWARK_KEYS__RELOAD_SECS=2
start_server
taskset -c "$CLIENT_CPUS" "$LOAD" "${LOAD_ARGS[@]}" --mode rotate --concurrency 16 --duration 110 \
  --window "$CACHE" > "$OUT/rotate.jsonl" &
LOAD_PID=$!
sleep 10
"$BIN" keys rotate --alg ES256 --activate-in "$ACTIVATE" | tee "$OUT/rotation-1.txt"
sleep 60
"$BIN" keys rotate --alg ES256 --immediately | tee "$OUT/rotation-2.txt"
wait "$LOAD_PID"
"$BIN" keys list | tee "$OUT/keys.txt"
python3 - "$OUT" <<'PY' | tee "$OUT/summary.md"
import json, sys
rows = [json.loads(l) for l in open(f"{sys.argv[1]}/rotate.jsonl") if l.strip()]
print("| t (s) | tokens | verified | refused | signing kid(s) | kids in the RS cache |")
print("|---|---|---|---|---|---|")
for r in rows:
    short = lambda ks: ", ".join(k[:8] for k in ks)
    print(f"| {r['t']} | {r['tokens']} | {r['verified']} | {r['refused']} | {short(r['signing_kids'])} | {short(r['cached_kids'])} |")
first = [r for r in rows if r["t"] < 70]
print(f"\nplanned rotation (published {'>'} cache + reload before signing): refused {sum(r['refused'] for r in first)} of {sum(r['tokens'] for r in first)}")
second = [r for r in rows if r["t"] >= 70]
print(f"immediate rotation (control): refused {sum(r['refused'] for r in second)} of {sum(r['tokens'] for r in second)}")
PY
