package federation

import (
	"crypto/tls"
	"fmt"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/yrd-epermit/epermit/trust"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// Peers reaches the other member nodes named in the trust list, over mutual
// TLS with this node's client certificate. Connections are dialled on first
// use and shared; they follow a member's endpoint when the trust list moves
// it.
type Peers struct {
	own   string
	trust *trust.Holder
	tls   *tls.Config

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn // by endpoint
}

// NewPeers returns the peers of division own in the trust list tl, called
// with tc.
func NewPeers(own string, tl *trust.Holder, tc *tls.Config) *Peers {
	return &Peers{own: own, trust: tl, tls: tc, conns: map[string]*grpc.ClientConn{}}
}

// Own is this node's division code.
func (p *Peers) Own() string { return p.own }

// Members returns the members of the current trust list other than this
// node; nil when no list is loaded.
func (p *Peers) Members() []trust.Member {
	list := p.trust.Current()
	if list == nil {
		return nil
	}
	var out []trust.Member
	for _, m := range list.Members {
		if m.Division != p.own {
			out = append(out, m)
		}
	}
	return out
}

// Client returns a FederationService client of the member with this
// division code; an error when the trust list does not name it.
func (p *Peers) Client(division string) (epermitv1.FederationServiceClient, error) {
	for _, m := range p.Members() {
		if m.Division == division {
			conn, err := p.conn(m.Endpoint)
			if err != nil {
				return nil, err
			}
			return epermitv1.NewFederationServiceClient(conn), nil
		}
	}
	return nil, fmt.Errorf("federation: %s is not a member in the trust list", division)
}

// conn returns the connection to endpoint, dialling it on first use.
func (p *Peers) conn(endpoint string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[endpoint]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(credentials.NewTLS(p.tls)))
	if err != nil {
		return nil, err
	}
	p.conns[endpoint] = c
	return c, nil
}

// Close closes every connection.
func (p *Peers) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for endpoint, c := range p.conns {
		c.Close()
		delete(p.conns, endpoint)
	}
}
