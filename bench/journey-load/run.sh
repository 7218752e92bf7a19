#!/usr/bin/env bash
# Load benchmark of the whole FAPI 2.0 authorization journey with a logged-in PSU session:
# Bulwark (release build, PostgreSQL and embedded SQLite) side by side with the peer
# panva/oidc-provider 9 (../../../shared/peers/oidc-provider/fapi2-op.mjs), per core: each
# server pinned to CPU $SERVER_CPU, the generator (journey-load, this folder) to CPU $CLIENT_CPU.
# Every run starts a fresh server (and a fresh PostgreSQL database), sets up (consents, logins,
# pre-signed assertions; not measured), warms up, measures, stops the server. Bulwark and peer
# runs are interleaved. See README.md.
#
#   bench/journey-load/run.sh                       # the whole matrix (~18 min)
#   ALGS=PS256 REPS=1 CONCS=8 bench/journey-load/run.sh   # a subset
#   bench/journey-load/run.sh --summarize DIR        # (re)write DIR/summary.md from DIR/results.jsonl
#
# Env (defaults): BIN (target/release/bulwark; build it first: cargo build --release -p bulwark-server),
#   OUT (/tmp/journey-bench-results/<UTC ts>), CARGO_TARGET_DIR (/tmp/journey-load-target),
#   PEERS_DEPS (/tmp/peers-deps), PEERS_PKI (/tmp/peers-pki), SERVER_CPU (1), CLIENT_CPU (0),
#   NICE (0; both server and generator), CONCS ("8 32"), WARMUP (3), DURATION (20),
#   ALGS ("PS256 ES256"), REPS_PS256 (3), REPS_ES256 (2), VARIANTS ("bulwark-pg peer bulwark-sqlite"),
#   SQLITE_ALGS ("PS256 ES256"), REPS_SQLITE (2), POOL_BULWARK (first run; later runs size it
#   from the measured rate), POOL_PEER (20000), QUIET_WAIT (60 s to wait for < QUIET_MAX_BUSY %
#   busy before a run), QUIET_MAX_BUSY (15), OTHER_MAX (0.15 cores: a run in which other
#   processes used more is repeated, up to RETRIES more times), RETRIES (2), LOGIN (1: measure the
#   PSU login cost), PROFILE (1: perf profile of one extra Bulwark run, not in the tables),
#   PROFILE_DBS ("pg sqlite"), PROFILE_ALG (PS256: the access token alg of the profiled run),
#   PG_ADMIN_URL (postgres://postgres@127.0.0.1:5432/postgres), PG_DB (journey_bench).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

# ------------------------------------------------------------------------------------------
# summary (python3): results.jsonl -> summary.md
summarize() {
  local dir="$1"
  python3 - "$dir" <<'PY'
import json, sys, statistics, os, collections
d = sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(d, "results.jsonl")) if l.strip()]
out = []
def med(v): return statistics.median(v) if v else float("nan")
def f(x, n=1):
    return "-" if x is None or x != x else f"{x:,.{n}f}"
J = [r for r in rows if r.get("mode") == "journey" and not r.get("profile_run")]
groups = collections.OrderedDict()
for r in J:
    groups.setdefault((r["alg"], r["concurrency"], r["variant"]), []).append(r)
order = {"bulwark-pg": 0, "bulwark-sqlite": 1, "peer": 2}
keys = sorted(groups, key=lambda k: (["PS256", "ES256"].index(k[0]) if k[0] in ("PS256", "ES256") else 9, k[1], order.get(k[2], 9)))
out.append("## Journeys (PAR -> /authorize with session -> consent page -> consent POST -> code -> token)\n")
out.append("Server pinned to one core; generator on the other. Per cell: median over the runs (min .. max for journeys/s); "
           "server CPU from /proc/<pid>/stat utime+stime over the measured window; for Bulwark on PostgreSQL the "
           "PostgreSQL backends serving it (pinned to the server's core) are shown separately and in `srv+db`.\n")
out.append("| alg | conc | server | runs | journeys/s median (min..max) | server CPU ms/journey | db CPU ms/journey | srv+db ms/journey | p50 ms | p99 ms | HTTP req/journey | errors | client µs/journey | other cores (max) | steal % (max) |")
out.append("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for k in keys:
    g = groups[k]
    jps = [r["journeys_per_s"] for r in g]
    cpu = [r["server_cpu_ms_per_journey"] for r in g if r.get("server_cpu_ms_per_journey") is not None]
    db = [r["db_cpu_ms_per_journey"] for r in g if r.get("db_cpu_ms_per_journey") is not None]
    tot = [r["server_plus_db_cpu_ms_per_journey"] for r in g if r.get("server_plus_db_cpu_ms_per_journey") is not None]
    p50 = [r["latency_ms"]["p50"] for r in g]; p99 = [r["latency_ms"]["p99"] for r in g]
    err = sum(r["errors"] for r in g)
    cl = [r["client_cpu_us_per_journey"] for r in g]
    oth = [r.get("other_cpu_cores") or 0 for r in g]; st = [r.get("steal_pct") or 0 for r in g]
    dis = " (DISTURBED)" if any(r.get("disturbed") for r in g) else ""
    out.append(f"| {k[0]} | {k[1]} | {k[2]}{dis} | {len(g)} | {f(med(jps))} ({f(min(jps))}..{f(max(jps))}) | {f(med(cpu),3)} | {f(med(db),3) if db else '-'} | {f(med(tot),3) if db else '-'} | {f(med(p50),2)} | {f(med(p99),2)} | {f(med([r['http_requests_per_journey'] for r in g]),1)} | {err} | {f(med(cl),0)} | {f(max(oth),2)} | {f(max(st),1)} |")
# ratios
out.append("\n## Ratios Bulwark / peer (same alg, same concurrency, same sitting)\n")
out.append("| alg | conc | Bulwark | journeys/s ratio (median/median) | min/min | peer CPU / Bulwark CPU per journey (server only) | (server + db) | goal >= 4x journeys/s | goal <= 1 ms CPU/journey |")
out.append("|---|---:|---|---:|---:|---:|---:|---|---|")
for (alg, conc, var) in keys:
    if var == "peer" or (alg, conc, "peer") not in groups: continue
    b = groups[(alg, conc, var)]; p = groups[(alg, conc, "peer")]
    bj = med([r["journeys_per_s"] for r in b]); pj = med([r["journeys_per_s"] for r in p])
    bmin = min(r["journeys_per_s"] for r in b); pmin = min(r["journeys_per_s"] for r in p)
    bc = med([r["server_cpu_ms_per_journey"] for r in b]); pc = med([r["server_cpu_ms_per_journey"] for r in p])
    bt = med([r["server_plus_db_cpu_ms_per_journey"] for r in b])
    out.append(f"| {alg} | {conc} | {var} | {bj/pj:.2f}x | {bmin/pmin:.2f}x | {pc/bc:.2f}x | {pc/bt:.2f}x | {'yes' if bj/pj >= 4 else 'no'} | {'yes' if bt <= 1.0 else 'no'} ({bt:.3f} ms) |")
# steps
out.append("\n## Per-step latency, median of the runs' p50 (ms)\n")
steps = ["par", "authorize", "page", "consent_post", "resume", "token"]
out.append("| alg | conc | server | " + " | ".join(steps) + " |")
out.append("|---|---:|---|" + "---:|" * len(steps))
for k in keys:
    g = groups[k]
    cells = []
    for s in steps:
        v = [r["step_latency_ms"][s]["p50"] for r in g if s in r.get("step_latency_ms", {})]
        cells.append(f(med(v), 2) if v else "-")
    out.append(f"| {k[0]} | {k[1]} | {k[2]} | " + " | ".join(cells) + " |")
# preflight facts
out.append("\n## What the servers issued (setup journey of each run)\n")
seen = set()
for r in J:
    key = (r["variant"], r["alg"])
    if key in seen: continue
    seen.add(key)
    p = r.get("preflight", {})
    out.append(f"* {r['variant']} {r['alg']}: access token {p.get('access_token_alg')} typ={p.get('access_token_typ')} ({p.get('access_token_len')} chars), cnf.x5t#S256 = client cert: {p.get('cnf_x5t_matches_client_cert')}, ID token {p.get('id_token_alg')}, openbanking_intent_id in ID token: {'yes' if p.get('id_token_openbanking_intent_id') else 'no'}, refresh token: {p.get('refresh_token')}, HTTP requests of a journey with login: {p.get('requests_per_journey_with_login')}")
# logins
L = [r for r in rows if r.get("mode") == "login"]
if L:
    out.append("\n## PSU login (Bulwark: POST of the login form, argon2id m=19 MiB t=2 p=1), server pinned to one core\n")
    out.append("| server | conc | logins | logins/s | server CPU ms/login | p50 ms | p99 ms | errors |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in L:
        out.append(f"| {r['variant']} {r.get('alg','')} | {r['concurrency']} | {r['logins_ok']} | {f(r['logins_per_s'])} | {f(r['server_cpu_ms_per_login'],2)} | {f(r['latency_ms']['p50'],1)} | {f(r['latency_ms']['p99'],1)} | {r['errors']} |")
dist = os.path.join(d, "results-disturbed.jsonl")
if os.path.exists(dist):
    n = sum(1 for l in open(dist) if l.strip())
    out.append(f"\n{n} disturbed attempt(s) were repeated (results-disturbed.jsonl).")
text = "\n".join(out) + "\n"
open(os.path.join(d, "summary.md"), "w").write(text)
print(text)
PY
}

if [[ "${1:-}" == "--summarize" ]]; then summarize "$2"; exit 0; fi

BIN="${BIN:-$ROOT/target/release/bulwark}"
PEERS="${PEERS:-$ROOT/../shared/peers}"
PEERS_DEPS="${PEERS_DEPS:-/tmp/peers-deps}"
PEERS_PKI="${PEERS_PKI:-/tmp/peers-pki}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/journey-load-target}"
GEN="$CARGO_TARGET_DIR/release/journey-load"
OUT="${OUT:-/tmp/journey-bench-results/$(date -u +%Y%m%dT%H%M%SZ)}"
WORKBASE="${WORKBASE:-/tmp/journey-load-work}"
SERVER_CPU="${SERVER_CPU:-1}"
CLIENT_CPU="${CLIENT_CPU:-0}"
NICE="${NICE:-0}"
CONCS="${CONCS:-8 32}"
WARMUP="${WARMUP:-3}"
DURATION="${DURATION:-20}"
ALGS="${ALGS:-PS256 ES256}"
REPS_PS256="${REPS_PS256:-3}"
REPS_ES256="${REPS_ES256:-2}"
VARIANTS="${VARIANTS-bulwark-pg peer bulwark-sqlite}"
SQLITE_ALGS="${SQLITE_ALGS-PS256 ES256}"
REPS_SQLITE="${REPS_SQLITE:-2}"
POOL_BULWARK="${POOL_BULWARK:-20000}"
POOL_PEER="${POOL_PEER:-20000}"
QUIET_WAIT="${QUIET_WAIT:-60}"
QUIET_MAX_BUSY="${QUIET_MAX_BUSY:-15}"
OTHER_MAX="${OTHER_MAX:-0.15}"
RETRIES="${RETRIES:-2}"
LOGIN="${LOGIN:-1}"
PROFILE="${PROFILE:-1}"
PROFILE_DBS="${PROFILE_DBS:-pg sqlite}"
PROFILE_ALG="${PROFILE_ALG:-PS256}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PG_DB="${PG_DB:-journey_bench}"
PG_URL="${PG_ADMIN_URL%/*}/$PG_DB"
mkdir -p "$OUT/logs"

log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/run.log" >&2; }

# ---- prerequisites -------------------------------------------------------------------------
[[ -x "$BIN" ]] || { echo "no Bulwark binary at $BIN: cd $ROOT && cargo build --release -p bulwark-server"; exit 1; }
log "building journey-load (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
cargo build --release --manifest-path "$HERE/Cargo.toml" 2>&1 | tail -2
if [[ ! -d "$PEERS_DEPS/op9/node_modules/oidc-provider" ]]; then
  mkdir -p "$PEERS_DEPS/op9"; cp "$PEERS/deps/op9/package.json" "$PEERS/deps/op9/package-lock.json" "$PEERS_DEPS/op9/"
  (cd "$PEERS_DEPS/op9" && npm ci --no-audit --no-fund --loglevel=error)
fi
[[ -f "$PEERS_PKI/client-jwt.key" ]] || PEERS_PKI="$PEERS_PKI" "$PEERS/gen-certs.sh" >/dev/null

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
psql_admin() { psql "$PG_ADMIN_URL" -v ON_ERROR_STOP=1 -qAtc "$1"; }

SPID=""
stop_server() {
  if [[ -n "$SPID" ]]; then kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; SPID=""; fi
}
cleanup() {
  stop_server
  psql_admin "drop database if exists $PG_DB with (force)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# wait_ready ISSUER CAFILE LOG
wait_ready() {
  for _ in $(seq 150); do
    if ! kill -0 "$SPID" 2>/dev/null; then echo "server exited; log:"; tail -30 "$3"; return 1; fi
    if [[ -f "$2" ]] && curl -sf -o /dev/null --cacert "$2" "$1/.well-known/openid-configuration"; then return 0; fi
    sleep 0.2
  done
  echo "server not ready after 30 s; log:"; tail -30 "$3"; return 1
}

# ---- servers ---------------------------------------------------------------------------------
# start_bulwark DB ALG: fresh data dir (dev PKI, demo PSU), fresh database, client bench-client
# (the peers' ES256 client key), server pinned. Sets SPID ISSUER CA CERT KEY PSU_USER PSU_PASS DBMATCH.
start_bulwark() {
  local db="$1" alg="$2" work="$WORKBASE/bulwark-$1" port
  rm -rf "$work"; mkdir -p "$work"
  port="$(free_port)"
  ISSUER="https://localhost:$port"
  local dburl=""
  if [[ "$db" == pg ]]; then
    psql_admin "drop database if exists $PG_DB with (force)" >/dev/null
    psql_admin "create database $PG_DB" >/dev/null
    dburl="url = \"$PG_URL\""
    DBMATCH="$PG_DB"
  else
    DBMATCH=""
  fi
  cat > "$work/bulwark.toml" <<TOML
issuer = "$ISSUER"
data_dir = "$work/data"
[http]
listen = "127.0.0.1:$port"
[database]
$dburl
[tokens]
access_token_alg = "$alg"
[authorization]
session_lifetime_secs = 3600
interaction_lifetime_secs = 600
TOML
  openssl pkey -in "$PEERS_PKI/client-jwt.key" -pubout -out "$work/client-jwt.pub.pem"
  # like bench/journey's TPP, plus id_token_signed_response_alg PS256 (what the peer's client has)
  cat > "$work/client.json" <<'JSON'
{"client_id": "bench-client", "client_name": "Journey load TPP",
 "token_endpoint_auth_method": "private_key_jwt", "token_endpoint_auth_signing_alg": "ES256",
 "grant_types": ["client_credentials", "authorization_code", "refresh_token"], "response_types": ["code"],
 "redirect_uris": ["https://127.0.0.1/cb"], "scope": "openid accounts",
 "id_token_signed_response_alg": "PS256",
 "tls_client_certificate_bound_access_tokens": true, "resource_server": true}
JSON
  "$BIN" --config "$work/bulwark.toml" clients add --metadata "$work/client.json" \
    --public-key-pem "$work/client-jwt.pub.pem" --kid bench-client-es256 > "$work/client-added.json"
  SLOG="$OUT/logs/bulwark-$db-$alg-$RUNID.log"
  taskset -c "$SERVER_CPU" nice -n "$NICE" "$BIN" --config "$work/bulwark.toml" serve > "$SLOG" 2>&1 &
  SPID=$!
  CA="$work/data/dev-pki/ca.pem"; CERT="$work/data/dev-pki/client.pem"; KEY="$work/data/dev-pki/client-key.pem"
  wait_ready "$ISSUER" "$CA" "$SLOG"
  PSU_USER="$(sed -n 's/^username: //p' "$work/data/demo-psu.txt")"
  PSU_PASS="$(sed -n 's/^password: //p' "$work/data/demo-psu.txt")"
  [[ "$(cat /proc/$SPID/comm)" == bulwark ]] || { echo "pid $SPID is not bulwark"; exit 1; }
}

start_peer() {
  local alg="$1" port
  port="$(free_port)"
  ISSUER="https://127.0.0.1:$port"
  SLOG="$OUT/logs/peer-$alg-$RUNID.log"
  taskset -c "$SERVER_CPU" nice -n "$NICE" env PORT="$port" OP_DIR="$PEERS_DEPS/op9" PEERS_PKI="$PEERS_PKI" AT_ALG="$alg" \
    node "$PEERS/oidc-provider/fapi2-op.mjs" > "$SLOG" 2>&1 &
  SPID=$!
  CA="$PEERS_PKI/ca.crt"; CERT="$PEERS_PKI/client.crt"; KEY="$PEERS_PKI/client.key"
  PSU_USER=psu; PSU_PASS=any; DBMATCH=""
  wait_ready "$ISSUER" "$CA" "$SLOG"
  [[ "$(cat /proc/$SPID/comm)" == node ]] || { echo "pid $SPID is not node"; exit 1; }
}

start_variant() { # VARIANT ALG
  case "$1" in
    bulwark-pg) start_bulwark pg "$2" ;;
    bulwark-sqlite) start_bulwark sqlite "$2" ;;
    peer) start_peer "$2" ;;
  esac
}

# busy % of the whole machine over 2 s
busy_pct() {
  python3 - <<'PY'
import time
def s():
    v=[int(x) for x in open('/proc/stat').readline().split()[1:9]]
    return sum(v)-v[3]-v[4], sum(v)
b0,t0=s(); time.sleep(2); b1,t1=s(); print(round(100*(b1-b0)/max(1,t1-t0)))
PY
}
wait_quiet() {
  local waited=0 b
  while :; do
    b="$(busy_pct)"
    if (( b <= QUIET_MAX_BUSY )) || (( waited >= QUIET_WAIT )); then
      (( b > QUIET_MAX_BUSY )) && log "machine still ${b}% busy after ${waited}s; running anyway"
      return 0
    fi
    sleep 3; waited=$((waited + 5))
  done
}

# gen_args VARIANT ALG CONC POOL -> the generator's command line
declare -A LASTRATE=()
RUNID=0
# run_one VARIANT ALG CONC REP [extra label]: fresh server, one measured run, appended to results
run_one() {
  local variant="$1" alg="$2" conc="$3" rep="$4" attempt=0 pool line other exhausted
  while :; do
    RUNID=$((RUNID + 1))
    if [[ "$variant" == peer ]]; then pool="$POOL_PEER"
    else
      local r="${LASTRATE[$variant-$alg-$conc]:-}"
      if [[ -n "$r" ]]; then pool="$(python3 -c "print(max(3000, int($r * ($WARMUP + $DURATION) * 1.5)))")"; else pool="$POOL_BULWARK"; fi
    fi
    wait_quiet
    start_variant "$variant" "$alg"
    local dbargs=()
    [[ -n "$DBMATCH" ]] && dbargs=(--db-match "$DBMATCH" --pin-db-cpus "$SERVER_CPU")
    log "run $RUNID: $variant $alg c=$conc rep $rep (pool $pool, pid $SPID, $ISSUER)"
    set +e
    line="$(taskset -c "$CLIENT_CPU" nice -n "$NICE" timeout 900 "$GEN" --target "${variant%%-*}" --issuer "$ISSUER" \
      --ca "$CA" --cert "$CERT" --key "$KEY" --client-id bench-client --client-key "$PEERS_PKI/client-jwt.key" \
      --kid bench-client-es256 --username "$PSU_USER" --password "$PSU_PASS" --expect-at-alg "$alg" \
      --concurrency "$conc" --warmup "$WARMUP" --duration "$DURATION" --pool "$pool" \
      --server-pid "$SPID" "${dbargs[@]}" --label "$variant $alg c$conc r$rep" 2> >(tee -a "$OUT/logs/gen.log" >&2))"
    local rc=$?
    set -e
    stop_server
    if [[ $rc != 0 || -z "$line" ]]; then log "generator failed (rc $rc); server log $SLOG"; tail -5 "$SLOG" >&2; exit 1; fi
    line="$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r.update(variant=sys.argv[2], alg=sys.argv[3], rep=int(sys.argv[4]), attempt=int(sys.argv[5]), run_id=int(sys.argv[6])); print(json.dumps(r))' \
      "$line" "$variant" "$alg" "$rep" "$attempt" "$RUNID")"
    other="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("other_cpu_cores") or 0)' "$line")"
    exhausted="$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(1 if r["pool_exhausted"] else 0)' "$line")"
    LASTRATE[$variant-$alg-$conc]="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["journeys_per_s"])' "$line")"
    if [[ "$exhausted" == 1 ]]; then
      log "pool exhausted: again with a bigger pool"; echo "$line" >> "$OUT/results-disturbed.jsonl"; continue
    fi
    if python3 -c "import sys; sys.exit(0 if float('$other') > float('$OTHER_MAX') else 1)"; then
      if (( attempt < RETRIES )); then
        log "disturbed (other processes used $other cores): again"; echo "$line" >> "$OUT/results-disturbed.jsonl"
        attempt=$((attempt + 1)); continue
      fi
      line="$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r["disturbed"]=True; print(json.dumps(r))' "$line")"
    fi
    echo "$line" >> "$OUT/results.jsonl"
    return 0
  done
}

# ---- machine state -----------------------------------------------------------------------
{
  echo "date: $(date -u +%FT%TZ)"
  echo "nproc: $(nproc)"; echo "uptime/load: $(uptime)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
  echo "kernel: $(uname -r)"
  echo "/proc/stat cpu: $(head -1 /proc/stat)"
  echo "vmstat 1 5:"; vmstat 1 5
  echo "bulwark: $("$BIN" --version 2>/dev/null) ($BIN, git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null), status: $(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l) changed paths)"
  [[ -n "${BUILD_NOTE:-}" ]] && echo "bulwark build: $BUILD_NOTE"
  echo "node: $(node --version); oidc-provider: $(node -p "require('$PEERS_DEPS/op9/node_modules/oidc-provider/package.json').version")"
  echo "postgres: $(psql "$PG_ADMIN_URL" -qAtc 'show server_version' 2>/dev/null); synchronous_commit=$(psql "$PG_ADMIN_URL" -qAtc 'show synchronous_commit' 2>/dev/null) fsync=$(psql "$PG_ADMIN_URL" -qAtc 'show fsync' 2>/dev/null)"
  echo "rustc: $(rustc --version)"
  echo "settings: SERVER_CPU=$SERVER_CPU CLIENT_CPU=$CLIENT_CPU NICE=$NICE CONCS='$CONCS' WARMUP=$WARMUP DURATION=$DURATION ALGS='$ALGS' REPS_PS256=$REPS_PS256 REPS_ES256=$REPS_ES256 VARIANTS='$VARIANTS' SQLITE_ALGS='$SQLITE_ALGS' REPS_SQLITE=$REPS_SQLITE OTHER_MAX=$OTHER_MAX RETRIES=$RETRIES"
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt" >&2

# ---- the matrix: per alg, per repetition, per concurrency, the variants in alternating order ----
for alg in $ALGS; do
  reps_var="REPS_$alg"; reps="${!reps_var:-2}"
  for rep in $(seq "$reps"); do
    for conc in $CONCS; do
      vs=()
      for v in $VARIANTS; do
        if [[ "$v" == bulwark-sqlite ]]; then
          [[ " $SQLITE_ALGS " == *" $alg "* ]] || continue
          (( rep <= REPS_SQLITE )) || continue
        fi
        vs+=("$v")
      done
      if (( rep % 2 == 0 )); then # reverse the order every other repetition
        rev=(); for ((i=${#vs[@]}-1; i>=0; i--)); do rev+=("${vs[$i]}"); done; vs=("${rev[@]}")
      fi
      for v in "${vs[@]}"; do run_one "$v" "$alg" "$conc" "$rep"; done
    done
  done
done

# ---- the PSU login: POST of the login form only (argon2id), sequential and concurrent -------
if [[ "$LOGIN" == 1 ]]; then
  for db in pg sqlite; do
    for spec in "1 40" "4 80"; do
      read -r conc n <<< "$spec"
      RUNID=$((RUNID + 1)); wait_quiet
      start_bulwark "$db" PS256
      dbargs=(); [[ -n "$DBMATCH" ]] && dbargs=(--db-match "$DBMATCH" --pin-db-cpus "$SERVER_CPU")
      log "login run: bulwark-$db c=$conc n=$n"
      line="$(taskset -c "$CLIENT_CPU" nice -n "$NICE" timeout 600 "$GEN" --target bulwark --mode login --issuer "$ISSUER" \
        --ca "$CA" --cert "$CERT" --key "$KEY" --client-id bench-client --client-key "$PEERS_PKI/client-jwt.key" \
        --kid bench-client-es256 --username "$PSU_USER" --password "$PSU_PASS" --concurrency "$conc" --logins "$n" \
        --server-pid "$SPID" "${dbargs[@]}" --label "bulwark-$db login c$conc" 2> >(tee -a "$OUT/logs/gen.log" >&2))"
      stop_server
      python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r.update(variant=sys.argv[2], alg="PS256"); print(json.dumps(r))' "$line" "bulwark-$db" >> "$OUT/results.jsonl"
    done
  done
fi

# ---- a CPU profile of Bulwark (PROFILE_DBS, PROFILE_ALG, c=32), an extra run not in the tables ------
if [[ "$PROFILE" == 1 ]] && command -v perf >/dev/null; then
  for db in $PROFILE_DBS; do
    RUNID=$((RUNID + 1)); wait_quiet
    start_bulwark "$db" "$PROFILE_ALG"
    dbargs=(); [[ -n "$DBMATCH" ]] && dbargs=(--db-match "$DBMATCH" --pin-db-cpus "$SERVER_CPU")
    log "profile run: bulwark-$db $PROFILE_ALG c=32 (perf record -e cpu-clock -g -p $SPID, 10 s of the window)"
    GENERR="$OUT/logs/gen-profile-$db.err"
    ppool="$(python3 -c "print(max(3000, int(${LASTRATE[bulwark-$db-PS256-32]:-1500} * ($WARMUP + $DURATION) * 1.5)))")"
    taskset -c "$CLIENT_CPU" nice -n "$NICE" timeout 900 "$GEN" --target bulwark --issuer "$ISSUER" \
      --ca "$CA" --cert "$CERT" --key "$KEY" --client-id bench-client --client-key "$PEERS_PKI/client-jwt.key" \
      --kid bench-client-es256 --username "$PSU_USER" --password "$PSU_PASS" --concurrency 32 --warmup "$WARMUP" \
      --duration "$DURATION" --pool "$ppool" \
      --server-pid "$SPID" "${dbargs[@]}" --label "bulwark-$db $PROFILE_ALG c32 (perf)" > "$OUT/profile-$db.json" 2> "$GENERR" &
    GPID=$!
    for _ in $(seq 600); do grep -q "setup done" "$GENERR" 2>/dev/null && break; sleep 0.5; done
    sleep "$WARMUP"
    perf record -e cpu-clock -g -p "$SPID" -o "$OUT/perf-$db.data" -- sleep 10 2> "$OUT/logs/perf-record-$db.log" || true
    wait "$GPID" || true
    stop_server
    perf report -i "$OUT/perf-$db.data" --stdio --no-children 2>/dev/null | grep -v '^$' | head -150 > "$OUT/perf-$db-report.txt" || true
    perf report -i "$OUT/perf-$db.data" --stdio --no-children --sort dso 2>/dev/null | grep -v '^#' | grep -v '^$' | head -20 > "$OUT/perf-$db-dso.txt" || true
    perf report -i "$OUT/perf-$db.data" --stdio --no-children -g none --percent-limit 0.7 2>/dev/null | grep -v '^#' | grep -v '^$' | head -60 > "$OUT/perf-$db-flat.txt" || true
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r.update(variant=sys.argv[2], alg=sys.argv[3], profile_run=True); print(json.dumps(r))' \
      "$OUT/profile-$db.json" "bulwark-$db" "$PROFILE_ALG" >> "$OUT/results-profile.jsonl" || true
  done
fi

{ echo; echo "after: $(uptime)"; echo "vmstat 1 3:"; vmstat 1 3; } >> "$OUT/machine.txt" 2>&1
summarize "$OUT"
log "results: $OUT (results.jsonl, summary.md, machine.txt, logs/)"
