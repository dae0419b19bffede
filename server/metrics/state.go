package metrics

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/yrd-epermit/epermit/store"
)

// scrapeTimeout bounds the store reads of one scrape.
const scrapeTimeout = 5 * time.Second

// outboxCountLimit bounds how many outbox entries one scrape counts: past
// it the depth reads as this number, which is alarm enough.
const outboxCountLimit = 100_000

var (
	outboxQueuedDesc = prometheus.NewDesc("epermit_outbox_requests",
		"Service requests in the outbox, due or waiting for a retry (counted up to 100000).", nil, nil)
	outboxDueDesc = prometheus.NewDesc("epermit_outbox_due_requests",
		"Service requests in the outbox whose delivery is due now.", nil, nil)
	outboxAgeDesc = prometheus.NewDesc("epermit_outbox_oldest_due_age_seconds",
		"How long the earliest due service request has been due; 0 when none is.", nil, nil)
	overdueDesc = prometheus.NewDesc("epermit_applications_overdue",
		"Accepted applications not decided by their deadline.", nil, nil)
	statusAgeDesc = prometheus.NewDesc("epermit_status_list_age_seconds",
		"Age of the status list cached for each other member (from the time the member signed it); +Inf when none was fetched yet.",
		[]string{"member"}, nil)
)

// WatchStore adds the gauges read from the store at each scrape: the
// outbox's depth and the age of its earliest due request, and the
// applications overdue or whose deadline falls within atRiskDays days.
// clock tells the time.
func (m *Metrics) WatchStore(s store.Store, clock func() time.Time, atRiskDays int) {
	m.Register(&storeCollector{store: s, clock: clock, atRisk: time.Duration(atRiskDays) * 24 * time.Hour,
		atRiskDesc: prometheus.NewDesc("epermit_applications_deadline_at_risk",
			"Accepted applications not decided, not yet overdue, whose deadline falls within the next days (label days).",
			nil, prometheus.Labels{"days": strconv.Itoa(atRiskDays)})})
}

// storeCollector reads the store when scraped.
type storeCollector struct {
	store      store.Store
	clock      func() time.Time
	atRisk     time.Duration
	atRiskDesc *prometheus.Desc
}

// Describe sends the descriptions of the store's gauges.
func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- outboxQueuedDesc
	ch <- outboxDueDesc
	ch <- outboxAgeDesc
	ch <- overdueDesc
	ch <- c.atRiskDesc
}

// Collect reads the outbox index and the application deadline index; a
// read that fails is reported as an invalid metric, and the scrape goes on.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	now := c.clock()
	if st, err := c.store.OutboxStats(ctx, now, outboxCountLimit); err != nil {
		ch <- prometheus.NewInvalidMetric(outboxQueuedDesc, err)
	} else {
		age := 0.0
		if st.Due > 0 {
			age = max(now.Sub(st.OldestDue).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(outboxQueuedDesc, prometheus.GaugeValue, float64(st.Queued))
		ch <- prometheus.MustNewConstMetric(outboxDueDesc, prometheus.GaugeValue, float64(st.Due))
		ch <- prometheus.MustNewConstMetric(outboxAgeDesc, prometheus.GaugeValue, age)
	}
	overdue, err := c.store.CountApplications(ctx, store.ApplicationFilter{OverdueAt: now})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(overdueDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(overdueDesc, prometheus.GaugeValue, float64(overdue))
	soon, err := c.store.CountApplications(ctx, store.ApplicationFilter{OverdueAt: now.Add(c.atRisk)})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.atRiskDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.atRiskDesc, prometheus.GaugeValue, float64(max(soon-overdue, 0)))
}

// StatusLists tells the age of the status list cached for each other
// member of the federation (federation.Poller).
type StatusLists interface {
	// StatusListAges returns the age at now of each member's cached list,
	// by division code; the longest time.Duration for a member whose list
	// was never fetched.
	StatusListAges(now time.Time) map[string]time.Duration
}

// WatchStatusLists adds epermit_status_list_age_seconds per member, read
// from lists at each scrape.
func (m *Metrics) WatchStatusLists(lists StatusLists, clock func() time.Time) {
	m.Register(&statusCollector{lists: lists, clock: clock})
}

// statusCollector reads the status-list ages when scraped.
type statusCollector struct {
	lists StatusLists
	clock func() time.Time
}

// Describe sends the description of the age gauge.
func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) { ch <- statusAgeDesc }

// Collect sends one age per member.
func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	for member, d := range c.lists.StatusListAges(c.clock()) {
		age := d.Seconds()
		if d == math.MaxInt64 {
			age = math.Inf(1)
		}
		ch <- prometheus.MustNewConstMetric(statusAgeDesc, prometheus.GaugeValue, age, member)
	}
}

// Load tells how many calls are in flight and how many were shed
// (loadshed.Limiter).
type Load interface {
	// InFlight is the number of calls being handled now.
	InFlight() int
	// Shed is the number of calls refused since start.
	Shed() uint64
}

// WatchLoad adds epermit_calls_in_flight and epermit_calls_shed_total,
// read from l at each scrape.
func (m *Metrics) WatchLoad(l Load) {
	m.Register(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "epermit_calls_in_flight",
			Help: "Calls being handled now under the in-flight limit (health checks and streams are not counted)."},
			func() float64 { return float64(l.InFlight()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "epermit_calls_shed_total",
			Help: "Calls refused with RESOURCE_EXHAUSTED because the in-flight limit was reached and no slot freed within the queue wait."},
			func() float64 { return float64(l.Shed()) }),
	)
}
