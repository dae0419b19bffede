package node

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/yrd-epermit/epermit/catalogue"
	"github.com/yrd-epermit/epermit/department"
	"github.com/yrd-epermit/epermit/pki"
	"github.com/yrd-epermit/epermit/server/scenario"
)

// DepartmentConfig is how the node reaches one department system.
type DepartmentConfig struct {
	// Endpoint is its gRPC address (DepartmentService).
	Endpoint string `yaml:"endpoint"`
	// Timeout bounds one delivery call; outbox.timeout when zero.
	Timeout time.Duration `yaml:"timeout"`
	// CA, ClientCert and ClientKey turn on mutual TLS; without them the
	// endpoint must be on loopback.
	CA         string `yaml:"ca"`
	ClientCert string `yaml:"client_cert"`
	ClientKey  string `yaml:"client_key"`
}

// OutboxConfig tunes the delivery of service requests.
type OutboxConfig struct {
	// MaxAttempts is how many deliveries are tried before a request is
	// FAILED; Backoff the wait after the first failure, doubling up to
	// MaxBackoff, with jitter.
	MaxAttempts int           `yaml:"max_attempts"`
	Backoff     time.Duration `yaml:"backoff"`
	MaxBackoff  time.Duration `yaml:"max_backoff"`
	// Timeout bounds one call to a department, unless its own is set.
	Timeout time.Duration `yaml:"timeout"`
	// Workers bounds the deliveries in flight.
	Workers int `yaml:"workers"`
	// Lease is how long a request taken for delivery is held from the
	// other replicas sharing the store; longer than every department's
	// timeout. Zero: the longest timeout plus scenario.LeaseMargin.
	Lease time.Duration `yaml:"lease"`
	// BreakerFailures consecutive failures open a department's circuit
	// for BreakerCoolDown.
	BreakerFailures int           `yaml:"breaker_failures"`
	BreakerCoolDown time.Duration `yaml:"breaker_cool_down"`
}

// defaultOutbox is the outbox configuration of a node without one.
func defaultOutbox() OutboxConfig {
	d := scenario.DefaultOutboxConfig()
	return OutboxConfig{MaxAttempts: d.MaxAttempts, Backoff: d.Backoff, MaxBackoff: d.MaxBackoff, Timeout: d.DefaultTimeout,
		Workers: d.Workers, BreakerFailures: department.DefaultFailures, BreakerCoolDown: department.DefaultCoolDown}
}

// validate reports what is wrong with the outbox settings.
func (o OutboxConfig) validate() error {
	if o.MaxAttempts < 1 || o.Workers < 1 || o.BreakerFailures < 1 || o.Backoff <= 0 || o.MaxBackoff < o.Backoff ||
		o.Timeout <= 0 || o.BreakerCoolDown <= 0 {
		return errors.New("outbox: max_attempts, workers and breaker_failures must be at least 1, backoff, timeout and breaker_cool_down positive, max_backoff at least backoff")
	}
	return nil
}

// checkLease reports a lease that is negative or not longer than the
// longest timeout of a call to a department: a claim must outlast the
// delivery it covers, or another replica may deliver the request too.
func (c Config) checkLease() error {
	longest := c.Outbox.Timeout
	for _, d := range c.Departments {
		longest = max(longest, d.Timeout)
	}
	if l := c.Outbox.Lease; l < 0 || (l > 0 && l <= longest) {
		return fmt.Errorf("outbox.lease %v must be longer than the longest department timeout, %v (0: that plus %v)", l, longest, scenario.LeaseMargin)
	}
	return nil
}

// compileCatalogue is the shipped catalogue with the city's changes,
// compiled: a rule that does not compile stops the node, naming the
// service, the rule version and the condition.
func (c Config) compileCatalogue() (*catalogue.Compiled, error) {
	cat := catalogue.Default()
	if len(c.Catalogue.Departments) > 0 || len(c.Catalogue.Scenarios) > 0 {
		var err error
		if cat, err = catalogue.Override(cat, &c.Catalogue); err != nil {
			return nil, fmt.Errorf("catalogue: %w", err)
		}
	}
	compiled, err := catalogue.Compile(cat)
	if err != nil {
		return nil, fmt.Errorf("catalogue: %w", err)
	}
	for code := range c.Departments {
		if !slices.ContainsFunc(cat.Departments, func(d catalogue.Department) bool { return d.Code == code }) {
			return nil, fmt.Errorf("departments: %q is not a department of the catalogue", code)
		}
	}
	return compiled, nil
}

// departments are the adapters of the configured department systems, each
// behind its circuit breaker.
type departments struct {
	adapters map[string]department.Adapter
	timeouts map[string]time.Duration
	conns    []*department.GRPCAdapter
}

// dialDepartments prepares the adapters; connections open on first use.
func dialDepartments(c Config) (*departments, error) {
	d := &departments{adapters: map[string]department.Adapter{}, timeouts: map[string]time.Duration{}}
	for code, dc := range c.Departments {
		var opts []department.DialOption
		if dc.ClientCert != "" || dc.CA != "" {
			tc, err := pki.ClientConfig(dc.CA, dc.ClientCert, dc.ClientKey)
			if err != nil {
				d.close()
				return nil, fmt.Errorf("departments.%s: %w", code, err)
			}
			opts = append(opts, department.WithTLS(tc))
		}
		a, err := department.Dial(dc.Endpoint, opts...)
		if err != nil {
			d.close()
			return nil, fmt.Errorf("departments.%s: %w", code, err)
		}
		d.conns = append(d.conns, a)
		d.adapters[code] = department.NewBreaker(a, department.BreakerConfig{
			Department: code, Failures: c.Outbox.BreakerFailures, CoolDown: c.Outbox.BreakerCoolDown,
		})
		d.timeouts[code] = dc.Timeout
	}
	return d, nil
}

// close closes the connections.
func (d *departments) close() {
	for _, a := range d.conns {
		a.Close()
	}
}

// outboxConfig is the scenario outbox's configuration.
func (o OutboxConfig) outboxConfig(d *departments) scenario.OutboxConfig {
	return scenario.OutboxConfig{
		Departments: d.adapters, Timeouts: d.timeouts, DefaultTimeout: o.Timeout,
		Lease: o.Lease, MaxAttempts: o.MaxAttempts, Backoff: o.Backoff, MaxBackoff: o.MaxBackoff, Workers: o.Workers, Poll: time.Second,
	}
}
