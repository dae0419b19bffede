package node

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/yrd-epermit/epermit/catalogue"
	"github.com/yrd-epermit/epermit/division"
	"github.com/yrd-epermit/epermit/server/application"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Config is a node's configuration. Load fills it from defaults, a YAML
// file, PERMITD_* environment variables and flags, each overriding the one
// before.
type Config struct {
	// Listen is the gRPC address; plaintext is allowed on loopback only.
	Listen string `yaml:"listen"`
	// Division is the GB/T 2260 code of the issuing public-security bureau.
	Division string `yaml:"division"`
	// Data is the folder holding the bbolt file and the issuer key.
	Data string `yaml:"data"`
	// Store names the store when it is not the bbolt file in the data
	// folder: a bbolt file path, or a redis:// or rediss:// URL
	// (store/storeurl). Empty: Data/permits.db.
	Store string `yaml:"store"`
	// Authority overrides the conventional name of the issuing bureau.
	Authority string `yaml:"authority"`
	// Rules are the city's lifecycle rules.
	Rules RulesConfig `yaml:"rules"`
	// Log configures structured logging on stderr.
	Log LogConfig `yaml:"log"`
	// TLS configures transport security; without it the node serves
	// plaintext, on loopback only.
	TLS TLSConfig `yaml:"tls"`
	// Limits bounds what one identity may do.
	Limits LimitsConfig `yaml:"limits"`
	// Trust configures the federation's trust list; without it the node
	// verifies only its own credentials.
	Trust TrustConfig `yaml:"trust"`
	// Federation configures how this node calls the other members.
	Federation FederationConfig `yaml:"federation"`
	// Applications configures applications for a permit.
	Applications ApplicationsConfig `yaml:"applications"`
	// Catalogue is this city's changes to the shipped service catalogue
	// (catalogue.Override): departments and services replaced or added by
	// code, services disabled.
	Catalogue catalogue.Catalogue `yaml:"catalogue"`
	// Departments are the department systems service requests are routed
	// to, by department code.
	Departments map[string]DepartmentConfig `yaml:"departments"`
	// Outbox tunes the delivery of service requests.
	Outbox OutboxConfig `yaml:"outbox"`
	// Metrics configures the Prometheus endpoint; off by default.
	Metrics MetricsConfig `yaml:"metrics"`
	// Overload bounds the calls handled at once.
	Overload OverloadConfig `yaml:"overload"`
	// Tracing configures OpenTelemetry tracing; off by default.
	Tracing TracingConfig `yaml:"tracing"`
}

// ApplicationsConfig is what varies by city in applications for a permit.
type ApplicationsConfig struct {
	// DeadlineDays is how many days after acceptance the decision is due:
	// 15 by the regulations (Art. 9), which let a city extend it to no
	// more than 30.
	DeadlineDays int `yaml:"deadline_days"`
	// RequiredMaterials are the materials an application needs, each told
	// by code and name when missing. An item with any_of is a choice:
	// any one of its materials meets it (Art. 2: proof of employment, of
	// stable residence or of continuous study). Setting it replaces the
	// whole default list.
	RequiredMaterials []MaterialConfig `yaml:"required_materials"`
}

// MaterialConfig is one required material, or a choice of materials.
type MaterialConfig struct {
	// Code is the stable code clerks give, in lower-case snake case.
	Code string `yaml:"code"`
	// Zh and En are its names in Chinese and English.
	Zh string `yaml:"zh"`
	En string `yaml:"en"`
	// AnyOf, for a choice, are the materials of which one is enough; they
	// have no any_of of their own.
	AnyOf []MaterialConfig `yaml:"any_of"`
}

// defaultMaterials is application.DefaultRequirements as configuration.
func defaultMaterials() []MaterialConfig {
	var out []MaterialConfig
	for _, r := range application.DefaultRequirements() {
		m := MaterialConfig{Code: r.Code, Zh: r.NameZh, En: r.NameEn}
		for _, c := range r.AnyOf {
			m.AnyOf = append(m.AnyOf, MaterialConfig{Code: c.GetCode(), Zh: c.GetNameZh(), En: c.GetNameEn()})
		}
		out = append(out, m)
	}
	return out
}

// requirements converts the configured materials for the service.
func (c ApplicationsConfig) requirements() ([]application.Requirement, error) {
	var out []application.Requirement
	for _, m := range c.RequiredMaterials {
		r := application.Requirement{Code: m.Code, NameZh: m.Zh, NameEn: m.En}
		for _, a := range m.AnyOf {
			if len(a.AnyOf) > 0 {
				return nil, fmt.Errorf("applications.required_materials: %q inside the choice %q has a choice of its own", a.Code, m.Code)
			}
			r.AnyOf = append(r.AnyOf, &epermitv1.Material{Code: a.Code, NameZh: a.Zh, NameEn: a.En})
		}
		out = append(out, r)
	}
	if err := application.CheckRequirements(out); err != nil {
		return nil, fmt.Errorf("applications.required_materials: %w", err)
	}
	return out, nil
}

// FederationConfig is this node's side of calls to other member nodes.
type FederationConfig struct {
	// ClientCert and ClientKey are this node's client certificate for
	// mutual TLS (a system account named in it must exist on the other
	// members, with the partner role); CA verifies the other nodes.
	ClientCert string `yaml:"client_cert"`
	ClientKey  string `yaml:"client_key"`
	CA         string `yaml:"ca"`
	// StatusRefresh is how often the other members' status lists are
	// fetched; StatusMaxAge how old a cached list may be and still decide
	// that a permit is valid.
	StatusRefresh time.Duration `yaml:"status_refresh"`
	StatusMaxAge  time.Duration `yaml:"status_max_age"`
}

// TrustConfig says where the signed trust list comes from.
type TrustConfig struct {
	// RegistryPub is the PEM file of the registry's public key.
	RegistryPub string `yaml:"registry_pub"`
	// ListFile or ListURL is where the signed list is read from (one of them).
	ListFile string `yaml:"list_file"`
	ListURL  string `yaml:"list_url"`
	// Refresh is how often the list is read again for a newer one.
	Refresh time.Duration `yaml:"refresh"`
}

// TLSConfig names the node's certificate files (PEM).
type TLSConfig struct {
	// Cert and Key are the node's certificate and private key.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ClientCA, when set, turns on mutual TLS: every client must present a
	// certificate issued by this CA.
	ClientCA string `yaml:"client_ca"`
}

// LimitsConfig is the default rate limits on changes (server/ratelimit),
// per caller and per citizen id; operators override them per key with
// permitctl admin ratelimit.
type LimitsConfig struct {
	// MutationsPerSecond is each account's sustained rate of changes; 0
	// turns the limit off.
	MutationsPerSecond float64 `yaml:"mutations_per_second"`
	// MutationBurst is how many changes an account may make at once.
	MutationBurst int `yaml:"mutation_burst"`
	// CitizenMutationsPerMinute is the sustained rate of the changes that
	// name one citizen id (issue, transfer, application, service request),
	// whoever makes them; 0 turns the limit off.
	CitizenMutationsPerMinute float64 `yaml:"citizen_mutations_per_minute"`
	// CitizenMutationBurst is how many such changes may come at once.
	CitizenMutationBurst int `yaml:"citizen_mutation_burst"`
}

// RulesConfig holds what varies by city in the permit lifecycle.
type RulesConfig struct {
	// EndorsementWindowMonths: months before each residence anniversary in
	// which the yearly endorsement can be made (1 by the regulations).
	EndorsementWindowMonths int `yaml:"endorsement_window_months"`
	// CardValidityYears: card validity from the issue date; 0 for none.
	CardValidityYears int `yaml:"card_validity_years"`
	// CancelReasons: cancellation grounds recognised here, in lower case
	// (false_materials, conditions_not_met, local_hukou, death, expired,
	// other, forged, fraudulently_obtained); empty for all.
	CancelReasons []string `yaml:"cancel_reasons"`
}

// LogConfig configures log/slog.
type LogConfig struct {
	// Format is "text" or "json".
	Format string `yaml:"format"`
	// Level is "debug", "info", "warn" or "error".
	Level string `yaml:"level"`
}

// GCPercent is the garbage collector's target (GOGC) that permitd sets
// unless the GOGC variable gives one: docs/operations.md says why it is
// above Go's 100.
const GCPercent = 300

// DefaultConfig is the zero-config node: Shangyu district on loopback with
// its data in ./data.
func DefaultConfig() Config {
	return Config{
		Listen:     "127.0.0.1:7700",
		Division:   "330604",
		Data:       "data",
		Rules:      RulesConfig{EndorsementWindowMonths: 1},
		Log:        LogConfig{Format: "text", Level: "info"},
		Limits:     LimitsConfig{MutationsPerSecond: 20, MutationBurst: 40, CitizenMutationsPerMinute: 1, CitizenMutationBurst: 20},
		Trust:      TrustConfig{Refresh: time.Minute},
		Federation: FederationConfig{StatusRefresh: time.Minute, StatusMaxAge: time.Hour},
		Applications: ApplicationsConfig{
			DeadlineDays:      application.DefaultDeadlineDays,
			RequiredMaterials: defaultMaterials(),
		},
		Outbox:   defaultOutbox(),
		Metrics:  MetricsConfig{DeadlineAtRiskDays: defaultAtRiskDays},
		Overload: OverloadConfig{MaxInFlight: defaultMaxInFlight, QueueWait: defaultQueueWait},
		Tracing:  TracingConfig{SampleRatio: defaultSampleRatio},
	}
}

// ErrHelp is returned by Load when -h or --help was asked for; the usage
// has been written.
var ErrHelp = flag.ErrHelp

// Load builds the configuration from args (without the program name), the
// environment (getenv) and the config file they name. Usage and flag errors
// go to out.
func Load(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("permitd", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(out, `permitd runs one member division's electronic residence permit node.

With no flags it serves division 330604 (Shangyu) on 127.0.0.1:7700 in
plaintext, keeping its bbolt file and issuer key in ./data. On the first
start of a data folder it creates the admin account and writes its token to
data/admin.token (mode 0600). Any address beyond loopback needs TLS
(--tls-cert, --tls-key); --client-ca adds mutual TLS.

Each flag can also be set by the environment variable in brackets or in the
YAML config file; flags win over the environment, which wins over the file.
The garbage collector runs at GOGC=300 unless GOGC sets another value
(docs/operations.md).

Flags:
`)
		fs.PrintDefaults()
	}
	configPath := fs.String("config", getenv("PERMITD_CONFIG"), "YAML config `file` [PERMITD_CONFIG]")
	listen := fs.String("listen", cfg.Listen, "gRPC listen `address` [PERMITD_LISTEN]")
	div := fs.String("division", cfg.Division, "issuing division `code` (GB/T 2260) [PERMITD_DIVISION]")
	data := fs.String("data", cfg.Data, "data `folder` [PERMITD_DATA]")
	storeURL := fs.String("store", cfg.Store, "store `URL`: a bbolt file path, or redis://[user:password@]host:port[/db], rediss://…, redis+cluster://host:port?addr=host2:port2 shared by replicas; default the bbolt file in the data folder [PERMITD_STORE]")
	logFormat := fs.String("log-format", cfg.Log.Format, "log `format`: text or json [PERMITD_LOG_FORMAT]")
	logLevel := fs.String("log-level", cfg.Log.Level, "log `level`: debug, info, warn, error [PERMITD_LOG_LEVEL]")
	tlsCert := fs.String("tls-cert", "", "TLS certificate `file` (PEM) of the node [PERMITD_TLS_CERT]")
	tlsKey := fs.String("tls-key", "", "TLS private key `file` (PEM) of the node [PERMITD_TLS_KEY]")
	clientCA := fs.String("client-ca", "", "CA `file` (PEM) for mutual TLS: clients must present a certificate it issued [PERMITD_CLIENT_CA]")
	metricsListen := fs.String("metrics-listen", cfg.Metrics.Listen, "HTTP `address` serving Prometheus /metrics, loopback only; empty for none [PERMITD_METRICS_LISTEN]")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q; see permitd -help", fs.Arg(0))
	}
	if *configPath != "" {
		if err := readFile(*configPath, &cfg); err != nil {
			return cfg, err
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, o := range []struct {
		flag, env string
		value     *string
		dst       *string
	}{
		{"listen", "PERMITD_LISTEN", listen, &cfg.Listen},
		{"division", "PERMITD_DIVISION", div, &cfg.Division},
		{"data", "PERMITD_DATA", data, &cfg.Data},
		{"store", "PERMITD_STORE", storeURL, &cfg.Store},
		{"log-format", "PERMITD_LOG_FORMAT", logFormat, &cfg.Log.Format},
		{"log-level", "PERMITD_LOG_LEVEL", logLevel, &cfg.Log.Level},
		{"tls-cert", "PERMITD_TLS_CERT", tlsCert, &cfg.TLS.Cert},
		{"tls-key", "PERMITD_TLS_KEY", tlsKey, &cfg.TLS.Key},
		{"client-ca", "PERMITD_CLIENT_CA", clientCA, &cfg.TLS.ClientCA},
		{"metrics-listen", "PERMITD_METRICS_LISTEN", metricsListen, &cfg.Metrics.Listen},
	} {
		if e := getenv(o.env); e != "" {
			*o.dst = e
		}
		if set[o.flag] {
			*o.dst = *o.value
		}
	}
	return cfg, cfg.Validate()
}

func readFile(path string, cfg *Config) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// Validate checks the configuration and says what is wrong in terms of the
// setting's name.
func (c Config) Validate() error {
	var errs []error
	d, ok := division.Lookup(c.Division)
	switch {
	case !ok:
		errs = append(errs, fmt.Errorf("division %q is not a Delta division in the shipped table", c.Division))
	case !d.CanIssue():
		errs = append(errs, fmt.Errorf("division %s (%s) is not county-level: permits are issued by district and county bureaus", c.Division, d.Name))
	}
	if c.Listen == "" {
		errs = append(errs, errors.New("listen address is empty"))
	}
	if c.Data == "" {
		errs = append(errs, errors.New("data folder is empty"))
	}
	if w := c.Rules.EndorsementWindowMonths; w < 1 || w > 6 {
		errs = append(errs, fmt.Errorf("rules.endorsement_window_months %d is out of range 1..6", w))
	}
	if y := c.Rules.CardValidityYears; y < 0 || y > 20 {
		errs = append(errs, fmt.Errorf("rules.card_validity_years %d is out of range 0..20", y))
	}
	if _, err := c.cancelReasons(); err != nil {
		errs = append(errs, err)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		errs = append(errs, fmt.Errorf("log format %q is not text or json", c.Log.Format))
	}
	if _, err := c.logLevel(); err != nil {
		errs = append(errs, err)
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		errs = append(errs, errors.New("tls: give both the certificate and the key, or neither"))
	}
	if c.TLS.ClientCA != "" && c.TLS.Cert == "" {
		errs = append(errs, errors.New("tls.client_ca needs tls.cert and tls.key: mutual TLS is TLS first"))
	}
	if err := c.Outbox.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Metrics.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Overload.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Tracing.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.checkLease(); err != nil {
		errs = append(errs, err)
	}
	for code, d := range c.Departments {
		if d.Endpoint == "" {
			errs = append(errs, fmt.Errorf("departments.%s.endpoint is empty", code))
		}
		if d.Timeout < 0 {
			errs = append(errs, fmt.Errorf("departments.%s.timeout is negative", code))
		}
	}
	switch t := c.Trust; {
	case t.RegistryPub == "" && (t.ListFile != "" || t.ListURL != ""):
		errs = append(errs, errors.New("trust: a trust list needs trust.registry_pub, the registry's public key"))
	case t.RegistryPub != "" && (t.ListFile == "") == (t.ListURL == ""):
		errs = append(errs, errors.New("trust: give exactly one of trust.list_file and trust.list_url"))
	case t.Refresh < time.Second:
		errs = append(errs, fmt.Errorf("trust.refresh %v is shorter than a second", t.Refresh))
	}
	switch f := c.Federation; {
	case f.ClientCert != "" && (f.ClientKey == "" || f.CA == ""):
		errs = append(errs, errors.New("federation: give client_cert, client_key and ca together"))
	case f.ClientCert != "" && c.Trust.RegistryPub == "":
		errs = append(errs, errors.New("federation: calling other members needs their endpoints from a trust list (trust.*)"))
	case f.StatusRefresh < time.Second || f.StatusMaxAge < f.StatusRefresh:
		errs = append(errs, fmt.Errorf("federation: status_refresh %v must be at least 1s and status_max_age %v at least as long",
			f.StatusRefresh, f.StatusMaxAge))
	}
	if d := c.Applications.DeadlineDays; d < 1 || d > application.MaxDeadlineDays {
		errs = append(errs, fmt.Errorf("applications.deadline_days %d is out of range 1..%d: the regulations (Art. 9) set 15 days from acceptance, which a city may extend to no more than %d",
			d, application.MaxDeadlineDays, application.MaxDeadlineDays))
	}
	if _, err := c.Applications.requirements(); err != nil {
		errs = append(errs, err)
	}
	if l := c.Limits; l.MutationsPerSecond < 0 || l.MutationBurst < 0 || l.CitizenMutationsPerMinute < 0 || l.CitizenMutationBurst < 0 {
		errs = append(errs, errors.New("limits must not be negative"))
	}
	if c.Limits.MutationsPerSecond > 0 && c.Limits.MutationBurst < 1 {
		errs = append(errs, errors.New("limits.mutation_burst must be at least 1 when limits.mutations_per_second is set"))
	}
	if c.Limits.CitizenMutationsPerMinute > 0 && c.Limits.CitizenMutationBurst < 1 {
		errs = append(errs, errors.New("limits.citizen_mutation_burst must be at least 1 when limits.citizen_mutations_per_minute is set"))
	}
	return errors.Join(errs...)
}

// authority is the configured bureau name or the conventional one.
func (c Config) authority() string {
	if c.Authority != "" {
		return c.Authority
	}
	d, _ := division.Lookup(c.Division)
	return d.Authority()
}

func normalise(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
