# hfx's messages in English. Every id here is in ../zh-CN/hfx.ftl too (a unit test checks).
# Codes of the data standard (JGJ/T 320) and of the national platform are shown beside
# their names by the code, never translated.

## Words

yes = yes
no = no
coded = { $name } ({ $code })
none = --

## Dates and times: China Standard Time (UTC+8), where the centres are

date = { $day } { $month ->
    [1] Jan
    [2] Feb
    [3] Mar
    [4] Apr
    [5] May
    [6] Jun
    [7] Jul
    [8] Aug
    [9] Sep
    [10] Oct
    [11] Nov
   *[12] Dec
} { $year }
month = { $month ->
    [1] Jan
    [2] Feb
    [3] Mar
    [4] Apr
    [5] May
    [6] Jun
    [7] Jul
    [8] Aug
    [9] Sep
    [10] Oct
    [11] Nov
   *[12] Dec
} { $year }
date-time = { $date } { $time } (UTC+8)
date-time-bare = { $date } { $time }
range = { $from } – { $to }
duration-days = { $n } d
duration-hours = { $n } h
duration-minutes = { $n } min
duration-seconds = { $n } s
duration-separator = {" "}

## Account status (A.6 个人账户状态)

account-status-01 = normal
account-status-02 = sealed
account-status-03 = closed (merged)
account-status-04 = closed (transferred out)
account-status-05 = closed (withdrawn)
account-status-06 = frozen
account-status-99 = other
account-status-unknown = unknown status

## Purposes of an exchange

purpose-identity_confirmation = identity confirmation
purpose-duplicate_account_check = duplicate account check
purpose-transfer_check = transfer check
purpose-loan_application = loan application
purpose-loan_check = loan check
purpose-unknown = unknown purpose
purpose-fields-identity_confirmation = yes/no and the masked name
purpose-fields-duplicate_account_check = live account, status, open month
purpose-fields-transfer_check = account, status, balance, paid-up-to month, six-consecutive-months flag
purpose-fields-loan_application = the deposit-use certificate fields, masked name and id
purpose-fields-loan_check = loans as borrower or co-borrower, balances and overdue state
purpose-fields-unknown = (unknown)

## Business types (归集和提取业务类型)

business-type-01 = remittance
business-type-02 = back payment
business-type-03 = account opening
business-type-04 = unsealing
business-type-05 = sealing
business-type-06 = internal transfer
business-type-07 = transfer out
business-type-08 = transfer in
business-type-09 = year-end interest
business-type-10 = base adjustment
business-type-11 = partial withdrawal
business-type-12 = closing withdrawal
business-type-13 = deferral
business-type-14 = freeze
business-type-15 = unfreeze
business-type-99 = other
business-type-unknown = unknown business type

## Outcomes of an exchange, as disclosure records keep them

outcome-disclosed = disclosed
outcome-received = answered
outcome-refused = refused
outcome-failed = failed
outcome-not-found = member not found
outcome-with-reason = { $outcome }: { $reason }

## Directions of a disclosure record

direction-sent = sent
direction-received = received
direction-asked = asked, no answer
direction-refused = refused

## Centres

centre-short = { $city } ({ $code })
centre-full = { $city }, { $name } ({ $code })

## hfx member query

query-answered = { $centre } answered for { $purpose }:
query-name = name
query-id-number = id number
query-live-account = live account
query-status = account status
query-account-no = account no.
query-opened = opened
query-paid-up-to = paid up to
query-deposit-base = deposit base
query-rates = rates (employer / member)
query-monthly = monthly amount
query-balance = balance
query-continuous = continuous deposits
query-six-months = 6 consecutive months
query-frozen = frozen
query-has-loan = outstanding loan
query-loans = loans
query-borrowed = total borrowed
query-outstanding = outstanding
query-employer = employer
query-our-receipt = our receipt
query-their-receipt = their receipt
query-receipt = log index { $index }
query-receipt-at = log index { $index } at { $centre }

## hfx status

status-head = { $centre } (hfx { $version })
status-directory = directory version { $version }, valid until { $expires }
status-log = exchange log { $entries } entries; store { $store }; core system { $adapter }; up { $uptime }
status-witness = last checkpoint { $checkpoint }; witnessed (quorum) up to { $witnessed }; witness evidence kept: { $evidence }
status-lease = lease { $lease }; maintenance mode { $maintenance }
status-maintenance-on = ON (peers refused)
status-maintenance-off = off

## hfx disclosures, hfx audit disclosures

disclosures-report-head = Disclosure report for the member { $member } at { $centre } (个人信息处理记录, PIPL art. 45)
disclosures-report-count = { $count ->
    [one] 1 record
   *[other] { $count } records
}, newest first; times China Standard Time (UTC+8).
disclosures-report-empty = No centre was told anything about this member, and none asked.
disclosures-meaning-sent = { $peer } was told: { $fields }
disclosures-meaning-received = { $own } asked { $peer } and was told: { $fields }
disclosures-meaning-asked = { $own } asked { $peer } and was told nothing ({ $outcome })
disclosures-meaning-refused = { $peer } asked; { $own } refused and told nothing
disclosures-meaning-other = { $direction } with { $peer }
disclosures-detail = purpose { $purpose } · legal basis { $basis } · outcome { $outcome } · by { $person }
disclosures-basis = legal basis: { $basis }
disclosures-none = no disclosure records match
this-centre = this centre

## hfx loan check

loan-check-head = loan check for { $name } { $id }: { $answered } of { $total } centres answered in { $elapsed } ms (deadline { $deadline } ms)
loan-check-own = (this centre)
loan-check-answered = answered: { $count ->
    [one] 1 loan
   *[other] { $count } loans
}
loan-check-unanswered = { $outcome }: { $detail } ({ $reason }) — loans unknown
loan-check-hedged = hedged
loan-check-loan = { $contract } { $role }, issued { $issued }, amount { $amount }, outstanding { $outstanding }, overdue { $periods } period(s) { $overdue }, { $status }
loan-check-settled = settled { $date }
loan-check-incomplete = incomplete: the centres above that did not answer may hold loans of this person
loan-outcome-answered = answered
loan-outcome-down = down (not reachable)
loan-outcome-slow = slow (no answer in time)
loan-outcome-refused = refused
loan-outcome-failed = failed
loan-outcome-unspecified = unknown
loan-role-borrower = borrower
loan-role-co_borrower = co-borrower
loan-role-unspecified = unknown role
loan-status-normal = normal
loan-status-overdue = overdue
loan-status-settled = settled
loan-status-written_off = written off
loan-status-unspecified = unknown status

## hfx transfer

transfer-state-letter_sent = letter sent
transfer-state-letter_received = letter received
transfer-state-accepted = accepted
transfer-state-held = balance held
transfer-state-paid = paid out
transfer-state-closed = account closed
transfer-state-releasing = releasing the hold
transfer-state-out_received = transfer-out record received
transfer-state-crediting = crediting
transfer-state-negotiating = negotiating
transfer-state-done = done
transfer-state-negotiated_done = done after negotiation
transfer-state-refused = refused
transfer-state-cancelled = cancelled
transfer-state-failed = failed
transfer-state-expired = expired
transfer-state-unknown = unknown state
national-00 = done
national-01 = letter checked
national-02 = letter received
national-05 = cancelled
national-06 = negotiating
national-08 = account info checked
national-13 = origin refused
national-20 = negotiated and done
national-40 = failed
national-unknown = unknown national code
national-none = no national code yet
transfer-role-destination = destination (转入地)
transfer-role-origin = origin (转出地)
transfer-wait-check = check
transfer-wait-reserve = holding the balance
transfer-wait-payout = payout
transfer-wait-close_out = closing the account
transfer-wait-release = releasing the hold
transfer-wait-credit = credit
transfer-wait-deliver = delivering a message
transfer-wait-query_peer = asking the other centre
transfer-case = case
transfer-letter-no = letter no.
transfer-role = role
transfer-route = route
transfer-person = person
transfer-state = state
transfer-national = national status
transfer-state-final = { $state }, final
transfer-amount = amount
transfer-amount-unknown = not known yet
transfer-amount-parts = { $amount } (principal { $principal }, interest { $interest })
transfer-history = history
transfer-history-months = { $months } months of deposits carried
transfer-account-here = account here
transfer-bank-ref = bank ref.
transfer-refusal-code = refusal code
transfer-negotiation = negotiation
transfer-stuck = stuck
transfer-waiting-for = waiting for
transfer-created = created
transfer-updated = updated
transfer-timeline = timeline (UTC+8):
transfer-col-case = case id
transfer-col-letter = letter no.
transfer-col-role = role
transfer-col-peer = peer centre
transfer-col-state = state
transfer-col-national = national status
transfer-col-amount = amount
transfer-col-updated = updated
transfer-col-stuck = stuck
transfer-none-stuck = no case is parked for a clerk
transfer-none-all = no transfer cases at this centre
transfer-none-in-flight = no transfer in flight (--all lists final cases too)

## Errors: what a refusal means and what to do, then the reason code and the node's text

error-line = error: { $text }
error-explained = { $advice } ({ $status })
error-cert-revoked = the node refused your certificate { $file }{ $serial }: it is revoked; { $fix } ({ $status })
error-cert-expired = the node refused your certificate { $file }{ $serial }: it expired on { $date }; { $fix } ({ $status })
error-cert-expired-unknown = the node refused your certificate { $file }{ $serial }: it has expired; { $fix } ({ $status })
error-cert-not-yet-valid = the node refused your certificate { $file }{ $serial }: it is valid only from { $date }; check this computer's clock, or { $fix }
error-cert-not-accepted = the node refused your certificate { $file }{ $serial }: the node does not accept it ({ $alert }); is it a certificate of this zone? { $fix } ({ $status })
error-cert-serial = {" "}(serial { $serial })
error-cert-fix = ask the zone operator for a new certificate (`hfx certs person`) and use it with --person or --cert
reason-INVALID_FIELD = A value given is not valid: correct the field the text names and try again.
reason-MEMBER_NOT_FOUND = That centre has no member with this id number: check the id number, its type and the centre asked.
reason-NAME_MISMATCH = The name does not match the member with this id number: check how the name is written.
reason-NOT_FOUND = What was asked for does not exist here: check the id or number given.
reason-UNAUTHENTICATED = The node did not accept who you are: use a certificate of this zone (--dir, --person or --cert).
reason-PERMISSION_DENIED = You are not allowed to do this: ask the zone operator if you should be.
reason-ROLE_NOT_ALLOWED = Your certificate's role may not do this: use a certificate of the role the command needs (clerk, auditor or operator).
reason-PURPOSE_NOT_ALLOWED = The zone's agreement does not allow this purpose with that centre: choose an allowed purpose or ask the zone operator.
reason-RATE_LIMITED = Too many requests for this purpose to that centre just now: wait a little and try again.
reason-PEER_UNAVAILABLE = The other centre could not be reached: try again later, or tell its operator.
reason-PEER_ERROR = The other centre refused or failed: the text after the code says why.
reason-CORE_SYSTEM_ERROR = The core system answered with an error: the node's operator finds the detail in its log.
reason-CORE_SYSTEM_UNAVAILABLE = The core system is not reachable just now: try again later, or tell the node's operator.
reason-STORE_ERROR = The node's database failed: the node's operator finds the detail in its log.
reason-FAILED_PRECONDITION = This cannot be done in the present state: the text after the code says what is missing.
reason-UNIMPLEMENTED = The node does not offer this: is it an older version of hfx?
reason-INTERNAL = The node failed inside: the node's operator finds the detail in its log.
reason-MESSAGE_TOO_LARGE = The request is larger than the node takes: ask for less at a time.
reason-UNDECODABLE_MESSAGE = The node could not read the request: are the CLI and the node the same version of hfx?
reason-PROTOCOL_ERROR = The request broke the protocol: are the CLI and the node the same version of hfx?
reason-CERTIFICATE_REVOKED = Your certificate is revoked: ask the zone operator for a new one.
reason-DEADLINE_PASSED = The other centre answered too late and gave up: try again, or allow a longer deadline.
reason-ACCOUNT_CLOSED = The account is closed, so this cannot be given for it: check the member's account status.
reason-ACCOUNT_FROZEN = The account is frozen, so this cannot be given for it: the freeze must be lifted first.
reason-ATTESTATION_INVALID = The deposit-use certificate does not verify: ask the issuing centre for a new one.
reason-NOT_WRITER = This process of the centre is a standby: use the centre's active endpoint.
reason-MAINTENANCE = The node is in maintenance mode: try again later, or `hfx node maintenance off`.
reason-ACTING_PERSON_FOREIGN = The acting person is not of the calling centre: a centre speaks only for its own staff.
reason-TRANSFER_IN_FLIGHT = This person already has a transfer in flight here: follow that case (`hfx transfer list`).
reason-TRANSFERS_DISABLED = This node takes no transfers (no settlement bank is configured): tell the node's operator.
reason-MOVE_NOT_ALLOWED = The case's state does not allow this now: see `hfx transfer status` for where it stands.
reason-LETTER_NUMBERS_EXHAUSTED = Today's letter numbers are used up: start the transfer tomorrow.
reason-CASE_UNKNOWN = No such transfer case here: check the case id.
reason-CASE_NOT_YOURS = The case is kept with another centre: ask there.
reason-WRONG_SIDE = This side of the case does not take that message: check which centre you are on.
reason-OUT_OF_ORDER = A message this one depends on has not arrived yet: it is sent again later, nothing to do.
reason-CASE_BUSY = The case kept changing meanwhile: try again.
reason-DUP_SESSION_UNKNOWN = The duplicate-check session is unknown or over: start the check again.
code-unavailable = The node could not be reached: is it running, and is the endpoint right (--dir, --endpoint)?
code-deadline = No answer in time: try again, or check that the node is running.

## hfx transfer request, cancel, resolve: one-line results

transfer-state-code = { $state } ({ $code })
transfer-started = case { $case } started: letter { $letter } to { $origin }
transfer-follow = follow it with: hfx transfer status { $case }
transfer-brief = case { $case } (letter { $letter }): { $brief }
transfer-brief-waiting = waiting for { $what }
transfer-brief-stuck = stuck: { $why }
transfer-separator = {"; "}
transfer-progress = case { $case }: { $state }
transfer-progress-waiting = case { $case }: { $state }, waiting for { $what }
transfer-ended = case { $case } ended { $state }
transfer-ended-refusal = refusal code { $code }
transfer-ended-detail = { $text }: { $detail }
transfer-parked = case { $case } is parked for a clerk ({ $state }): { $reason }; waiting for { $what }. See `hfx transfer status { $case }`, then `hfx transfer resolve { $case } accept|retry`
transfer-parked-negotiation = a negotiation to settle
transfer-is = case { $case } is { $state }
transfer-timed-out = case { $case } is still { $state } after { $secs } s, waiting for { $what }; follow it with `hfx transfer status { $case }`

## Transfer timeline notes the node writes in fixed words (free text is shown as it came)

note-letter-accepted = letter checked and accepted
note-closed-out = account closed (04, balance 0, reason 07); payment notice sent
note-hold-released = hold released, account reopened
note-expired-never-received = the origin never received the letter by its deadline (tombstone)
note-negotiation-settled-here = negotiation settled by the destination's clerk: crediting the amount paid
note-cancel-refused = cancel refused: the origin had already accepted
note-cancel-confirmed = the origin confirmed the cancel
note-expired-tombstone = the origin holds an expiry tombstone for the case
note-out-received = transfer-out record received
note-out-received-after-cancel = transfer-out record received (the origin had accepted before the cancel)
note-origin-has-letter = the origin has the letter
note-origin-accepted = the origin accepted the letter
note-destination-credited = destination credited { $amount }
note-negotiated-credited = negotiation settled; destination credited { $amount }
note-bank-paid = bank paid { $amount } (ref { $ref })
note-sealed-held = account sealed, { $amount } held; transfer-out record sent
note-payment-received = payment of { $amount } received (ref { $ref })
note-member-credited = member credited { $amount } (business type 08, with history)
note-cancelled-by-destination = cancelled by the destination: { $text }
note-destination-negotiates = destination negotiates: { $text }
note-bank-declined = bank declined the payout: { $text }
note-payout-failed = payout failed at the origin: { $text }
note-cancel-requested = cancel requested: { $text }
note-negotiation-opened = payment received; negotiation opened: { $text }
note-origin-refused = origin refused: { $text }
note-refused = refused: { $text }
note-hold-refused = hold refused: { $text }; releasing any hold of the case

## hfx reload, hfx node maintenance, hfx witness evidence

reload-directory = directory: { $ok } (version { $version } in force)
reload-tls = tls: { $ok }
reload-ok = ok
reload-refused = refused
maintenance-on = { $centre }: maintenance mode on: peers are refused (UNAVAILABLE, MAINTENANCE) until `hfx node maintenance off` or a restart
maintenance-off = { $centre }: maintenance mode off: serving ({ $lease })
witness-none = no evidence of misbehaviour kept
witness-evidence = { $at } { $kind } { $centre }: { $detail } (shown by { $by })

## hfx adapter check

adapter-head = adapter { $kind } of centre { $centre } ({ $config })
adapter-ok = ok
adapter-fail = FAIL
adapter-all-passed = all checks passed
adapter-failed = FAILED: { $checks }

## hfx zone doctor

doctor-checking = { $centre } is checking its peers…
doctor-head = { $centre }: directory v{ $version }, log { $entries } entries (checkpoint { $checkpoint })
doctor-head-maintenance = { $centre }: directory v{ $version }, log { $entries } entries (checkpoint { $checkpoint }), MAINTENANCE
doctor-col-peer = peer
doctor-col-tcp = tcp
doctor-col-tls = tls
doctor-col-hello = hello
doctor-col-skew = skew ms
doctor-col-rtt = rtt
doctor-col-dir = dir
doctor-col-health = health
doctor-col-endpoint = endpoint
doctor-ok = ok
doctor-no-problems = no problems found
doctor-summary = { $problems } problem(s), { $warnings } warning(s):
doctor-severity-problem = PROBLEM
doctor-severity-warning = WARNING
doctor-finding = { $severity } [{ $check }] { $advice }
doctor-check-tcp = tcp
doctor-check-tls = tls
doctor-check-hello = hello
doctor-check-certificate = certificate
doctor-check-crl = crl
doctor-check-directory = directory
doctor-check-health = health
doctor-check-witness = witness
doctor-check-clock = clock
doctor-check-policy = policy

## hfx zone live-check

live-head = live-account check of { $name } { $id }:
live-answer = { $centre }: { $outcome }
live-opened = { $outcome } (opened { $month })
live-reason = { $outcome } ({ $reason })
live-name-mismatch = { $outcome } (an account under this id, another name: check)
live-outcome-live = live
live-outcome-closed = closed
live-outcome-none = none
live-outcome-unavailable = unavailable
live-outcome-refused = refused
live-outcome-name_mismatch = name_mismatch
live-elsewhere = the person holds a live account elsewhere
live-incomplete = no live account found, but not every centre answered
live-none = no live account elsewhere

## hfx attest request, status, revoke

attest-issued = certificate { $id } from { $centre } (valid until { $until }), { $bytes } bytes:
attest-online-revoked = online: revoked ({ $reason }) at { $at }: { $detail }
attest-online = online: { $state }
attest-state-valid = valid
attest-state-revoked = revoked
attest-state-expired = expired
attest-state-unknown = unknown
attest-state-unspecified = unspecified

## hfx audit verify, replay, reconcile: the summary lines (problems keep their own words)

verify-warning-own-key = WARNING: --trust-export-key: each export's checkpoints are checked against the key in its own header. The result proves only that the export is consistent with itself, NOT that it is the centre's log: a forged export re-signed with another key passes. To check it against the centre's key, { $hint }.
verify-unreadable = { $file }: unreadable: { $error }
verify-summary = { $file }: centre { $centre }, { $entries } entries, root { $root }; { $checkpoints } checkpoints and { $cosignatures } cosignatures verified; witnessed up to { $witnessed }; { $present } payloads present, { $purged } purged; { $disclosures } disclosures committed by the log{ $uncommitted } ({ $secs } s: entries { $entries_secs } s = { $rate }/s, payloads { $payloads_secs } s)
verify-uncommitted = {" "}({ $count } written before schema 3, not committed)
verify-problem-at = { $kind } at { $at }: { $detail }
verify-problem = { $kind }: { $detail }
verify-ok = OK
verify-ok-own-key = OK (internally consistent only: checked against the export's own key, not the directory's)
verify-failed = FAILED
replay-rebuilt = { $centre }: { $rebuilt } disclosures rebuilt from the log, { $store } in the store, { $purged } with purged payloads
replay-compared = { $compared } records compared field by field with their commitment, { $by_hash } by hash only (payload purged), { $before } written before schema 3
replay-cases = { $count } transfer case(s) rebuilt from the log
replay-case = { $case } { $role } { $state } held { $held } paid { $paid } credited { $credited }{ $released }{ $unreadable } (last step { $age } s ago)
replay-case-released = , released
replay-case-unreadable = , { $count } entries unreadable (purged)
replay-store-compared = transfer cases compared with the store ({ $rows } rows) and the core system ({ $config }): { $findings } finding(s)
replay-store-not-compared = transfer cases not compared with a store or core system: give --config <node.toml>
replay-agree = log and store agree
replay-differences = DIFFERENCES
reconcile-matched = centres { $centres }: { $matched } messages matched on both sides, { $other } with centres not in this set
reconcile-repeated = { $count } entries repeat a message already logged on the same side (retries), not breaks
reconcile-breaks = { $count } message break(s)
money-cases = transfer cases: { $cases } ({ $settled } settled on both sides, { $one_sided } with one side not exported)
money-in-flight = money in flight, as the logs show it: { $fen } fen ({ $yuan })
money-held = held at origins        { $fen } fen in { $cases } case(s)  (transfer-out record sent, no payment notice yet)
money-in-transit = in transit at the bank { $fen } fen in { $cases } case(s)  (paid out and closed at the origin, not yet credited)
money-credited-not-closed = credited, not closed   { $fen } fen in { $cases } case(s)  (credited at the destination, the origin not closed: a break)
money-breaks = { $count } money break(s) (a hold older than { $secs } s is one)
doctor-way = { $way ->
    [ahead] ahead
   *[behind] behind
}
advice-peer-down = peer { $centre } is down: nothing listens on { $endpoint } — ask its operator to start its node (systemctl status hfx-node), or to publish its right endpoint in the directory
advice-peer-unreachable = peer { $centre } is unreachable at { $endpoint } ({ $error }): check the route and firewall from this host to that port, and ask its operator whether its node runs
advice-peer-maintenance = peer { $centre } is in maintenance mode: its calls get UNAVAILABLE (MAINTENANCE) until its operator ends it (hfx node maintenance off)
advice-own-maintenance = this node is in maintenance mode: peers get UNAVAILABLE (MAINTENANCE) — end it with hfx node maintenance off when the work is done
advice-own-standby = this process is a standby (another holds the writer lease): run the doctor against the serving process for its view
advice-witness-evidence = this node kept { $n } pieces of evidence of a forked or rolled-back log: read them (hfx witness evidence) and tell the zone's operators now
advice-peer-clock-problem = peer { $centre } is { $secs } s { doctor-way }: fix its NTP (chrony) — TLS and checkpoints need clocks within { $limit } s
advice-peer-clock-warning = peer { $centre } is { $secs } s { doctor-way }: check its NTP (chronyc tracking) — past { $limit } s TLS and checkpoints fail
advice-own-clock = this node's clock is about { $secs } s { doctor-way } of the zone ({ $count } of { $n } peers agree): fix this host's NTP (chrony) — TLS and checkpoints need clocks within { $limit } s
advice-peer-directory-older = peer { $centre } runs directory version { $theirs }, ours is { $ours }: its operator must install the newest signed directory and reload (hfx reload)
advice-peer-directory-newer = peer { $centre } already runs directory version { $theirs }, ours is { $ours }: install the newest signed directory here and reload (hfx reload)

## Progress bars (on a terminal only)

progress-reading = reading
progress-verifying = verifying
progress-reconciling = reconciling
progress-asking-core = asking the core system
progress-reading-credits = reading credits
