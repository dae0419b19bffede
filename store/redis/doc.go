// Package redis is the store.Store backend kept in Redis, shared by every
// permitd replica of a division. It passes the conformance suite in
// store/storetest against a real redis-server.
//
// # Atomicity
//
// Every write is one Lua script (go-redis Script: EVALSHA, and EVAL when
// the server does not know the script yet). A script makes all its checks
// first (request id unused, version, one non-final permit per citizen id,
// pending cancellation, token hash free) and returns a refusal before its
// first change, so a refused write changes nothing; then it makes every
// change, the audit entry included. Redis runs one script at a time, so no
// other client's command falls between a check and its change, whichever
// replica sent it. Nothing is read in Go and written back, with one
// exception: UpdateAccount runs its update function in Go, so its script
// is a compare-and-set on the account's stored JSON and the update runs
// again when another writer changed the account in between.
//
// # The audit chain
//
// An entry's hash is store.AuditHash: SHA-256 over a domain string, the
// previous hash, and the entry's deterministic protobuf encoding with seq
// set. Redis scripts offer only SHA-1 (redis.sha1hex), so the scripts
// carry SHA-256 written in Lua (with Redis's bit library). Go sends the
// entry's encoding without seq, prev_hash and hash, split before field 11;
// the script reads the head, puts seq (field 1) in front, hashes, and
// stores seq || first part || prev_hash (field 11) || hash (field 12) ||
// second part, which is exactly the deterministic encoding of the entry
// with those fields set (known fields go in field-number order, unknown
// ones last). The entry is thus chained in the same step as its change.
//
// The other sound option, hashing in Go against the head it read and
// having the script refuse when the head has moved, makes concurrent
// writers of a division retry each other: with 50 writers, every round
// lets one through. Hashing in Lua costs server time instead, about
// 140 µs a write on the build machine (BenchmarkWritePermit logs it), so
// one Redis chains about 7,000 audited writes a second at most.
//
// # Keys
//
// Every key of a division starts with the prefix {epermit:<division>}:, so
// all of them hash to one Cluster slot and a script may touch any of them.
// The scripts receive the prefix and build the names of the keys they
// touch, and name only the layout key in KEYS, for routing; Redis Cluster
// accepts this because every key lies in the slot of that key
// (TestStoreCluster runs the suite on three masters). In the list
// below the prefix is left out. Ids are used in key names as they are.
//
//   - layout: the layout version, "2". Open sets it on an unused division
//     and refuses a division with another one.
//   - permit:<id>: hash with fields d (the current permit, deterministic
//     protobuf epermitv1.Permit), v (its version, decimal), c (the holder's
//     citizen id), f ("1" when its status is final, else "0") and si (its
//     status index, decimal, "" for none). Past versions are not kept;
//     request records hold what each write stored.
//   - status: the division's status list, 4 bits an entry: entry i is the
//     field u4 #(i xor 1) (BITFIELD), so the string's bytes are the packing
//     of statuslist (even entries in the low nibble), up to the byte of the
//     highest entry set. The permit script sets a permit's entry to its
//     state (store.ListState) when the permit has a status index.
//   - status:version: the list's version; Open sets it to the Unix time in
//     microseconds when absent, and the permit script adds one whenever an
//     entry changes.
//   - status_held: bitmap of the status indices that permits hold; the
//     permit script refuses a new index found here (store.ErrIndexTaken).
//   - trust_list: the signed trust list that the replicas share
//     (trust.Shared), replaced by compare-and-set; never trusted
//     unverified.
//   - peer_status:<division>: the signed status list of another member
//     that the replicas share (federation.SharedLists), likewise.
//   - permits: sorted set of every permit id, all with score 0, read in
//     lexical order (ZRANGEBYLEX) for ListPermits.
//   - citizen:<citizen id>: sorted set (score 0) of the ids of the permits
//     that the citizen id holds now.
//   - active:<citizen id>: the id of the citizen's one non-final permit;
//     absent when there is none. This key is the one-permit rule.
//   - req:<request id>: the request record: kind (1 byte) ||
//     uvarint(len(hash)) || hash || body, where hash is the write's
//     RequestHash and the body is what the write recorded, as
//     deterministic protobuf: kind 1 the permit, 2 the pending
//     cancellation added, 3 the one removed, 4 the application, 5 the
//     service request. (store/bolt keeps a permit write's body as version
//     and id; here permits keep no past versions, so the body is the
//     permit itself.)
//   - pending:<id>: hash with fields d (epermitv1.PendingCancellation) and
//     permit (its permit id).
//   - pending_permit:<permit id>: the id of the permit's pending
//     cancellation.
//   - pendings: set of every pending cancellation id.
//   - account:<name>: the account as JSON, the same record as store/bolt
//     (name, division, roles and kind by enum value name, disabled, note,
//     token_hash in base64, RFC 3339 times; empty members left out).
//   - accounts: sorted set (score 0) of every account name.
//   - token:<hex of the token's SHA-256 hash>: the account name.
//   - audit:head: hash with fields seq (decimal) and hash (32 bytes) of the
//     last entry; absent while the log is empty.
//   - audit: hash from seq (decimal) to the entry's deterministic protobuf
//     encoding with seq, prev_hash and hash set. An append fails when the
//     log already holds the seq after the head.
//   - app:<id>: hash with fields d (epermitv1.Application), v (version),
//     dl (its deadline index member, "" when its deadline does not run)
//     and st (its state number).
//   - apps: sorted set (score 0) of every application id.
//   - app_deadlines: sorted set (score 0) of the applications whose
//     deadline runs (ACCEPTED with a deadline); member = the deadline as 16
//     hex digits of Unix nanoseconds (clamped at zero) || id, so members
//     sort by time and the overdue ones are a lex range.
//   - app_state:<state number>: sorted set (score 0) of the ids of the
//     applications in that state.
//   - sr:<id>: hash with fields d (epermitv1.ServiceRequest), v (version),
//     ob (its outbox member, "" when not in the outbox), pm (its permit
//     id) and, while a claim holds it for delivery, cl (the end of the
//     claim's lease as 16 hex digits of Unix nanoseconds; every write of
//     the request deletes it).
//   - srs: sorted set (score 0) of every service request id, read newest
//     first (ZREVRANGEBYLEX).
//   - sr_permit:<permit id>: sorted set (score 0) of the ids of the
//     requests that name the permit now.
//   - outbox: sorted set (score 0) of the requests whose delivery is
//     pending; member = next_attempt_time as 16 hex digits of Unix
//     nanoseconds (clamped at zero) || id. A claim leaves the member where
//     it is and sets cl on the request.
//   - sr_events:head: the seq of the last event (INCR), absent for none.
//   - sr_events: hash from seq (decimal) to the request as that write
//     stored it.
//
// # Copying
//
// Export and Import (store.Exporter, store.Importer; copy.go) read and
// write the division's values as records for permitd copy. Export reads
// the indexes above a chunk at a time and finds the request records with
// SCAN on the division's node; it is not one snapshot. Import writes a
// batch as one MULTI/EXEC, each value with the index keys the write
// scripts keep for it, and moves audit:head and sr_events:head forward
// only.
//
// # Durability
//
// A write is acknowledged when Redis has run its script; it is on disk
// then only with appendonly yes and appendfsync always, the setting the
// tests use (with everysec a crash may lose the last second of
// acknowledged writes).
//
// # Reads
//
// A read of one value is one command. A list reads an index and the values
// it names in one script, a page at a time; a filter applied in Go reads
// further pages until the page it returns is full, so pages are not one
// snapshot (store/bolt's are). The audit log and the event log are read up
// to the head read first: their entries never change once written, so
// what is read is one consistent prefix.
package redis
