#!/usr/bin/env bash
# The MTA pipe: what one `postroom inbound` process costs to handle one reply, against a bare
# `python -c pass` (the floor of any Python program an MTA starts) measured in the same
# hyperfine run. Target: at most 15 times the bare interpreter.
#
#   bench/pipe.sh [RUNS]        (needs hyperfine: apt-get install hyperfine)
#
# Every run handles a fresh reply (a new Message-ID, prepared outside the timing) to the same
# reusable reply address, on SQLite, through the installed console script, as Postfix's pipe(8)
# would start it. Byte code is compiled at install (uv sync --compile-bytecode).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-30}"
target=15
python="$PWD/.venv/bin/python"
postroom="$PWD/.venv/bin/postroom"
command -v hyperfine >/dev/null || { echo "pipe.sh: hyperfine is not installed (apt-get install hyperfine)" >&2; exit 1; }

work=$(mktemp -d /tmp/postroom-pipe.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$postroom" init --domain reply.example.test >/dev/null
sed -i 's|# import = "myapp.mail:room"|import = "postroom.examples.forum:room"|' postroom.toml
export POSTROOM_CONFIG="$work/postroom.toml" POSTROOM_FORUM_POSTS="$work/posts.jsonl"
"$postroom" db upgrade >/dev/null
address=$("$postroom" session create forum --user 42 --data '{"title": "Meetup"}' --address ada@example.net)
cat > make_reply.py <<PY
import secrets, sys
from email.message import EmailMessage
from email.policy import SMTP
m = EmailMessage()
m["From"] = "Ada <ada@example.net>"
m["To"] = "$address"
m["Subject"] = "Re: Meetup"
m["Message-ID"] = f"<{secrets.token_hex(8)}@example.net>"
m.set_content("Sounds good, see you there.\n\nOn Mon, Bob wrote:\n> Meet at 5?\n")
sys.stdout.buffer.write(m.as_bytes(policy=SMTP))
PY
"$python" make_reply.py > reply.eml
"$postroom" inbound --recipient "$address" --sender ada@example.net < reply.eml | grep -q dispatched

hyperfine --style basic --warmup 3 --runs "$runs" --export-json result.json \
  --prepare "$python make_reply.py > reply.eml" \
  -n "python -c pass" "$python -c pass" \
  -n "postroom inbound (one reply)" "$postroom inbound --recipient $address --sender ada@example.net < reply.eml"

"$python" - "$target" <<'PY'
import json, sys
target = float(sys.argv[1])
results = {r["command"]: r for r in json.load(open("result.json"))["results"]}
bare, pipe = results["python -c pass"], results["postroom inbound (one reply)"]
ratio = pipe["mean"] / bare["mean"]
print(f"\npython -c pass: {bare['mean'] * 1000:.1f} ms (user {bare['user'] * 1000:.1f} ms)")
print(f"postroom inbound, one reply: {pipe['mean'] * 1000:.1f} ms (user {pipe['user'] * 1000:.1f} ms)")
print(f"ratio: {ratio:.1f}x the bare interpreter (target: at most {target:g}x)")
sys.exit(0 if ratio <= target else 1)
PY
posts=$(wc -l < "$work/posts.jsonl")
echo "replies dispatched during the run: $posts"
