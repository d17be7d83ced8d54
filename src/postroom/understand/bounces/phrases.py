"""How mail systems word each bounce reason: phrase tables, one regular expression per reason.

Pure data. Every fragment is matched against a lower-cased, whitespace-collapsed diagnostic with
addresses and URLs removed, so fragments are lower case and use single spaces. Quantifiers are
bounded (``.{0,40}``) so that no pattern can backtrack far on a long notice.

Two tiers, each tried in order (first match wins):

- ``SPECIFIC``: wordings that name one condition beyond doubt ("mailbox full", "listed in
  Spamhaus", "SPF check failed"). They outrank a vague RFC 3463 code: servers often send ``5.1.1``
  or ``5.7.1`` for all of these.
- ``GENERAL``: wordings that several conditions share ("user unknown" also comes from content
  filters, "blocked" from every kind of refusal). They only decide when no precise code does.

``MAILBOX_UNKNOWN`` is the "user unknown" wording that filters borrow; which reason it means depends
on the SMTP command that drew it (RFC 5321 section 3.3), see :mod:`.reasons`.
"""

from __future__ import annotations

SPECIFIC: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        # Sender authentication failed: SPF (RFC 7208), DKIM (RFC 6376), DMARC (RFC 7489).
        "authfailure",
        (
            r"\b(?:spf|dkim|dmarc)\b.{0,40}(?:fail|reject|policy|check|align|invalid|not pass"
            r"|unauthori[sz]ed|not authori[sz]ed)",
            # Yahoo 5.7.9 and Google 5.7.26: the sender authenticated with neither SPF nor DKIM.
            r"authenticate with (?:either )?(?:spf|dkim)",
            r"sender is unauthenticated",
            r"\bbad spf",
            r"authentication checks? (?:failed|did not pass)",
            r"sender policy framework",
            # Gmail's DMARC refusal: "Unauthenticated email from x is not accepted due to ...".
            r"unauthenticated e-?mail",
            r"does not pass (?:spf|dkim|dmarc)",
        ),
    ),
    (
        # The sending host has no usable reverse DNS (PTR) name.
        "requireptr",
        (
            r"reverse (?:dns|lookup|hostname|resolution)",
            r"\bptr\b",
            r"\brdns\b",
            r"unverif[iy]able sending ip",
            r"ip name lookup failed",
            r"cannot find your hostname",
            r"hostname (?:does not|doesn't) (?:match|resolve)",
            r"mismatches client ip",
            r"unresolvable (?:relay )?host ?name",
        ),
    ),
    (
        "virusdetected",
        # Mimecast "Email rejected due to security policies" (its virus and score refusal).
        (r"\bvirus", r"malware", r"infected", r"rejected due to security polic"),
    ),
    (
        # The domain publishes that it takes no mail at all (RFC 7505 null MX, or no MX nor A).
        "notaccept",
        (
            r"null mx",
            r"(?:does not|doesn't) (?:accept|receive) (?:e-?)?mail",
            r"accepts? no mail",
            r"not accepting network messages",
            r"no mx (?:record|found|host)",
            r"(?:couldn't|could not|cannot) find a mail exchanger",
            r"no smtp service",
            # OpenSMTPD mta.c: every MX refused every message.
            r"destination seem to reject all mails",
        ),
    ),
    (
        # A list manager that has seen the Message-ID already refuses the copy as a loop: its
        # own protection, which Sisimai files under systemerror (not a routing loop).
        "systemerror",
        (
            r"duplicated? message-?id",
            # Rule 7 of BOUNCE-CODES.md: the receiving side's directory failed (qmail-ldap's
            # "Unable to contact LDAP server", "Temporary failure in LDAP lookup", RFC 3463
            # X.4.3): its own fault, not mail that expired.
            r"\bldap (?:server|lookup|query|error|failure)",
            r"(?:contact|reach|failure in|error in) (?:the )?ldap\b",
            r"directory (?:server|service|lookup) (?:failure|failed|error|unavailable)",
            # Postfix smtp/smtp_addr.c: "mail for D loops back to myself" (5.4.6).
            r"loops back to myself",
            # qmail-send.c / qmail-remote.c (#5.4.6): a loop through this host's own lists.
            r"already has my delivered-to line",
            r"isn't in my control/locals file",
            # Courier "This domain's DNS violates RFC 1035."; Domino "Several matches found".
            r"dns violates rfc",
            r"several matches found",
            # Google 4.3.0 "Temporary System Problem".
            r"temporary system problem",
        ),
    ),
    (
        # Exim deliver.c: 'Too many "Received" headers - suspected mail loop'.
        "contenterror",
        (r"too many \"?received\"? headers",),
    ),
    (
        # A resolver's own failure report ("DNS Error: ... responded with code NXDOMAIN"): the
        # lookup failed on the way, which Sisimai files under networkerror whatever the answer
        # was. A null MX (above) is the one DNS answer that names its own reason.
        "networkerror",
        (
            r"\bdns error\b",
            # Postfix dns/dns_strerror.c: the temporary "Host not found, try again" (4.4.3),
            # not the permanent "Host not found" (5.4.4, hostunknown below).
            r"host not found, try again",
            r"temporary failure in name resolution",
            # Courier "DNS lookup failed."; OpenSMTPD mta.c "Network error on destination MXs".
            r"dns lookup failed",
            r"network error on destination",
        ),
    ),
    (
        # Rule 6 of BOUNCE-CODES.md: limited *because of* reputation (Microsoft 4.7.650,
        # Google 4.7.0 "very low reputation") is badreputation, not a rate (speeding).
        "badreputation",
        (
            r"(?:due to|because of) (?:the )?(?:(?:ip|domain|sender|sending|your) )*reputation",
            r"(?:very |extremely )?(?:low|poor|bad) reputation",
        ),
    ),
    (
        "systemfull",
        (
            r"insufficient (?:disk|system) (?:space|storage)",
            r"insufficient system storage",
            r"system (?:is )?full",
            r"disk full",
            r"out of disk space",
        ),
    ),
    (
        "mailboxfull",
        (
            r"mail ?box (?:is |was )?(?:full|over ?quota)",
            r"full mail ?box",
            r"over ?quota",
            r"quota (?:exceeded|full)",
            r"exceed(?:ed|s)? (?:the |his |her |their )?(?:storage|mailbox|disk|quota)",
            r"mailbox (?:size|has exceeded|exceeds|limit)",
            r"storage (?:allocation|limit) exceeded",
            # The mailbox's own allowance ("Not enough disk space"), not the whole system's
            # "insufficient system storage" (systemfull).
            r"not enough (?:disk |storage )?(?:storage|space)",
            r"account is full",
            r"box full",
            r"mailfolder is full",
            r"exceeds? .{0,20}quota",
            r"disk quota",
            r"boite du destinataire pleine",
        ),
    ),
    (
        "mesgtoobig",
        (
            r"message (?:is )?too (?:big|large)",
            r"message size exceeds",
            r"size limit exceeded",
            r"message (?:length|size) (?:is )?(?:larger|exceeds|too)",
            r"exceeds? (?:the )?(?:maximum|max) (?:message )?size",
            r"(?:maximum|max) (?:e-?mail|message) size (?:exceeded|limit)",
            r"too large for",
            r"line (?:length )?limit exceeded",
            r"taille limite du message",
        ),
    ),
    (
        # The receiving side limits connections or recipients per session (RFC 5321 4.5.3.1).
        "toomanyconn",
        (
            r"too many (?:connections|simultaneous|concurrent|sessions)",
            # Yahoo "Max message per connection reached"; Google 4.5.3 "Domain policy size per
            # transaction exceeded" (RFC 5321 section 4.5.3.1.10: recipients per transaction).
            r"per connection reached",
            r"per transaction exceeded",
            r"too many recipients(?! (?:this|per|an|a|in the last) (?:hour|day|minute))",
            r"connection (?:rate )?limit",
            r"frequency limited",
        ),
    ),
    (
        "speeding",
        (
            r"rate limit",
            r"too many (?:messages|emails|mails)",
            r"too many recipients (?:this|per|an|a|in the last) (?:hour|day|minute)",
            r"sending rate",
            # Google 4.2.1/5.2.1, Yahoo: the recipient receives mail too fast.
            r"receiving (?:e-?mail|mail|messages) (?:too quickly|at a rate)",
            r"too quickly",
            # Google 5.4.5, Microsoft 5.1.90 / 5.7.700: daily and tenant sending limits.
            r"(?:daily|hourly) (?:user )?(?:sending |relay |smtp relay )?limit",
            r"sending limit",
            r"exceeded threshold",
            # Microsoft 4.3.2 STOREDRV "recipient thread limit exceeded".
            r"thread limit",
            r"slow down",
            r"throttl",
        ),
    ),
    (
        "exceedlimit",
        (r"exceeds? (?:the )?(?:administrative|local) limit", r"limit exceeded"),
    ),
    (
        "hasmoved",
        (r"has (?:been )?moved", r"no forwarding address", r"has been replaced by"),
    ),
    (
        "suspend",
        (
            r"(?:account|mailbox|user|address|recipient)(?: \S+)?(?: has been| is)? "
            r"(?:disabled|suspended|deactivated|inactive|locked|frozen|expired)",
            r"(?:account|mailbox|user|address) .{0,40}(?:is|has been) (?:disabled|suspended"
            r"|deactivated|inactive)",
            # qmail-ldap "Mailaddress is administratively disabled" (#5.2.1).
            r"administratively disabled",
            r"(?:disabled|suspended|inactive|deactivated) (?:recipient|account|mailbox|user)",
            r"not active",
            # Not Postfix's "delivery temporarily suspended": that is its queue, not the mailbox.
            r"(?<!delivery )temporarily (?:disabled|suspended)",
            r"recipient account is blocked",
            r"compte du destinataire est bloque",
            r"boite du destinataire archivee",
        ),
    ),
    (
        "norelaying",
        (
            r"relay(?:ing)? (?:access )?(?:denied|not permitted|not allowed|prohibited)",
            r"(?:unable|not permitted|not allowed|not configured) to relay",
            r"no relaying",
            r"we do not relay",
            r"not a gateway",
            r"relay access",
            # The remote refuses to be, or to take mail from, an insecure relay.
            r"insecure (?:mail )?relay",
            # Amazon SES: the envelope sender is not a verified identity of the account.
            r"email address is not verified",
        ),
    ),
    (
        # RFC 5322 section 3.6: at most one From field, and so on.
        "notcompliantrfc",
        (
            r"not (?:rfc|standards?)[ -]?compliant",
            r"(?:violates|violation of|not conform\w* to) rfc ?[0-9]{3,4}",
            r"rfc ?(?:2822|5322)[- ](?:compliant|violation)",
            r"multiple .{0,20}addresses in from",
            r"duplicate header",
            # Google 5.7.1: a message without the header fields RFC 5322 3.6 requires.
            r"missing (?:a )?(?:valid )?(?:message-id|from|date)\b",
        ),
    ),
    # Barracuda's "blocked using Barracuda Reputation" is a block list (BOUNCE-CODES.md G).
    ("badreputation", (r"(?<!barracuda )reputation", r"user complaints")),
    (
        # Refusals that cite a content or protocol policy rather than the sender's address.
        "policyviolation",
        (
            r"blocked because its content",
            r"content presents a potential",
            r"header error",
            r"(?:policy|protocol) violation",
            r"violates? .{0,30}polic",
        ),
    ),
    (
        # The local delivery agent (RFC 5321 section 4.2.5 "mailer") failed.
        "mailererror",
        (
            r"mailer error",
            r"command (?:died|failed)",
            r"pipe to",
            r"exit (?:code|status)",
            r"procmail",
        ),
    ),
    (
        # The recipient set their own rules against this mail.
        "filtered",
        (
            r"recipient(?:'s)? preferences",
            r"refused by recipient",
            r"recipient refuses",
            # Domino: the user's own delivery rules (GS lhost/via-domino.go).
            r"cannot route mail to user",
        ),
    ),
    (
        # A host the sender kept failing to reach until it gave up or deferred (Gmail, Zoho).
        "expired",
        (r"did not accept our requests to connect", r"host (?:is )?(?:not |un)reachable"),
    ),
    (
        # Postfix smtpd_check.c "Sender address rejected: Domain not found": the sender's.
        "rejected",
        (r"sender (?:address )?(?:rejected|domain)[^.]{0,20}(?:not found|does ?n[o']t exist)",),
    ),
    (
        "hostunknown",
        (
            r"domain is not reachable",
            r"account or domain may not exist",
            r"host (?:unknown|not found)",
            r"unknown host",
            r"no such domain",
            r"unrouteable (?:mail )?(?:domain|address)",
            # Exim routers/dnslookup.c.
            r"all relevant mx records point to non-existent hosts",
            r"all host address lookups failed permanently",
            r"\b[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63}){1,6}\.[a-z]{2,24} (?:does not|doesn't) exist",
            r"(?:recipient |destination )?domain (?:name )?(?:not found|does not exist|"
            r"doesn't exist|is unknown|unknown)",
            r"unknown domain",
            r"bad destination system",
        ),
    ),
    (
        # A block list entry for an address (the sender's), not for the sending host's IP.
        "rejected",
        (r"(?<!ip )address (?:that )?(?:has been |is )(?:black|block|deny) ?listed",),
    ),
    (
        # The sending IP is on a DNS block list (RFC 5782) or refused as such.
        "blocked",
        (
            r"block ?list",
            r"black ?list",
            r"\bdnsbl\b",
            r"rbl\b",
            r"spamhaus",
            r"spamcop",
            r"(?<!not )listed (?:at|in|on)\b",
            r"\bis listed",
            r"blocked using",
            r"invalid ip for sending",
            r"ip (?:address )?(?:is )?(?:blocked|banned|rejected|blacklisted)",
            r"banned (?:sending )?ip",
            r"connection refused by",
            r"no access from (?:your )?mail server",
            # Refusals of the connecting host itself: a dynamic (end-user) address, or any IP.
            r"dynamic ips?\b",
            r"not (?:currently )?accepting mail from your ip",
            r"(?:are|is) not allowed to connect",
            r"smtp server of your isp",
            # Postfix: the server answered the greeting (RFC 5321 section 4.3.2) with a refusal.
            r"refused to talk to me",
            r"client host .{0,40}rejected",
            r"service refused",
            r"service refuse\b",
            # T-Online's refusal of a sender without (or with an unknown) reputation: "554
            # IP=... - A problem occurred. (Ask your postmaster ...) (BL)" (BOUNCE-CODES.md F).
            r"a problem occurred\. \(ask your postmaster",
            # Google 4.7.0 "IP not in whitelist for RCPT domain"; 4.7.28/5.7.28 "an unusual
            # rate of unsolicited mail originating from your IP" (a block, G).
            r"not in (?:the )?(?:whitelist|allow ?list)",
            r"unusual rate of",
            # Yahoo [TSS09]/[TSS11] "will be permanently deferred"; QQ "Suspected spam ip".
            r"permanently deferred",
            r"spam ip\b",
            # Outlook.com's own codes (OLC): SC-00x, DY-00x, OU-00x are blocks.
            r"\b(?:sc|dy|ou)-00[1-4]\b",
        ),
    ),
    (
        "spamdetected",
        (
            r"\bspam",
            r"\bjunk",
            r"bulk mail",
            r"unsolicited",
            r"message content rejected",
            r"content rejected",
            r"looks like spam",
            # Orange/Wanadoo's content filter: "Mail rejete. Mail rejected."
            r"mail rejet[eé]",
            # QQ "Mail content denied".
            r"content denied",
        ),
    ),
    (
        # The envelope sender (RFC 5321 MAIL FROM) or the author is refused.
        "rejected",
        (
            r"sender (?:address )?(?:rejected|denied|blocked|not allowed|verify failed)",
            r"(?:domain of )?sender (?:address )?(?:domain )?(?:does not|doesn't|must) "
            r"(?:exist|resolve)",
            r"invalid sender",
            r"unverified sender",
            r"(?:null|empty) (?:envelope )?senders? (?:is |are )?not allowed",
            r"sender not pre-?approved",
            r"mail from not owned by",
            r"unknown sender",
            r"rejected sender",
            r"sender was rejected",
            r"sender domain",
            r"purported responsible address",
            r"emetteur invalide",
            r"permission to post",
            # A gateway or service that only takes mail from its registered users.
            r"not a registered (?:gateway )?user",
            r"not (?:have )?permission",
            # A Google Groups refusal in any language ends with the service's signature.
            r"google groups",
            # A mailing list that takes posts from its members only.
            r"\byou are not (?:a )?member",
            # Mimecast "Administrative prohibition envelope blocked", "Envelope blocked";
            # Microsoft 5.7.1 "Delivery not authorized, message refused".
            r"administrative prohibition",
            r"envelope blocked",
            r"delivery not authori[sz]ed, message refused",
        ),
    ),
    (
        # SMTP AUTH (RFC 4954) was required of the sending client: Microsoft 5.7.57 "Client
        # not authenticated to send anonymous mail", 5.7.1 "Client was not authenticated".
        "securityerror",
        (r"client (?:was )?not authenticated", r"turn on smtp authentication"),
    ),
    (
        "failedstarttls",
        (
            r"starttls",
            r"(?:does not|doesn't) support tls",
            r"tls (?:handshake|negotiation)",
            # Google 4.7.0 "TLS required for RCPT domain"; Mimecast "This route requires
            # encryption (TLS)".
            r"\btls (?:is )?required",
            r"requires (?:encryption|tls)",
        ),
    ),
    (
        "networkerror",
        (
            r"name service error",
            r"host name lookup failure",
            r"dns query failed",
            r"no route to host",
            r"(?:wasn't|was not|unable to|could not) (?:able to )?establish an? "
            r"(?:smtp )?connection",
            r"network (?:error|unreachable|is unreachable)",
            r"hop count exceeded",
            r"mail loop",
            r"loops back",
            r"too many hops",
            r"routing loop",
            # OpenSMTPD mta.c "Loop detected".
            r"loop detected",
        ),
    ),
    (
        # The mailbox's own system states, in its own words, that nobody by that name is there.
        "userunknown",
        (
            r"recipient name is not recognized",
            r"not listed in (?:the )?(?:public name|domino directory|.{0,30}address book)",
            r"address (?:couldn't|could not|can't|cannot) be found",
            r"(?:wasn't|was not) found at the destination",
            r"invalid final delivery userid",
            r"check if (?:the )?address is correct",
            r"no mailbox here by that name",
            r"(?:account|mailbox|address) (?:that )?you tried to reach does not exist",
            # Yahoo's own code "dd" (destination does not exist), said even after DATA.
            r"delivery error: dd ",
            r"destinataire invalide",
            r"not a valid (?:mailbox|user|recipient)",
            # Nobody the message was addressed to exists there (MMS gateways, Exim).
            r"no valid recipients?\b",
        ),
    ),
)

# "User unknown" as MTAs and content filters alike say it (see the module docstring).
MAILBOX_UNKNOWN: tuple[str, ...] = (
    r"user(?:name)? (?:unknown|not found|does ?n[o']t exist|not exist|invalid)",
    r"unknown (?:user|recipient|address|local[ -]part|mailbox)",
    r"no such (?:user|mailbox|recipient|address|person)",
    r"(?:recipient|mailbox|address|account|user) (?:\S+ )?(?:does not|doesn't|not) exist",
    r"(?:recipient|mailbox|addressee|address) (?:unknown|not found|unavailable|not available)",
    r"invalid (?:recipient|mailbox|address|user)",
    r"(?:name|address) is not recognized",
    r"no mailbox (?:here|by that name)",
    r"no account (?:here|by that name)",
    r"not our customer",
    r"bad destination mailbox",
    r"user (?:account )?is unavailable",
    r"account (?:is )?unavailable",
    r"no mailbox",
    r"could not be found",
    r"is not a known user",
    r"address rejected(?:\.| \(|$)",
    # RFC 5321 section 4.2.3's own text for reply 550, which says no more than the code.
    r"requested action not taken: mailbox unavailable",
    r"(?:this|the) user (?:doesn't|does not) have an? .{0,40}account",
)

GENERAL: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "filtered",
        (
            r"filter",
            r"refused by recipient",
            r"recipient (?:refuses|rejected)",
            # au (EZweb): "Each of the following recipients was rejected by a remote mail server."
            r"recipients? (?:was|were) rejected by",
            r"not accepting (?:any )?mail",
            r"preferences",
        ),
    ),
    (
        "expired",
        (
            r"retry (?:timeout|time) (?:exceeded|expired)",
            # Exim retry.c and transports/smtp.c: the host has failed for too long.
            r"have been failing for a long time",
            r"retry time not reached for any host after a long failure period",
            # OpenSMTPD queue.c "Envelope expired"; Haraka "Too many failures"; Sendmail
            # "Cannot send message for 5 days".
            r"envelope expired",
            r"too many failures",
            r"cannot send message for",
            r"could not deliver for the last",
            r"could not be delivered for (?:more than )?[0-9]{1,3} (?:hours|days)",
            r"(?:still )?undelivered after [0-9]{1,3} (?:hours|days)",
            r"delivery time expired",
            r"(?:message|queue|envelope) (?:expired|timed? ?out)",
            r"giving up",
            r"too long in (?:the )?queue",
            r"in the queue too long",
            r"was not delivered within",
            r"retry period",
            r"delivery expired",
            r"timed? ?out",
            r"time limit",
            r"will be retried",
            r"warning message only",
            r"aborted after",
        ),
    ),
    (
        "networkerror",
        (r"unable to connect", r"dns (?:lookup|error|failure)", r"connection refused"),
    ),
    ("systemfull", (r"insufficient (?:disk )?space",)),
    (
        "systemerror",
        (
            r"system error",
            r"internal (?:server )?error",
            r"server error",
            r"local error",
            r"temporary (?:local )?problem",
            r"configuration error",
            r"transaction failed",
            r"service (?:is )?(?:currently |temporarily )?unavailable",
        ),
    ),
    (
        "securityerror",
        (
            r"authentication required",
            r"unauthenticated senders?",
            r"tls required",
            r"encryption required",
            r"security",
        ),
    ),
    ("blocked", (r"\bblocked\b", r"banned", r"not allowed to send")),
    ("policyviolation", (r"policy", r"prohibited", r"not permitted", r"not allowed")),
    (
        "syntaxerror",
        (
            r"syntax error",
            r"command unrecognized",
            r"unrecognized command",
            # RFC 5321 section 4.2.2's own texts for 503 and 504.
            r"bad sequence of commands",
            r"command parameter not implemented",
            # RFC 5321 section 4.1.2 syntax: Exim's "malformed address: ... may not follow ...".
            r"malformed address",
        ),
    ),
    ("contenterror", (r"illegal attachment", r"content type", r"\bmime\b", r"8-?bit data")),
)
