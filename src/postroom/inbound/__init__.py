"""The inbound pipeline: parse, find our address, verify, classify, extract, dispatch, respond.

The decisions are pure functions over parsed messages; :mod:`postroom.inbound.pipeline` strings
them together with the store and the mail transport, and the receivers (MTA pipe, LMTP/SMTP
listener) are thin shells around it.
"""
