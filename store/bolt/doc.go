// Package bolt is the store.Store backend kept in one bbolt file.
//
// # Layout
//
// The file holds these top-level buckets. Integers in keys are big-endian,
// so keys sort in numeric order; "||" is concatenation.
//
//   - meta: the file's own records.
//     Key "layout" holds the layout version as ASCII decimal, "3" for the
//     layout described here. Open lays out an empty file, converts a
//     layout 2 file (below), and refuses one with another version, or
//     with buckets but no meta bucket.
//     Key "audit_head" holds the head of the audit log as last appended:
//     8-byte seq || 32-byte SHA-256 hash. It is absent while the log is
//     empty.
//     Key "status_version" holds the status list's version, 8 bytes.
//
//   - permits: every version of every permit. Key = permit id || 0x00 ||
//     8-byte version; value = that version as written, deterministically
//     marshalled protobuf (epermitv1.Permit). The current permit is the
//     last key with the id's prefix. Permit ids hold no NUL byte, so the
//     prefix id || 0x00 names one permit and the keys sort by id, then
//     version.
//
//   - citizens: the citizen index. Key = citizen id || 0x00 || permit id;
//     value = one byte, 1 while the permit's current version is not final
//     (store.IsFinal), 0 once it is. Each permit has one key, under the
//     holder of its current version.
//
//   - status: the division's status list (store.StatusListKeeper), in
//     chunks of 512 entries. Key = 4-byte chunk number; value = the
//     chunk's 512 states packed as package statuslist packs them (256
//     bytes), then one bit per entry set once a permit holds it (64
//     bytes; entry i of the chunk in bit i%8 of byte i/8). A chunk that
//     no permit touched has no key.
//
//   - requests: one record per request id. Key = request id; value =
//     kind (1 byte) || uvarint(len(hash)) || hash || body, where hash is the
//     write's RequestHash and body depends on the kind:
//     1, a permit write: 8-byte version || permit id (the permit itself is
//     the permits key of that version);
//     2, a pending cancellation added, and 3, one removed: the pending
//     cancellation, deterministically marshalled protobuf;
//     4, an application write: the application as written,
//     deterministically marshalled protobuf;
//     5, a service request write: the service request as written,
//     deterministically marshalled protobuf.
//
//   - pending: pending cancellations. Key = pending id; value =
//     deterministically marshalled epermitv1.PendingCancellation.
//
//   - pending_permits: key = permit id; value = the id of the permit's one
//     pending cancellation.
//
//   - accounts: key = account name; value = the account as JSON: an object
//     with "name", "division", "roles" (enum value names such as
//     "ROLE_CLERK"), "kind" (such as "ACCOUNT_KIND_PERSON"), "disabled",
//     "note", "token_hash" (base64), and "create_time", "update_time",
//     "token_time" (RFC 3339); empty and zero members are left out.
//
//   - tokens: key = SHA-256 hash of an account's current token (32 bytes);
//     value = the account name. System accounts, without a token, have no
//     key.
//
//   - applications: key = application id ("A" and a permit-style id, so
//     keys arrive in time order); value = the current application,
//     deterministically marshalled epermitv1.Application. Applications
//     keep no past versions: the audit log and request records tell their
//     history.
//
//   - application_deadlines: the applications whose deadline runs
//     (ACCEPTED). Key = 8-byte Unix time of the deadline in nanoseconds ||
//     application id; empty value. Overdue applications are the keys
//     before now, so they are listed and counted without reading the
//     others.
//
//   - application_states: every application by state. Key = state (1
//     byte, the epermitv1.ApplicationState number) || application id;
//     empty value. Listing one state (the forwarder reads FORWARDING) and
//     counting it read only that state's keys.
//
//   - service_requests: key = service request id (time-ordered, so keys
//     arrive in time order); value = the current request,
//     deterministically marshalled epermitv1.ServiceRequest. Like
//     applications, requests keep no past versions; the event log holds
//     each change of state.
//
//   - service_request_outbox: the requests whose delivery is pending.
//     Key = 8-byte Unix time of next_attempt_time in nanoseconds (clamped
//     at zero) || request id; value empty. A request has a key exactly
//     while its next_attempt_time is set; the due requests are the keys up
//     to now, less those a claim holds. Claims (ClaimDeliveries) are held
//     in memory; files written before that may hold in a value the 8-byte
//     Unix time in nanoseconds until which a claim held the request,
//     honoured until then and cleared by the request's next write.
//
//   - service_request_events: the event log of service requests. Key =
//     8-byte seq, from 1, without gaps; value = the request as that write
//     stored it (the same bytes as in service_requests then). The head
//     is the last key; nothing is ever deleted.
//
//     These six buckets (the application and service request ones)
//     came during layout 2; the conversion adds them to a layout 2 file
//     without them.
//
//   - audit: the audit log. Key = 8-byte seq, from 1; value = the
//     deterministic protobuf encoding of the epermitv1.AuditEntry with its
//     seq, prev_hash and hash set (store.ChainAudit). store.CheckAuditChain
//     verifies it against meta's audit_head.
//
// # The citizen index and the status list
//
// The one-non-final-permit rule and ListPermits by citizen id need the
// permits of a citizen id; the rule that no two permits hold one
// status-list entry needs the entries held. Both are buckets (citizens,
// status), written in the transaction of each permit write, so they are
// exactly what the permits say after any commit, rollback or kill -9, a
// write sees the writes before it in its shared transaction, and a reader
// sees the index of its own snapshot.
//
// Layout 2 kept both in memory, rebuilt at every Open by reading every
// permit: about 108 bytes of heap a permit and, at 10,000,000 permits, a
// minute or two of start-up (docs/scale.md). In the file they cost at
// write instead: the keys of both arrive in random order (a citizen id,
// an entry drawn at random), so each new permit dirties about two leaf
// pages more than the time-ordered buckets do (see Why the keys are
// time-ordered). Open now reads a few keys, whatever the number of
// permits.
//
// Converting a layout 2 file (migrate.go) reads every permit once, in
// transactions of 100,000 permits, and writes the layout version last, so
// a conversion cut short starts again at the next Open. BenchmarkOpen
// measures it.
//
// # The service request index by permit
//
// Listing a permit's service requests uses a second index in memory: a
// map from permit id to the ids of the requests that named it, in id
// order. Open builds it by reading every service request, decoding only
// its permit id. In the file, keyed permit id || request id, it was a
// bucket whose keys arrive in random order (requests come for permits
// issued at any time): it took a new request from about 1.3 to 2.4 pages
// a write, and BenchmarkServiceRequestLikeNode from about 16,600 to
// 10,000 writes/s.
//
// It may name more requests than the file holds, never fewer. A write
// adds its request's id in its transaction, before the commit, and
// nothing is removed: an id may belong to a write that failed, or to a
// request that has since moved to another permit id. A reader begins its
// read transaction before it reads the index, so every request that its
// snapshot holds was added before; it then keeps the ids that its
// snapshot holds with that permit id. No commit-loop staging is needed, as
// the citizen index needs for its one-permit rule.
//
// # Writes
//
// Every write runs its checks and its changes in one read-write
// transaction, and transactions are shared: a single commit loop takes
// every write that is waiting, runs them one after the other in one
// transaction and commits it with one fsync (group commit), and the
// writes that arrive meanwhile wait for the next commit. bbolt's own
// DB.Batch is not used: it closes a batch after a fixed delay and only then
// waits for the writer lock, so under load its writers split into small
// groups that commit in turn (about 14 writes a commit with 50 writers)
// and the lock idles while delays run out. Under load the loop lingers up
// to 1 ms so that all the writers of the last commit join the next
// (committer, busyLinger); a lone write never waits.
//
// A business refusal (conflict, duplicate request, active permit, missing
// pending cancellation, taken name) is decided before anything is written
// and is not returned to bbolt, which would roll back the whole shared
// transaction: the write records the refusal for its own caller and lets
// the rest commit. Only storage failures fail a transaction; then the
// failed write runs again alone, and the others together.
//
// A service request write keeps its buckets in step in its transaction:
// it reads the stored request to check the version, and takes from it the
// old outbox key to replace with the new request's (leaving a key that
// does not change alone, but for ending its claim), and with Event set
// appends the event
// under the last seq plus one. Write transactions run one at a time and
// the writes within one in order, so seqs are given in commit order: a
// read transaction sees a prefix of the log, and a reader that resumes
// after the last seq it saw misses none. A write that fails leaves no key
// behind, so the log has no gaps.
//
// Every append to the audit log happens inside a write transaction, which
// bbolt runs one at a time: it reads audit_head, chains the entry to it and
// writes entry and head together, so the log has no gaps and no forks. A
// mutation's entry goes in the transaction of the mutation. An append
// fails, and with it its write, when the audit bucket already holds a seq
// beyond audit_head, so a damaged head never overwrites entries.
//
// # Copying
//
// Export and Import (store.Exporter, store.Importer; copy.go) read and
// write the file's values as records for permitd copy. Export reads one
// read transaction: the last version of every permit, and a permit
// write's request record with the permit version it names. Import writes
// a batch in one transaction of the commit loop, each value with its
// index keys (a permit's citizen index and status-list entries among
// them), and records its service requests in the permit index as writes
// do, so it is right after the import without a reopen.
//
// # Why the keys are time-ordered
//
// A commit writes every page it dirtied, and under load the cost of a
// batch is mostly those pages. A bucket whose keys arrive in random order
// dirties about one leaf page per write; a bucket whose keys arrive in
// order dirties the last page or two per batch. So the buckets a new
// permit writes append wherever the data allows (only the citizen index
// and the status list cannot, see above): permit ids
// start with their issue time (package permitid), the audit log is keyed
// by seq, and request records are small and keyed by request ids that the
// project's client also starts with the time. The permits bucket and the
// audit bucket are filled completely on splits (FillPercent 1), since
// their new keys mostly go at the end.
//
// # bbolt options
//
// The freelist is written with every commit (bbolt's default; the
// NoFreelistSync option is not used). Measured with the node benchmark at
// 30,000 permits, leaving it out saves one page a commit, about 0.04 pages
// a write, which does not show in the writes per second; but then every
// Open rebuilds the freelist by walking every page of the file (31 ms for
// the 32 MB file, so about a second a gigabyte), and bbolt panics there
// instead of returning an error when the file is damaged. The freelist is
// bbolt's hashmap type, which allocates in constant time where the array
// type scans the list; with the few dozen free pages this layout leaves,
// neither shows, and the hashmap costs nothing.
package bolt
