package store

import "time"

// OutboxStats is what the outbox of service requests holds at one moment,
// for monitoring (Store.OutboxStats).
type OutboxStats struct {
	// Queued is how many service requests are in the outbox, due or
	// waiting for a retry, counted up to the limit asked for.
	Queued int
	// Due is how many of them are due: their next_attempt_time is at or
	// before the time asked about.
	Due int
	// OldestDue is the next_attempt_time of the earliest due request;
	// zero when none is due.
	OldestDue time.Time
}
