package sim

import (
	"fmt"
	"strings"
	"time"
)

// Outage is one period of being down, measured from the simulator's start:
// down from Start for Length.
type Outage struct {
	Start, Length time.Duration
}

// ParseOutage parses "START:LENGTH", two Go durations, e.g. "5s:10s" for
// down from 5 s after start for 10 s.
func ParseOutage(s string) (Outage, error) {
	start, length, ok := strings.Cut(s, ":")
	if !ok {
		return Outage{}, fmt.Errorf("outage %q: want START:LENGTH, e.g. 5s:10s", s)
	}
	var o Outage
	var err error
	if o.Start, err = time.ParseDuration(start); err != nil {
		return Outage{}, fmt.Errorf("outage %q: start: %w", s, err)
	}
	if o.Length, err = time.ParseDuration(length); err != nil {
		return Outage{}, fmt.Errorf("outage %q: length: %w", s, err)
	}
	if o.Start < 0 || o.Length <= 0 {
		return Outage{}, fmt.Errorf("outage %q: the start must not be negative and the length must be positive", s)
	}
	return o, nil
}

// String returns the outage in the form ParseOutage reads.
func (o Outage) String() string { return o.Start.String() + ":" + o.Length.String() }

// Periodic is a recurring outage: down for For at Every, 2×Every, 3×Every,
// ... after start. The zero value never goes down.
type Periodic struct {
	Every, For time.Duration
}

// Schedule tells when the simulator is down.
type Schedule struct {
	Outages  []Outage
	Periodic Periodic
}

// Validate checks the schedule.
func (s Schedule) Validate() error {
	for _, o := range s.Outages {
		if o.Start < 0 || o.Length <= 0 {
			return fmt.Errorf("outage %s: the start must not be negative and the length must be positive", o)
		}
	}
	p := s.Periodic
	switch {
	case p.Every == 0 && p.For == 0:
	case p.Every <= 0 || p.For <= 0:
		return fmt.Errorf("periodic outage: both the period (%v) and the length (%v) must be positive", p.Every, p.For)
	case p.For >= p.Every:
		return fmt.Errorf("periodic outage: down for %v every %v would never come back up", p.For, p.Every)
	}
	return nil
}

// Down reports whether the simulator is down at elapsed time since start.
func (s Schedule) Down(elapsed time.Duration) bool {
	for _, o := range s.Outages {
		if elapsed >= o.Start && elapsed < o.Start+o.Length {
			return true
		}
	}
	p := s.Periodic
	return p.Every > 0 && elapsed >= p.Every && elapsed%p.Every < p.For
}
