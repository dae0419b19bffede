// Command devfederation runs a three-node federation of the Delta on
// loopback, for trying cross-city verification in minutes:
//
//	go run ./server/devfederation
//
// It writes into ./demo (or -dir) a development CA, a node and a client
// certificate per member, each member's issuer key, a registry key and the
// signed trust list, then serves 330604 Shangyu on 127.0.0.1:7710, 310107
// Putuo on :7711 and 330110 Yuhang on :7712 over mutual TLS in this one
// process. Each node gets a clerk account (token in demo/<division>/clerk.token)
// and a partner account for every other node, and fetches the others'
// status lists every few seconds. It prints permitctl commands to issue a
// permit in Shangyu and verify it in Putuo. Ctrl-C stops it; remove the
// folder to start afresh. For development only: see docs/security.md and
// docs/trust.md for real deployments.
package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/yrd-epermit/epermit/credential"
	"github.com/yrd-epermit/epermit/pki"
	"github.com/yrd-epermit/epermit/server/node"
	"github.com/yrd-epermit/epermit/trust"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// member is one node of the demo federation.
type member struct {
	division, name, province, addr string
}

// members are the demo's three nodes.
var members = []member{
	{"330604", "浙江省绍兴市上虞区", "330000", "127.0.0.1:7710"},
	{"310107", "上海市普陀区", "310000", "127.0.0.1:7711"},
	{"330110", "浙江省杭州市余杭区", "330000", "127.0.0.1:7712"},
}

func main() {
	dir := flag.String("dir", "demo", "`folder` for the PKI, keys, trust list and the nodes' data")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *dir, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "devfederation:", err)
		os.Exit(1)
	}
}

// run sets the federation up in dir (unless it already is), serves it
// until ctx ends, and prints how to use it to out.
func run(ctx context.Context, dir string, out io.Writer) error {
	if _, err := os.Stat(filepath.Join(dir, "trustlist.cose")); errors.Is(err, os.ErrNotExist) {
		if err := setUp(dir, time.Now()); err != nil {
			return err
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var nodes []*node.Node
	defer func() {
		for _, n := range nodes {
			n.Shutdown(context.Background())
		}
	}()
	for _, m := range members {
		n, err := node.New(config(dir, m), node.Options{Logger: log})
		if err != nil {
			return fmt.Errorf("%s: %w", m.division, err)
		}
		nodes = append(nodes, n)
		go n.Serve()
		if n.BootstrapTokenFile() != "" {
			if err := createAccounts(ctx, dir, m); err != nil {
				return fmt.Errorf("%s: %w", m.division, err)
			}
		}
	}
	fmt.Fprintf(out, `Three member nodes over mutual TLS, data and keys in %[1]s/:
  330604 Shangyu  127.0.0.1:7710
  310107 Putuo    127.0.0.1:7711
  330110 Yuhang   127.0.0.1:7712

Issue a permit in Shangyu and verify its credential in Putuo:
  tls="--ca %[1]s/pki/ca.pem --cert %[1]s/pki/hall.pem --key %[1]s/pki/hall.key"
  go run ./client/permitctl $tls --server 127.0.0.1:7710 --token-file %[1]s/330604/clerk.token issue \
    --name 测试者甲 --citizen-id 340104199003077311 --ethnicity 汉 \
    --hukou-address 安徽省合肥市蜀山区测试路1号 --residence-address 浙江省绍兴市上虞区测试路2号 -o json \
    | sed -n 's/.*"text": "\(YRD1:[^"]*\)".*/\1/p' > credential.txt
  go run ./client/permitctl $tls --server 127.0.0.1:7711 --token-file %[1]s/310107/clerk.token verify - < credential.txt

The resident moves to Yuhang: Yuhang issues a permit that carries the
residence in Shangyu, and Shangyu's permit is superseded:
  go run ./client/permitctl $tls --server 127.0.0.1:7712 --token-file %[1]s/330110/clerk.token transfer \
    --citizen-id 340104199003077311 --residence-address 浙江省杭州市余杭区测试路9号 - < credential.txt
  go run ./client/permitctl $tls --server 127.0.0.1:7711 --token-file %[1]s/310107/clerk.token verify - < credential.txt

Take in an application in Putuo on Shangyu's behalf (异地代收); it is
forwarded to Shangyu, where its 15-day deadline runs:
  go run ./client/permitctl $tls --server 127.0.0.1:7711 --token-file %[1]s/310107/clerk.token application submit \
    --target 330604 --name 测试者丙 --citizen-id 500104199208262297 --ethnicity 汉 \
    --hukou-address 重庆市大渡口区测试路5号 --residence-address 浙江省绍兴市上虞区测试路6号 \
    --material id_card,photo,residence_proof,employment_proof
  go run ./client/permitctl $tls --server 127.0.0.1:7710 --token-file %[1]s/330604/clerk.token application list

Ctrl-C stops the nodes.
`, dir)
	<-ctx.Done()
	return nil
}

// config is the node configuration of m.
func config(dir string, m member) node.Config {
	p := func(name string) string { return filepath.Join(dir, "pki", name) }
	cfg := node.DefaultConfig()
	cfg.Division, cfg.Listen, cfg.Data = m.division, m.addr, filepath.Join(dir, m.division)
	cfg.Log.Level = "warn"
	cfg.TLS = node.TLSConfig{Cert: p("server-" + m.division + ".pem"), Key: p("server-" + m.division + ".key"), ClientCA: p("ca.pem")}
	cfg.Trust = node.TrustConfig{RegistryPub: filepath.Join(dir, "registry.pem"), ListFile: filepath.Join(dir, "trustlist.cose"), Refresh: 5 * time.Second}
	cfg.Federation = node.FederationConfig{ClientCert: p("node-" + m.division + ".pem"), ClientKey: p("node-" + m.division + ".key"),
		CA: p("ca.pem"), StatusRefresh: 5 * time.Second, StatusMaxAge: 10 * time.Minute}
	return cfg
}

// setUp writes the PKI, the issuer keys, the registry key and the signed
// trust list.
func setUp(dir string, now time.Time) error {
	pkiDir := filepath.Join(dir, "pki")
	if err := os.MkdirAll(pkiDir, 0o700); err != nil {
		return err
	}
	ca, err := pki.NewCA("epermit demo federation CA", now.Add(-time.Hour), now.AddDate(2, 0, 0))
	if err != nil {
		return err
	}
	caKey, err := ca.KeyPEM()
	if err != nil {
		return err
	}
	if err := writePair(pkiDir, "ca", ca.CertPEM(), caKey); err != nil {
		return err
	}
	valid := func() (time.Time, time.Time) { return now.Add(-time.Hour), now.AddDate(1, 0, 0) }
	from, until := valid()
	cert, key, err := ca.IssueClient("hall", members[0].division, from, until)
	if err != nil {
		return err
	}
	if err := writePair(pkiDir, "hall", cert, key); err != nil {
		return err
	}
	list := &trust.List{Sequence: 1, IssuedAt: now.Add(-time.Minute), ExpiresAt: now.AddDate(0, 0, 30)}
	for _, m := range members {
		signer, err := credential.LoadOrCreateKey(filepath.Join(dir, m.division, node.KeyFile))
		if err != nil {
			return err
		}
		kid, err := credential.KID(signer.Public())
		if err != nil {
			return err
		}
		list.Members = append(list.Members, trust.Member{Division: m.division, Name: m.name, Province: m.province,
			Endpoint: m.addr, Keys: []trust.IssuerKey{{KID: kid, Algorithm: trust.AlgorithmEdDSA, PublicKey: signer.Public(),
				NotBefore: from, NotAfter: until}}})
		if cert, key, err = ca.IssueServer(m.division, []string{"127.0.0.1", "localhost"}, from, until); err != nil {
			return err
		}
		if err := writePair(pkiDir, "server-"+m.division, cert, key); err != nil {
			return err
		}
		if cert, key, err = ca.IssueClient("node-"+m.division, m.division, from, until); err != nil {
			return err
		}
		if err := writePair(pkiDir, "node-"+m.division, cert, key); err != nil {
			return err
		}
	}
	registry, err := trust.NewRegistryKey()
	if err != nil {
		return err
	}
	if err := trust.SaveRegistryKey(filepath.Join(dir, "registry.key"), registry); err != nil {
		return err
	}
	if err := trust.SaveRegistryPublic(filepath.Join(dir, "registry.pem"), registry.Public().(ed25519.PublicKey)); err != nil {
		return err
	}
	signed, err := trust.Sign(list, registry)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "trustlist.cose"), signed, 0o644)
}

// writePair writes name.pem and name.key (0600) into dir.
func writePair(dir, name string, cert, key []byte) error {
	if err := os.WriteFile(filepath.Join(dir, name+".pem"), cert, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".key"), key, 0o600)
}

// createAccounts uses m's bootstrap admin to create a clerk (its token in
// <division>/clerk.token) and a partner account for every other node.
func createAccounts(ctx context.Context, dir string, m member) error {
	data := filepath.Join(dir, m.division)
	admin, err := os.ReadFile(filepath.Join(data, node.AdminTokenFile))
	if err != nil {
		return err
	}
	tc, err := pki.ClientConfig(filepath.Join(dir, "pki", "ca.pem"), filepath.Join(dir, "pki", "hall.pem"), filepath.Join(dir, "pki", "hall.key"))
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(m.addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)),
		grpc.WithPerRPCCredentials(bearer(strings.TrimSpace(string(admin)))))
	if err != nil {
		return err
	}
	defer conn.Close()
	accounts := epermitv1.NewAccountServiceClient(conn)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	clerk, err := accounts.CreateAccount(ctx, &epermitv1.CreateAccountRequest{Name: "clerk1",
		Roles: []epermitv1.Role{epermitv1.Role_ROLE_CLERK}, Note: "demo clerk"})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(data, "clerk.token"), []byte(clerk.Token+"\n"), 0o600); err != nil {
		return err
	}
	for _, other := range members {
		if other.division == m.division {
			continue
		}
		if _, err := accounts.CreateAccount(ctx, &epermitv1.CreateAccountRequest{Name: "node-" + other.division,
			Division: other.division, Roles: []epermitv1.Role{epermitv1.Role_ROLE_PARTNER},
			Kind: epermitv1.AccountKind_ACCOUNT_KIND_SYSTEM, Note: "the demo node of " + other.name}); err != nil {
			return err
		}
	}
	return nil
}

// bearer sends the admin's token with every call.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return true }
