"""Tamper bench for reply and bounce addresses.

Makes 10^6 random single-character substitutions of freshly encoded addresses, decodes each one and
counts how many were accepted (must be 0). It also times the decoder and, in the same run, the floor
any HMAC check must pay: stdlib ``hmac.new(...).digest()`` plus ``hmac.compare_digest`` over the
same bytes (RFC 2104), and prints the ratio between the two.

    uv run python bench/addresses.py [--count N] [--time-limit SECONDS] [--seed S]

Exit status: 0 when nothing was accepted, 1 when a mutation was accepted, 2 when the time limit
stopped the run before ``--count`` mutations (the partial figures are still printed).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import random
import string
import sys
import time
from collections import Counter

from postroom.addresses import AddressCodec, Keyring, generate_secret
from postroom.addresses.base32 import ALPHABET
from postroom.errors import AddressError

BATCH = 10_000
# Mostly characters that keep the payload valid base32, so most mutations reach the HMAC check;
# the rest exercise the cheaper refusals.
SPOILERS = ALPHABET * 4 + ALPHABET.upper() + string.digits + string.punctuation + " \u212a"


def fold(char: str) -> str:
    return char.lower() if char.isascii() else char


def make_batch(codec: AddressCodec, rnd: random.Random, size: int) -> list[str]:
    """``size`` fresh addresses, each with one character of its local part substituted."""
    batch = []
    for _ in range(size):
        if rnd.random() < 0.8:
            address = codec.encode_reply(
                module=rnd.randrange(2**16),
                user=rnd.randrange(2**48),
                session_key=rnd.randbytes(8),
            )
        else:
            address = codec.encode_bounce(delivery_id=rnd.randrange(2**64))
        local, _, domain = address.rpartition("@")
        position = rnd.randrange(len(local))
        original = fold(local[position])
        char = rnd.choice(SPOILERS)
        while fold(char) == original:
            char = rnd.choice(SPOILERS)
        batch.append(f"{local[:position]}{char}{local[position + 1 :]}@{domain}")
    return batch


def measure_floor(secret: bytes, count: int, rnd: random.Random) -> float:
    """Seconds per raw HMAC-SHA256 compute-and-compare over a 17-byte message."""
    messages = [rnd.randbytes(17) for _ in range(count)]
    tag = rnd.randbytes(13)
    start = time.perf_counter()
    for message in messages:
        hmac.compare_digest(hmac.new(secret, message, hashlib.sha256).digest()[:13], tag)
    return (time.perf_counter() - start) / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rnd = random.Random(seed)

    old, new = generate_secret(), generate_secret()
    codec = AddressCodec(Keyring.from_secrets({0: old, 1: new}, 1), domain="example.org")

    accepted: list[str] = []
    outcomes: Counter[str] = Counter()
    decode_seconds = 0.0
    done = 0
    deadline = time.monotonic() + args.time_limit
    while done < args.count and time.monotonic() < deadline:
        batch = make_batch(codec, rnd, min(BATCH, args.count - done))
        start = time.perf_counter()
        for address in batch:
            try:
                codec.decode(address)
            except AddressError as exc:
                outcomes[type(exc).__name__] += 1
            else:
                accepted.append(address)
        decode_seconds += time.perf_counter() - start
        done += len(batch)
        print(
            f"\r{done:>9,}/{args.count:,} mutations, {len(accepted)} accepted",
            end="",
            file=sys.stderr,
            flush=True,
        )
    print(file=sys.stderr)

    per_decode = decode_seconds / done
    floor = measure_floor(new, min(done, 200_000), rnd)
    print(f"{'seed':<24}{seed}")
    print(f"{'mutations decoded':<24}{done:,}")
    print(f"{'accepted':<24}{len(accepted)}")
    for name, count in outcomes.most_common():
        print(f"  {name:<22}{count:,}")
    print(f"{'codec.decode':<24}{1 / per_decode:,.0f} decodes/s ({per_decode * 1e6:.2f} µs each)")
    print(f"{'peer: stdlib hmac floor':<24}{1 / floor:,.0f} checks/s ({floor * 1e6:.2f} µs each)")
    print(f"{'ratio decode/floor':<24}{per_decode / floor:.2f}x")
    for address in accepted[:10]:
        print(f"ACCEPTED {address}")
    if accepted:
        return 1
    if done < args.count:
        print(f"time limit reached after {done:,} of {args.count:,} mutations")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
