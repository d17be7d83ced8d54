"""Pure mail understanding, no I/O.

Bounce, auto-reply and complaint classification (``bounces``), reply-text extraction
(``replies``) and digest targeting (``digest``).
"""
