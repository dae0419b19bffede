// Package bolt is the store.Store backend kept in one bbolt file.
//
// # Layout
//
// The file holds these top-level buckets. Integers in keys are big-endian,
// so keys sort in numeric order; "||" is concatenation.
//
//   - meta: the file's own records.
//     Key "layout" holds the layout version as ASCII decimal, "1" for the
//     layout described here. Open lays out an empty file and refuses one
//     with another version, or with buckets but no meta bucket.
//     Key "audit_head" holds the head of the audit log as last appended:
//     8-byte seq || 32-byte SHA-256 hash. It is absent while the log is
//     empty.
//
//   - permits: every version of every permit. Key = permit id || 0x00 ||
//     8-byte version; value = that version as written, deterministically
//     marshalled protobuf (epermitv1.Permit). The current permit is the
//     last key with the id's prefix. Permit ids hold no NUL byte, so the
//     prefix id || 0x00 names one permit and the keys sort by id, then
//     version.
//
//   - citizens: the citizen index. Key = citizen id || 0x00 || permit id;
//     value = one byte, 1 when the permit is not final (store.IsFinal) and
//     0 when it is. There is one key for each permit, under its current
//     holder, so ListPermits walks a citizen's permits in id order and
//     WritePermit checks the one-non-final-permit rule by reading the
//     citizen's few keys.
//
//   - requests: one record per request id. Key = request id; value =
//     kind (1 byte) || uvarint(len(hash)) || hash || body, where hash is the
//     write's RequestHash and body depends on the kind:
//     1, a permit write: 8-byte version || permit id (the permit itself is
//     the permits key of that version);
//     2, a pending cancellation added, and 3, one removed: the pending
//     cancellation, deterministically marshalled protobuf.
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
//   - audit: the audit log. Key = 8-byte seq, from 1; value = the
//     deterministic protobuf encoding of the epermitv1.AuditEntry with its
//     seq, prev_hash and hash set (store.ChainAudit). store.CheckAuditChain
//     verifies it against meta's audit_head.
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
// groups that commit in turn (about 14 writes a commit with 50 writers,
// against about 25 here) and the lock idles while delays run out.
//
// A business refusal (conflict, duplicate request, active permit, missing
// pending cancellation, taken name) is decided before anything is written
// and is not returned to bbolt, which would roll back the whole shared
// transaction: the write records the refusal for its own caller and lets
// the rest commit. Only storage failures fail a transaction; then the
// failed write runs again alone, and the others together.
//
// Every append to the audit log happens inside a write transaction, which
// bbolt runs one at a time: it reads audit_head, chains the entry to it and
// writes entry and head together, so the log has no gaps and no forks. A
// mutation's entry goes in the transaction of the mutation. An append
// fails, and with it its write, when the audit bucket already holds a seq
// beyond audit_head, so a damaged head never overwrites entries.
//
// # Why the keys are time-ordered
//
// A commit writes every page it dirtied, and under load the cost of a
// batch is mostly those pages. A bucket whose keys arrive in random order
// dirties about one leaf page per write; a bucket whose keys arrive in
// order dirties the last page or two per batch. So the layout keeps one
// randomly keyed bucket per permit write (citizens, keyed by the holder)
// and lets the others append: permit ids start with their issue time
// (package permitid), the audit log is keyed by seq, and request records
// are small and keyed by request ids that the project's client also
// starts with the time. The permits bucket and the audit bucket are filled
// completely on splits (FillPercent 1), since their new keys mostly go at
// the end.
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
