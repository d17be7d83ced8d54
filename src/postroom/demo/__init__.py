"""``postroom demo``: the whole loop on one machine, on SQLite.

- :func:`~postroom.demo.live.run_live`: ``postroom serve`` (dashboard, API, tracking), the
  worker and the local mail catcher, with the example forum seeded, until Ctrl-C.
- :func:`~postroom.demo.headless.run_headless`: the same parts, played by a script that sends
  to To, Cc and Bcc, opens (a person's open and a machine's), clicks, unsubscribes, replies to
  a post and to a digest item, replies too late, bounces and reconciles the Sent folder in a
  private Dovecot, then prints a table of every step.
"""
