"""bench/pixel.sh's helper: seed copies and write their open tokens, or count events.

pixel_seed.py seed COUNT TOKENS_FILE BAD_FILE   (uses POSTROOM_CONFIG)
pixel_seed.py count
"""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy import func, select

from postroom.app import Postroom
from postroom.settings import load_settings
from postroom.store.models import EventRow
from postroom.tracking import TokenCodec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support.tracking import seed_copies


def main() -> None:
    room = Postroom().configure(load_settings())
    if sys.argv[1] == "seed":
        count = int(sys.argv[2])
        _, ids = seed_copies(room.database, count)
        codec = TokenCodec(room.codec_keyring())
        with open(sys.argv[3], "w") as out:
            out.writelines(f"{codec.encode_open(i)}\n" for i in ids)
        token = codec.encode_open(ids[0])
        # A tampered token: same length, last character changed, so the HMAC is checked.
        bad = token[:-1] + ("A" if token[-1] != "A" else "B")
        Path(sys.argv[4]).write_text(bad + "\n")
    else:
        with room.database.connect() as conn:
            print(int(conn.execute(select(func.count()).select_from(EventRow)).scalar_one()))


if __name__ == "__main__":
    main()
