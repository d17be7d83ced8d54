"""Pure mail understanding: bounce/auto-reply/complaint classification, reply-text extraction, digest targeting. No I/O."""
