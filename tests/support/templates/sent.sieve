# Gmail-like Sent copies: Postfix's submission service adds user+sent@domain as a
# recipient of every message an authenticated user submits.
require ["envelope", "subaddress", "fileinto", "imap4flags"];

if envelope :detail "to" "sent" {
  fileinto :flags "\\Seen" "Sent";
  stop;
}
