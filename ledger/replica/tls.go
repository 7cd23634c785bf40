package replica

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// Raft's own TCP transport neither encrypts nor authenticates: whoever reaches a member's Raft port can claim to
// be a leader of a later term and have the members store entries of its making (which the real leader would then
// seal). NewTLSTransport carries Raft's messages over mutual TLS instead: every member presents a certificate
// issued by the cluster's CA (the commission's, for its members only) and accepts only peers that do.

// ClusterTLS returns the TLS configuration of a member: its certificate and key, and the pool of the cluster's
// CA, which every peer's certificate must chain to (both ways: the member checks the peers it dials and the
// peers that dial it). Host names are not checked: the CA issues certificates to the cluster's members alone.
func ClusterTLS(cert tls.Certificate, ca *x509.CertPool) *tls.Config {
	verify := func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("replica: the Raft peer presented no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: ca, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err != nil {
			return fmt.Errorf("replica: the Raft peer's certificate is not the cluster CA's: %w", err)
		}
		return nil
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAnyClientCert, // checked by VerifyConnection against the cluster's CA
		// The server's certificate is checked by VerifyConnection too, against the cluster's CA and without host
		// names (members are reached at addresses, not names).
		InsecureSkipVerify: true,
		VerifyConnection:   verify,
	}
}

// NewTLSTransport is a Raft transport over mutual TLS (cfg: ClusterTLS) listening on bind; advertise is the
// address the other members reach this one at.
func NewTLSTransport(bind, advertise string, cfg *tls.Config, logOutput io.Writer) (*raft.NetworkTransport, error) {
	adv, err := net.ResolveTCPAddr("tcp", advertise)
	if err != nil {
		return nil, err
	}
	if adv.IP == nil || adv.IP.IsUnspecified() {
		return nil, fmt.Errorf("replica: the advertised Raft address %s has no host", advertise)
	}
	l, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	sl := &tlsStream{Listener: tls.NewListener(l, cfg), adv: adv, cfg: cfg}
	return raft.NewNetworkTransport(sl, 3, 10*time.Second, logOutput), nil
}

type tlsStream struct {
	net.Listener
	adv net.Addr
	cfg *tls.Config
}

func (s *tlsStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", string(addr), s.cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (s *tlsStream) Addr() net.Addr { return s.adv }
