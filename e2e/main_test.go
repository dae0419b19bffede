// Package e2e drives real permitd processes on loopback through the
// generated gRPC client and the permitctl binary.
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Binaries built once for the whole package.
var permitdBin, permitctlBin, devdepartmentBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "epermit-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	permitdBin = filepath.Join(dir, "permitd")
	permitctlBin = filepath.Join(dir, "permitctl")
	devdepartmentBin = filepath.Join(dir, "devdepartment")
	for bin, pkg := range map[string]string{permitdBin: "../server/permitd", permitctlBin: "../client/permitctl",
		devdepartmentBin: "../server/devdepartment"} {
		cmd := exec.Command("go", "build", "-race", "-o", bin, pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", pkg, ":", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// node is a running permitd process.
type node struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string
	data   string
	out    *lockedBuffer
	exited chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	sb strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sb.String()
}

var servingLine = regexp.MustCompile(`serving gRPC on (\S+)`)

// startNode starts permitd with args in dir and waits until it serves.
func startNode(t *testing.T, dir string, args ...string) *node {
	t.Helper()
	return startBinary(t, permitdBin, dir, args...)
}

// startBinary starts bin (permitd or devdepartment) with args in dir and
// waits until it prints the address it serves on.
func startBinary(t *testing.T, bin, dir string, args ...string) *node {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, cmd: cmd, out: &lockedBuffer{}, exited: make(chan error, 1)}
	cmd.Stderr = n.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(n.out, sc.Text())
			if m := servingLine.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { n.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-n.exited
		}
	})
	select {
	case n.addr = <-addr:
	case err := <-n.exited:
		t.Fatalf("%s exited before serving: %v\n%s", filepath.Base(bin), err, n.out)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not start in 30s:\n%s", filepath.Base(bin), n.out)
	}
	return n
}

// testConfig turns off the rate limits per account and per citizen:
// tests issue many permits as one clerk, and many for one citizen.
const testConfig = "limits:\n  mutations_per_second: 0\n  citizen_mutations_per_minute: 0\n"

// startTestNode starts permitd on a free loopback port with its data in a
// fresh or given folder.
func startTestNode(t *testing.T, data string) *node {
	t.Helper()
	if data == "" {
		data = t.TempDir()
	}
	cfg := filepath.Join(data, "permitd.yaml")
	if err := os.WriteFile(cfg, []byte(testConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, data, "--listen", "127.0.0.1:0", "--data", data, "--log-level", "warn", "--config", cfg)
	n.data = data
	return n
}

// staff are the tokens of the accounts tests act as.
type staff struct {
	admin, clerk, supervisor, second, auditor string
}

// staffByData keeps each data folder's staff across restarts.
var staffByData sync.Map

// staff returns the node's staff accounts, creating them with the bootstrap
// admin's token on first use: clerk1, sup1, sup2 and auditor1.
func (n *node) staff() *staff {
	n.t.Helper()
	if s, ok := staffByData.Load(n.data); ok {
		return s.(*staff)
	}
	b, err := os.ReadFile(filepath.Join(n.data, "admin.token"))
	if err != nil {
		n.t.Fatal(err)
	}
	s := &staff{admin: strings.TrimSpace(string(b))}
	accounts := epermitv1.NewAccountServiceClient(n.conn(s.admin))
	for _, a := range []struct {
		name  string
		role  epermitv1.Role
		token *string
	}{
		{"clerk1", epermitv1.Role_ROLE_CLERK, &s.clerk},
		{"sup1", epermitv1.Role_ROLE_SUPERVISOR, &s.supervisor},
		{"sup2", epermitv1.Role_ROLE_SUPERVISOR, &s.second},
		{"auditor1", epermitv1.Role_ROLE_AUDITOR, &s.auditor},
	} {
		resp, err := accounts.CreateAccount(ctx(n.t), &epermitv1.CreateAccountRequest{
			Name: a.name, Division: "330604", Roles: []epermitv1.Role{a.role}})
		if err != nil {
			n.t.Fatalf("creating %s: %v", a.name, err)
		}
		*a.token = resp.Token
	}
	staffByData.Store(n.data, s)
	return s
}

// bearer sends a token with every call (plaintext on loopback).
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return false }

// conn dials the node with the generated client, sending token when not
// empty.
func (n *node) conn(token string) *grpc.ClientConn {
	n.t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(token)))
	}
	conn, err := grpc.NewClient(n.addr, opts...)
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { conn.Close() })
	return conn
}

// stop sends SIGTERM and waits for a clean exit.
func (n *node) stop() {
	n.t.Helper()
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-n.exited:
		if err != nil {
			n.t.Fatalf("permitd exited with %v after SIGTERM:\n%s", err, n.out)
		}
	case <-time.After(30 * time.Second):
		n.t.Fatalf("permitd did not stop in 30s")
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (n *node) kill() {
	n.cmd.Process.Kill()
	<-n.exited
}

// client dials the node with the generated client, as the clerk.
func (n *node) client() (epermitv1.PermitServiceClient, *grpc.ClientConn) {
	n.t.Helper()
	conn := n.conn(n.staff().clerk)
	return epermitv1.NewPermitServiceClient(conn), conn
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
