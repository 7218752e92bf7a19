#!/usr/bin/env bash
# Soak (OP-2 item 8): Bulwark on PostgreSQL, pinned to one core, first driven to its maximum
# token rate (closed loop, c=64, 20 s), then held for DURATION seconds (default 600) at 80 %
# of it with 15 % introspections and 5 % revocations (open loop). Every 10 s: requests,
# errors, p50/p99 and the server's RSS; every 60 s: the row counts of used_jtis and
# revoked_tokens (the purge must keep them bounded).
#
#   bench/soak/run.sh                  # results in /tmp/soak-results/<ts>/ (summary.md)
#   DURATION=120 SHARE=0.8 bench/soak/run.sh
set -euo pipefail
OUT="${OUT:-/tmp/soak-results/$(date -u +%Y%m%dT%H%M%SZ)}"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
DURATION="${DURATION:-600}"
SHARE="${SHARE:-0.8}"
start_server

taskset -c "$CLIENT_CPUS" "$LOAD" "${LOAD_ARGS[@]}" --mode max --concurrency 64 --duration 20 | tee "$OUT/max.json"
MAX=$(python3 -c "import json;print(json.load(open('$OUT/max.json'))['per_second'])")
RATE=$(python3 -c "print(int($MAX * $SHARE))")
echo "maximum $MAX tokens/s; soaking at $RATE requests/s for $DURATION s"

# The replay tables are queues (every row is deleted within minutes of its insert): they need
# autovacuum, as any production PostgreSQL has. A server with it off (some test machines) gets
# the same work done here, once a minute, or the tables bloat and latency creeps up.
AUTOVACUUM=$(psql "$DB" -Atc 'SHOW autovacuum')
[[ "$AUTOVACUUM" == on ]] || echo "autovacuum is off on this server: vacuuming the replay tables every minute instead"
( while true; do
    printf '{"t": %s, "used_jtis": %s, "revoked_tokens": %s, "dead_tuples": %s}\n' "$(date +%s)" \
      "$(psql "$DB" -Atc 'SELECT count(*) FROM used_jtis')" \
      "$(psql "$DB" -Atc 'SELECT count(*) FROM revoked_tokens')" \
      "$(psql "$DB" -Atc "SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables WHERE relname IN ('used_jtis', 'revoked_tokens')")"
    [[ "$AUTOVACUUM" == on ]] || psql "$DB" -qc 'VACUUM (ANALYZE) used_jtis, revoked_tokens' >/dev/null
    sleep 60
  done ) > "$OUT/rows.jsonl" &
ROWS_PID=$!
taskset -c "$CLIENT_CPUS" "$LOAD" "${LOAD_ARGS[@]}" --mode soak --rate "$RATE" --duration "$DURATION" \
  --window 10 --server-pid "$SERVER_PID" | tee "$OUT/windows.jsonl"
kill "$ROWS_PID" 2>/dev/null || true

python3 - "$OUT" "$MAX" "$RATE" <<'PY' | tee "$OUT/summary.md"
import json, sys
out, mx, rate = sys.argv[1], float(sys.argv[2]), sys.argv[3]
w = [json.loads(l) for l in open(f"{out}/windows.jsonl") if l.strip()]
rows = [json.loads(l) for l in open(f"{out}/rows.jsonl") if l.strip()]
print(f"# Soak: {len(w) * 10} s at {rate} req/s ({float(rate) / mx:.0%} of {mx:.0f} tokens/s max)\n")
print("| t (s) | req/s | token | introspect | revoke | errors | p50 ms | p99 ms | RSS MiB | server fds |")
print("|---|---|---|---|---|---|---|---|---|---|")
for x in w:
    if x["t"] % 60 == 0 or x is w[0] or x is w[-1]:
        print(f"| {x['t']} | {x['per_second']:.0f} | {x['token']} | {x['introspect']} | {x['revoke']} | {x['errors']} | {x['p50_ms']:.2f} | {x['p99_ms']:.2f} | {x['rss_mib'] or 0:.1f} | {x.get('fds') or ''} |")
errors = sum(x["errors"] for x in w)
kinds = {}
for x in w:
    for k, v in x["error_kinds"].items():
        kinds[k] = kinds.get(k, 0) + v
rss = [x["rss_mib"] for x in w if x["rss_mib"]]
warm = rss[len(rss) // 5:] if rss else []
print(f"\nerrors: {errors} {kinds}; dropped by the generator (1024 in flight): {sum(x['dropped'] for x in w)}")
if warm:
    print(f"RSS after the first fifth: min {min(warm):.1f} MiB, max {max(warm):.1f} MiB, last {warm[-1]:.1f} MiB")
p99 = [x["p99_ms"] for x in w[len(w) // 5:]]
if p99:
    print(f"p99 after the first fifth: min {min(p99):.2f} ms, median {sorted(p99)[len(p99)//2]:.2f} ms, max {max(p99):.2f} ms")
print("\n| minute | used_jtis | revoked_tokens | dead tuples |\n|---|---|---|---|")
for i, r in enumerate(rows):
    print(f"| {i} | {r['used_jtis']} | {r['revoked_tokens']} | {r.get('dead_tuples', '')} |")
PY
