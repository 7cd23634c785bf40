package replica

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/recount-vote/recount/ledger"
)

// testCA is a certificate authority for a test cluster.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cluster CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

func (ca *testCA) issue(t *testing.T, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestTLSTransport runs a 3-member cluster over mutual TLS on loopback, and checks that a peer whose
// certificate another CA issued cannot even finish a handshake with a member.
func TestTLSTransport(t *testing.T) {
	ca := newTestCA(t)
	var addrs []string
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, l.Addr().String())
		l.Close()
	}
	var members []Member
	for i, a := range addrs {
		members = append(members, Member{ID: fmt.Sprintf("t%d", i), Addr: a})
	}
	var reps []*Replica
	var key string
	for i, a := range addrs {
		dir := t.TempDir()
		b, err := ledger.Open(filepath.Join(dir, "board"), ledger.Options{Origin: testOrigin, Replica: true, SigningKey: key})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if key == "" {
			k, err := os.ReadFile(filepath.Join(dir, "board", ledger.KeyFileName))
			if err != nil {
				t.Fatal(err)
			}
			key = strings.TrimSpace(string(k))
		}
		trans, err := NewTLSTransport(a, a, ClusterTLS(ca.issue(t, members[i].ID), ca.pool), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Open(Config{ID: members[i].ID, Dir: filepath.Join(dir, "raft"), Board: b, Transport: trans, HeartbeatTimeout: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		reps = append(reps, r)
	}
	if err := reps[0].Bootstrap(members); err != nil {
		t.Fatal(err)
	}
	var leader *Replica
	for deadline := time.Now().Add(20 * time.Second); leader == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, r := range reps {
			if _, ok := r.WriteReady(); ok {
				leader = r
			}
		}
	}
	if leader == nil {
		t.Fatal("no leader over TLS")
	}
	for i := range 10 {
		if _, err := leader.Append(context.Background(), []ledger.Record{{Kind: 7, Payload: fmt.Appendf(nil, "r%d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		done := true
		for _, r := range reps {
			done = done && r.cfg.Board.Size() == 10
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the members did not converge over TLS")
		}
	}
	// A stranger with another CA's certificate, or none, is refused.
	other := newTestCA(t)
	for _, cfg := range []*tls.Config{ClusterTLS(other.issue(t, "intruder"), ca.pool), {InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}} {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addrs[0], cfg)
		if err == nil {
			// TLS 1.3: the server checks the client's certificate after the client's handshake ends; the refusal
			// shows at the first read.
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, err = c.Read(make([]byte, 1))
			c.Close()
		}
		if err == nil || strings.Contains(err.Error(), "timeout") {
			t.Fatalf("a stranger's connection to a member: %v, want a refused handshake", err)
		}
	}
}
