#!/usr/bin/env bash
# The open pixel: `postroom serve` (2 workers) against nginx serving the same 43-byte GIF as a
# static file (2 workers, reuseport), wrk -t1 -c64 on loopback, in one run.
#
#   bench/pixel.sh [SECONDS] [sqlite|postgresql]     (needs wrk and nginx: apt-get install wrk nginx)
#
# Every request to postroom carries a distinct valid open token of a seeded copy (cycling when
# the run outlasts them): verified (HMAC) and recorded. Targets: postroom >= 0.5x nginx's
# requests/s, p99 <= 10 ms. Then an exact-count run: N valid tokens first, tampered ones after
# (served, verified, not recorded); after a graceful stop (SIGTERM), events recorded must be N.
# Counted three ways: what wrk sent (the Lua script counts it), what the workers served (each
# reports its count to the sink when it stops; `postroom serve` logs the sum) and the events
# in the database. In both runs the events must equal what the workers served, exactly.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
backend="${2:-sqlite}"
python="$PWD/.venv/bin/python"
postroom="$PWD/.venv/bin/postroom"
for tool in wrk nginx; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || {
    echo "pixel.sh: $tool is not installed (apt-get install $tool)" >&2; exit 1; }
done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
free_port() { "$python" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"; }

work=$(mktemp -d /tmp/postroom-pixel.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ -n "${pgdb:-}" ]; then
    "$python" -c "import psycopg; c=psycopg.connect('$pgadmin', autocommit=True); c.execute('DROP DATABASE IF EXISTS $pgdb WITH (FORCE)')" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
"$postroom" init --domain reply.example.test >/dev/null
export POSTROOM_CONFIG="$work/postroom.toml"
if [ "$backend" = postgresql ]; then
  pgadmin="${POSTROOM_TEST_PG:-postgresql://postgres@127.0.0.1:5432/postgres}"
  pgdb="postroom_pixel_$$"
  "$python" -c "import psycopg; c=psycopg.connect('$pgadmin', autocommit=True); c.execute('CREATE DATABASE $pgdb')"
  export POSTROOM_DATABASE_URL="${pgadmin%/*}/$pgdb"
  export POSTROOM_DATABASE_URL="${POSTROOM_DATABASE_URL/postgresql:/postgresql+psycopg:}"
fi
"$postroom" db upgrade >/dev/null
copies=$((seconds * 40000))
"$python" "$OLDPWD/bench/pixel_seed.py" seed "$copies" tokens.txt bad.txt

cat > pixel.lua <<'LUA'
-- wrk calls request() once before the run, on the first thread, to check that the request
-- parses (script_verify_request in wrk's script.c), and never sends that one: it gets the
-- tampered token, and that thread counts the tokens sent from its second call on.
local tokens, calls = {}, 0
sent, valid = 0, 0  -- globals: done() reads them with thread:get()
first = false
local limit = tonumber(os.getenv("PIXEL_LIMIT") or "0")
local bad = ""
local threads = {}
setup = function(thread)
  table.insert(threads, thread)
  thread:set("first", #threads == 1)
end
init = function(args)
  for line in io.lines(os.getenv("PIXEL_TOKENS")) do tokens[#tokens + 1] = line end
  for line in io.lines(os.getenv("PIXEL_BAD")) do bad = line end
end
request = function()
  calls = calls + 1
  local token = bad
  if calls > 1 or not first then
    sent = sent + 1
    if limit == 0 or sent <= limit then
      token = tokens[((sent - 1) % #tokens) + 1]
      valid = valid + 1
    end
  end
  return wrk.format("GET", "/t/o/" .. token .. ".gif")
end
done = function(summary, latency, requests)
  local s, v = 0, 0
  for _, thread in ipairs(threads) do s = s + thread:get("sent"); v = v + thread:get("valid") end
  local e = summary.errors
  io.write(string.format("wrk: sent %d requests (%d valid tokens), %d responses counted, " ..
    "errors connect %d read %d write %d status %d timeout %d\n", s, v, summary.requests,
    e.connect, e.read, e.write, e.status, e.timeout))
end
LUA
export PIXEL_TOKENS="$work/tokens.txt" PIXEL_BAD="$work/bad.txt"

# nginx: the same GIF as a static file at the same paths.
mkdir -p www
"$python" -c "from postroom.tracking.endpoints import PIXEL; open('www/pixel.gif','wb').write(PIXEL)"
nport=$(free_port)
cat > nginx.conf <<NGX
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$nport reuseport;
    root $work/www;
    location /t/o/ { rewrite ^ /pixel.gif break; types { } default_type image/gif;
                     add_header Cache-Control "no-store, max-age=0"; }
  }
}
NGX
"$nginx_bin" -c "$work/nginx.conf" -p "$work" -g "daemon off;" &
pids+=($!)

pport=$(free_port)
"$postroom" serve --port "$pport" --workers 2 > serve.log 2>&1 &
serve_pid=$!
pids+=($serve_pid)
for _ in $(seq 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$pport/healthz" && curl -sf -o /dev/null "http://127.0.0.1:$nport/t/o/x.gif" && break
  sleep 0.1
done

run_wrk() { wrk -t1 -c64 -d"${seconds}s" --latency -s pixel.lua "$1" > "$2"; }
rate() { awk '/Requests\/sec/ {print $2}' "$1"; }
p99() { awk '$1 == "99%" {print $2}' "$1"; }
total() { awk '/requests in/ {print $1}' "$1"; }
errors() { awk '/Non-2xx|Socket errors/ {print}' "$1"; }
sent_valid() { sed -n 's/^wrk: sent [0-9]* requests (\([0-9]*\) valid tokens).*/\1/p' "$1"; }
# What the workers said they served (valid tokens, recorded), as the sink added it up.
served_by_workers() { sed -n 's/.*workers reported \([0-9]*\) hits served.*/\1/p' "$1"; }

run_wrk "http://127.0.0.1:$nport" nginx.out
run_wrk "http://127.0.0.1:$pport" postroom.out
kill -TERM "$serve_pid"
wait "$serve_pid" || true
recorded_during=$("$python" "$OLDPWD/bench/pixel_seed.py" count)
served=$(served_by_workers serve.log)

# Exact count, on a fresh server: the first $limit requests carry valid tokens, the rest
# tampered ones; every valid one is answered long before the run ends.
limit=$((copies / 4))
"$postroom" serve --port "$pport" --workers 2 > serve2.log 2>&1 &
serve_pid=$!
pids+=($serve_pid)
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$pport/healthz" && break; sleep 0.1; done
PIXEL_LIMIT=$limit run_wrk "http://127.0.0.1:$pport" exact.out
kill -TERM "$serve_pid"
wait "$serve_pid" || true
after=$("$python" "$OLDPWD/bench/pixel_seed.py" count)
exact=$((after - recorded_during))
exact_served=$(served_by_workers serve2.log)

verdict() { [ "$1" = "$2" ] && echo "(exact: PASS)" || echo "(MISMATCH)"; }
ratio=$("$python" -c "print(f'{$(rate postroom.out) / $(rate nginx.out):.2f}')")
echo "pixel ($backend, wrk -t1 -c64 -d${seconds}s, 2 workers each, one run)"
printf '%-10s %12s %10s %12s\n' server "req/s" p99 requests
printf '%-10s %12s %10s %12s\n' nginx "$(rate nginx.out)" "$(p99 nginx.out)" "$(total nginx.out)"
printf '%-10s %12s %10s %12s\n' postroom "$(rate postroom.out)" "$(p99 postroom.out)" "$(total postroom.out)"
errors postroom.out
echo "postroom / nginx: ${ratio}x (target >= 0.5x), p99 target <= 10 ms"
echo "throughput run: wrk sent $(sent_valid postroom.out) valid tokens and counted" \
     "$(total postroom.out) responses (those in flight when it stops are answered, not counted);" \
     "the workers served $served; events recorded after the graceful stop: $recorded_during" \
     "$(verdict "$recorded_during" "$served")"
echo "exact run: $limit valid tokens then tampered ones (wrk sent $(sent_valid exact.out) valid," \
     "$(total exact.out) responses counted, p99 $(p99 exact.out)); the workers served" \
     "$exact_served; events recorded after the graceful stop: $exact" \
     "$([ "$exact" = "$limit" ] && [ "$exact_served" = "$limit" ] && echo '(exact: PASS)' || echo '(MISMATCH)')"
grep -h "^wrk:" postroom.out exact.out
grep -h "serve stopped\|did not reach" serve.log serve2.log
