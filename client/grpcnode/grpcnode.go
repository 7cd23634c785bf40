package grpcnode

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
)

// DialOptions configure Dial.
type DialOptions struct {
	// Plaintext talks to the node without TLS (a node on loopback, or tests).
	Plaintext bool
	// CAFile is a PEM file of the CAs that sign the node's certificate; empty means the system's roots.
	CAFile string
	// CertFile and KeyFile are a client certificate and key (PEM), for admin calls over mutual TLS.
	CertFile, KeyFile string
	// ServerName overrides the name checked in the node's certificate.
	ServerName string
	// Token is the admin bearer token, sent with AdminService calls and with streaming calls (StreamEntries,
	// Export), which then may use the streams the node keeps for the commission (node.ServerOptions.AdminStreams).
	Token []byte
	// Timeout is the deadline given to unary calls whose context has none (client.DefaultCallTimeout when 0).
	Timeout time.Duration
}

// LoadCertPool reads the PEM certificates of a certificate authority from path.
func LoadCertPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// Client is a gRPC connection to a node: a stub for each service, and the voter's client (client.Client, whose
// methods it has) over the connection's Node.
type Client struct {
	*client.Client
	Conn    *grpc.ClientConn
	Voter   recountv1.VoterServiceClient
	Trustee recountv1.TrusteeServiceClient
	Admin   recountv1.AdminServiceClient
	Board   recountv1.BoardServiceClient
	// Members are the connections to every member of a cluster (DialCluster), the first being this one; nil
	// for a single node.
	Members []*Client
}

// Dial connects to the node at target (host:port). The connection is made lazily, at the first call.
func Dial(target string, opts DialOptions) (*Client, error) {
	var creds credentials.TransportCredentials
	if opts.Plaintext {
		if opts.CAFile != "" || opts.CertFile != "" {
			return nil, errors.New("dial: plaintext with TLS files: choose one")
		}
		creds = insecure.NewCredentials()
	} else {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: opts.ServerName}
		if opts.CAFile != "" {
			pool, err := LoadCertPool(opts.CAFile)
			if err != nil {
				return nil, fmt.Errorf("dial: %w", err)
			}
			cfg.RootCAs = pool
		}
		if opts.CertFile != "" || opts.KeyFile != "" {
			cert, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("dial: client certificate: %w", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		creds = credentials.NewTLS(cfg)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = client.DefaultCallTimeout
	}
	token := opts.Token
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(client.MaxReceiveBytes), grpc.MaxCallSendMsgSize(client.MaxMessageBytes)),
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
			if _, ok := ctx.Deadline(); !ok {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			if len(token) > 0 && isAdmin(method) {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+string(token))
			}
			return invoker(ctx, method, req, reply, cc, callOpts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, callOpts ...grpc.CallOption) (grpc.ClientStream, error) {
			if len(token) > 0 {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+string(token))
			}
			return streamer(ctx, desc, cc, method, callOpts...)
		}))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	c := &Client{Conn: conn, Voter: recountv1.NewVoterServiceClient(conn), Trustee: recountv1.NewTrusteeServiceClient(conn),
		Admin: recountv1.NewAdminServiceClient(conn), Board: recountv1.NewBoardServiceClient(conn)}
	c.Client = client.New(Node{Voter: c.Voter, Board: c.Board})
	return c, nil
}

// Close closes the connection (every member's, for DialCluster).
func (c *Client) Close() error {
	if len(c.Members) == 0 {
		return c.Conn.Close()
	}
	var err error
	for _, m := range c.Members {
		if cerr := m.Conn.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// DialCluster connects to the members of one cluster (nodes replicating one board) at targets. The Client's
// service stubs are the first member's; its voter's client (Client.Client) goes through a client.Failover over
// all of them, so that a cast moves on to another member when one dies or is not the leader. Members holds
// every member's connection.
func DialCluster(targets []string, opts DialOptions) (*Client, error) {
	if len(targets) == 0 {
		return nil, errors.New("dial: no node address")
	}
	var members []*Client
	var nodes []client.Node
	for _, t := range targets {
		m, err := Dial(t, opts)
		if err != nil {
			for _, m := range members {
				m.Close()
			}
			return nil, err
		}
		members = append(members, m)
		nodes = append(nodes, Node{Voter: m.Voter, Board: m.Board})
	}
	c := *members[0]
	c.Members = members
	c.Client = client.New(client.NewFailover(nodes...))
	return &c, nil
}

// isAdmin reports whether method is one of AdminService's, whose calls carry the admin token.
func isAdmin(method string) bool {
	return strings.HasPrefix(method, "/"+recountv1.AdminService_ServiceDesc.ServiceName+"/")
}
