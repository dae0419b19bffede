package command

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// Environment variables read by permitctl; each stands in for the flag of
// the same name when the flag is not given.
const (
	serverEnv    = "PERMITCTL_SERVER"
	tokenEnv     = "PERMITCTL_TOKEN"
	tokenFileEnv = "PERMITCTL_TOKEN_FILE"
	caEnv        = "PERMITCTL_CA"
	certEnv      = "PERMITCTL_CERT"
	keyEnv       = "PERMITCTL_KEY"
	purposeEnv   = "PERMITCTL_PURPOSE"
	configEnv    = "PERMITCTL_CONFIG"
)

// Limits on the files permitctl reads for its settings.
const (
	maxConfigFile = 64 << 10
	maxTokenFile  = 4 << 10
)

// fileConfig is the YAML config file: defaults for the global flags.
type fileConfig struct {
	Server    string `yaml:"server"`
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	CA        string `yaml:"ca"`
	Cert      string `yaml:"cert"`
	Key       string `yaml:"key"`
	Purpose   string `yaml:"purpose"`
}

// configKeys lists the keys of the config file, for messages.
const configKeys = "server, token, token_file, ca, cert, key, purpose"

// connSettings are the connection settings of one run, each taken from the
// flag, the environment, the config file or the default, in that order.
type connSettings struct {
	server string
	// token is the bearer token given directly; tokenFile names a file
	// holding it. At most one is set. tokenFrom says where either came
	// from, for messages that must not show the token itself.
	token     string
	tokenFile string
	tokenFrom string
	ca        string
	cert      string
	key       string
	purpose   string
}

// connFlags holds the values of the global connection flags as parsed.
type connFlags struct {
	server, token, tokenFile, ca, cert, key, purpose, config string
}

// addFlags defines the global connection flags on fs.
func (f *connFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.server, "server", defaultServer, "`address` (host:port) of the permitd node [$"+serverEnv+"]")
	fs.StringVar(&f.token, "token", "", "bearer `token` of your account; prefer --token-file, as other users may see command lines [$"+tokenEnv+"]")
	fs.StringVar(&f.tokenFile, "token-file", "", "read the bearer token from `file`, e.g. the node's <data>/admin.token [$"+tokenFileEnv+"]")
	fs.StringVar(&f.ca, "ca", "", "PEM `file` of the CA certificates the node's certificate must chain to; turns on TLS [$"+caEnv+"]")
	fs.StringVar(&f.cert, "cert", "", "PEM `file` of a client certificate, for mutual TLS (system accounts) [$"+certEnv+"]")
	fs.StringVar(&f.key, "key", "", "PEM `file` of the client certificate's private key [$"+keyEnv+"]")
	fs.StringVar(&f.purpose, "purpose", "", "why you read personal data, sent to the node and audited; partners must state it (`text`, up to 200 characters) [$"+purposeEnv+"]")
	fs.StringVar(&f.config, "config", "", "YAML `file` of defaults for these flags; by default epermit/permitctl.yaml in the user config directory, when it exists [$"+configEnv+"]")
}

// resolve works out the connection settings of cmd: each from its flag when
// given on the command line, else from its environment variable when set,
// else from the config file, else the default.
func (f *connFlags) resolve(cmd *cobra.Command) (connSettings, error) {
	flags := cmd.Root().PersistentFlags()
	changed := func(name string) bool { return flags.Changed(name) }

	cfgPath, explicit := f.config, changed("config")
	if !explicit {
		if env := os.Getenv(configEnv); env != "" {
			cfgPath, explicit = env, true
		} else {
			cfgPath = defaultConfigPath()
		}
	}
	cfg, err := loadConfig(cfgPath, explicit)
	if err != nil {
		return connSettings{}, err
	}

	pick := func(name, flagValue, env, fromFile string) string {
		if changed(name) {
			return flagValue
		}
		if v := os.Getenv(env); v != "" {
			return v
		}
		return fromFile
	}
	s := connSettings{
		server:  pick("server", f.server, serverEnv, cfg.Server),
		ca:      pick("ca", f.ca, caEnv, cfg.CA),
		cert:    pick("cert", f.cert, certEnv, cfg.Cert),
		key:     pick("key", f.key, keyEnv, cfg.Key),
		purpose: pick("purpose", f.purpose, purposeEnv, cfg.Purpose),
	}
	if s.server == "" {
		s.server = defaultServer
	}

	// The token and the token file are one setting: the first place that
	// gives either wins, and one place may not give both.
	switch {
	case changed("token") || changed("token-file"):
		if changed("token") && changed("token-file") {
			return connSettings{}, usagef(cmd.Root(), "give either --token or --token-file, not both")
		}
		s.token, s.tokenFile, s.tokenFrom = f.token, f.tokenFile, "--token"
		if changed("token-file") {
			s.tokenFrom = "--token-file " + f.tokenFile
		}
		if changed("token") && f.token == "" {
			return connSettings{}, usagef(cmd.Root(), "--token is empty")
		}
	case os.Getenv(tokenEnv) != "" || os.Getenv(tokenFileEnv) != "":
		if os.Getenv(tokenEnv) != "" && os.Getenv(tokenFileEnv) != "" {
			return connSettings{}, fmt.Errorf("set either %s or %s, not both", tokenEnv, tokenFileEnv)
		}
		s.token, s.tokenFile, s.tokenFrom = os.Getenv(tokenEnv), os.Getenv(tokenFileEnv), tokenEnv
		if s.tokenFile != "" {
			s.tokenFrom = tokenFileEnv + "=" + s.tokenFile
		}
	case cfg.Token != "" || cfg.TokenFile != "":
		if cfg.Token != "" && cfg.TokenFile != "" {
			return connSettings{}, fmt.Errorf("config file %s sets both token and token_file; keep one", cfgPath)
		}
		s.token, s.tokenFile, s.tokenFrom = cfg.Token, cfg.TokenFile, "config file "+cfgPath
		if s.tokenFile != "" {
			s.tokenFrom = "token_file " + s.tokenFile + " of config file " + cfgPath
		}
	}
	return s, nil
}

// defaultConfigPath returns epermit/permitctl.yaml in the user's config
// directory, or "" when there is none.
func defaultConfigPath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "epermit", "permitctl.yaml")
}

// loadConfig reads the config file at path. A missing file is no error
// unless the clerk named it (explicit); an empty path means no file. File
// names in it are taken relative to its folder. A file holding a token is
// refused unless only its owner can read and write it.
func loadConfig(path string, explicit bool) (fileConfig, error) {
	var cfg fileConfig
	if path == "" {
		return cfg, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return cfg, nil
	}
	if err != nil {
		return cfg, fmt.Errorf("reading the config file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return cfg, fmt.Errorf("reading the config file: %w", err)
	}
	if info.IsDir() {
		return cfg, fmt.Errorf("config file %s is a directory", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return cfg, fmt.Errorf("reading the config file: %w", err)
	}
	if len(data) > maxConfigFile {
		return cfg, fmt.Errorf("config file %s is longer than %d bytes", path, maxConfigFile)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return fileConfig{}, fmt.Errorf("config file %s: %s", path, yamlProblem(err))
	}
	if cfg.Token != "" && runtime.GOOS != "windows" && info.Mode().Perm()&0o077 != 0 {
		return fileConfig{}, fmt.Errorf("config file %s holds a token but other users may read it (mode %04o); "+
			"make it private with 'chmod 600 %s', or move the token to a private file named by token_file",
			path, info.Mode().Perm(), path)
	}
	dir := filepath.Dir(path)
	for _, name := range []*string{&cfg.TokenFile, &cfg.CA, &cfg.Cert, &cfg.Key} {
		if *name != "" && !filepath.IsAbs(*name) {
			*name = filepath.Join(dir, *name)
		}
	}
	return cfg, nil
}

var (
	// yamlQuoted matches the values yaml.v3 quotes in its messages, which
	// could be a token.
	yamlQuoted = regexp.MustCompile("`[^`]*`")
	// yamlUnknown matches yaml.v3's message for an unknown key.
	yamlUnknown = regexp.MustCompile(`field (\S+) not found in type \S+`)
)

// yamlProblem renders a YAML decoding error without the values it quotes
// and with unknown keys explained.
func yamlProblem(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.ReplaceAll(strings.TrimPrefix(msg, "unmarshal errors:\n  "), "\n  ", "; ")
	msg = yamlQuoted.ReplaceAllString(msg, "a value")
	return yamlUnknown.ReplaceAllString(msg, "unknown key $1 (the keys are "+configKeys+")")
}

// readTokenFile returns the token in file: its one line, without
// surrounding white space.
func readTokenFile(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("reading the token file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("reading the token file: %w", err)
	}
	token := strings.TrimSpace(string(data))
	switch {
	case len(data) > maxTokenFile:
		return "", fmt.Errorf("token file %s is longer than %d bytes; is it the right file?", file, maxTokenFile)
	case token == "":
		return "", fmt.Errorf("token file %s is empty", file)
	case strings.ContainsAny(token, "\r\n"):
		return "", fmt.Errorf("token file %s holds more than one line; it should hold the token only", file)
	}
	return token, nil
}
