"""Sending: SMTP delivery through each sender's own account, and the tokens its logins need."""
