package node_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/node"
)

// testCA is a certificate authority for tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue writes a certificate and key signed by the CA into dir and returns their paths.
func (ca *testCA) issue(t *testing.T, dir, name string, server bool) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestMutualTLSAdmin serves the node over TLS with admin calls restricted to client certificates from the
// commission's CA: voters (no certificate) are served; admin calls without a certificate, or with one from
// another CA, are refused and change nothing; the commission's certificate is accepted, and gets the stream kept
// for the commission when the others are taken.
func TestMutualTLSAdmin(t *testing.T) {
	dir := t.TempDir()
	nodeCA, commission, other := newCA(t, "node CA"), newCA(t, "commission CA"), newCA(t, "another CA")
	caFile := filepath.Join(dir, "node-ca.pem")
	if err := os.WriteFile(caFile, nodeCA.pem, 0o644); err != nil {
		t.Fatal(err)
	}
	srvCert, srvKey := nodeCA.issue(t, dir, "node", true)
	adminCert, adminKey := commission.issue(t, dir, "commission", false)
	otherCert, otherKey := other.issue(t, dir, "intruder", false)

	n, err := node.Open(filepath.Join(dir, "board"), node.Options{Origin: "tls.recount.local/board"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	pair, err := tls.LoadX509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(commission.pem)
	srv := node.NewServer(n, node.ServerOptions{
		TLS:        &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12},
		Admin:      node.AdminAuth{ClientCert: true},
		MaxStreams: 1, AdminStreams: 1,
	})
	lis := listen(t)
	go srv.Serve(lis)
	defer srv.Shutdown(context.Background())
	addr := lis.Addr().String()
	dial := func(opts grpcnode.DialOptions) *grpcnode.Client {
		t.Helper()
		opts.CAFile = caFile
		c, err := grpcnode.Dial(addr, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	ctx := context.Background()

	voter := dial(grpcnode.DialOptions{})
	if _, err := voter.Voter.GetElection(ctx, &recountv1.GetElectionRequest{}); err != nil {
		t.Fatalf("voter over TLS: %v", err)
	}
	if _, err := voter.Admin.CreateElection(ctx, &recountv1.CreateElectionRequest{Manifest: []byte{1}}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("admin without a certificate: %v", err)
	}
	intruder := dial(grpcnode.DialOptions{CertFile: otherCert, KeyFile: otherKey})
	if _, err := intruder.Admin.GetStatus(ctx, &recountv1.GetStatusRequest{}); err == nil {
		t.Fatal("admin with a certificate from another CA succeeded")
	}
	if n.Log().Size() != 0 {
		t.Fatal("a refused call appended")
	}
	admin := dial(grpcnode.DialOptions{CertFile: adminCert, KeyFile: adminKey})
	st, err := admin.Admin.GetStatus(ctx, &recountv1.GetStatusRequest{})
	if err != nil || st.Phase != recountv1.Phase_PHASE_EMPTY {
		t.Fatalf("admin with the commission's certificate: %v %v", st, err)
	}
	// The voter takes the node's one stream open to all; another CA's certificate gets no more, the commission's
	// gets the one kept for it.
	openFollower(t, voter.Board)
	awaitServerStreams(t, srv, 1)
	_, s := openFollower(t, intruder.Board)
	wantStreamRefused(t, "a stream with another CA's certificate on a full node", s, "node", 1)
	openFollower(t, admin.Board)
	awaitServerStreams(t, srv, 2)
	// Plaintext to a TLS node fails.
	plain, err := grpcnode.Dial(addr, grpcnode.DialOptions{Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.Voter.GetElection(ctx, &recountv1.GetElectionRequest{}); err == nil {
		t.Fatal("a plaintext client talked to a TLS node")
	}
}
