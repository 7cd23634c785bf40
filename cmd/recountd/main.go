// Command recountd is the Recount node: it keeps one election's bulletin board in a data directory and serves
// the VoterService, TrusteeService, AdminService and BoardService over gRPC (api/recount/v1), with gRPC health
// and reflection, structured logs, and Prometheus metrics on a separate HTTP port.
//
// Every flag can also be set in the environment: --data-dir is RECOUNTD_DATA_DIR, --admin-token-file is
// RECOUNTD_ADMIN_TOKEN_FILE, and so on. A flag given on the command line wins. The garbage collector runs at
// GOGC=200 unless GOGC or GOMEMLIMIT is set (node.TuneGC; docs/capacity.md).
//
//	recountd --data-dir /var/lib/recount --origin vote.example.org/board \
//	    --tls-cert node.crt --tls-key node.key --admin-token-file admin.token --metrics-listen 127.0.0.1:9464
//
// The node listens at once, and opens and replays its board in the background: until that is done, gRPC health
// says NOT_SERVING (BoardService turns SERVING as soon as the board is open) and the other calls are refused with
// Unavailable, reason STARTING, saying how far the replay got. A board that cannot be opened or replayed stops
// the node with exit status 1 and a log line saying why.
//
// recountd refuses careless set-ups: a data directory that group or others can write to (it creates a missing
// one with mode 0700), and --plaintext on an address other than loopback while admin credentials are configured
// (the token would travel in clear), unless --insecure-plaintext says that this is meant.
//
// With --witness-policy FILE (a c2sp.org/tlog-policy file naming the witnesses, their keys and URLs, and the
// quorum) the node asks the witnesses to cosign each new checkpoint in the background and publishes the
// cosigned checkpoint once the quorum has cosigned it (docs/witness.md, section 9); a ballot's receipt waits up
// to --witness-receipt-wait (5 s) for it, and none waits while the witnesses are known to be unreachable.
//
// With --web-listen ADDR the node also serves the voters' web pages and their JSON API (package web, docs/web.md)
// over HTTP, or HTTPS with --tls-cert, and logs the SHA-256 of each file the pages are made of, which /hashes
// lists too.
//
// With --node-id the node is a member of a cluster of 3 or 5 nodes that replicate the board with Raft
// (node.ClusterOptions, ledger/replica): only the leader takes changes, a receipt is given once a majority holds
// the ballot, and followers serve reads at their board's size and refuse changes with FailedPrecondition, reason
// NOT_LEADER, naming the leader. The first member creates the board and its key; the others get a copy of that
// board.key (--cluster-key-file) and empty data directories. One member forms the cluster once:
//
//	recountd --data-dir d1 --origin vote.example.org/board --node-id n1 --raft-listen 10.0.0.1:7401 \
//	    --peers n1=10.0.0.1:7401=10.0.0.1:7400,n2=10.0.0.2:7401=10.0.0.2:7400,n3=10.0.0.3:7401=10.0.0.3:7400 --bootstrap ...
//	recountd --data-dir d2 --origin vote.example.org/board --node-id n2 --raft-listen 10.0.0.2:7401 \
//	    --peers (the same) --cluster-key-file board.key ...
//
// Raft's messages go over mutual TLS with --raft-tls-cert, --raft-tls-key and --raft-ca (a CA of the
// commission's that issues certificates to the members alone): Raft itself authenticates nothing, so without TLS
// whoever reaches a Raft port could claim to lead and write to the board. recountd refuses Raft without TLS on an
// address other than loopback unless --insecure-raft-plaintext says the network reaches only the members.
//
// A member refuses to start, writing nothing, on a board with another key (another cluster's data), a data
// directory another process holds (its board.db is locked), and --peers that disagree with the configuration it
// stored. Members are added and removed with the admin service (recount admin add-member, remove-member).
//
// On SIGINT or SIGTERM the node stops taking calls, finishes those in progress (appends among them), ends the
// board streams, and closes the board.
package main

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hashicorp/raft"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/replica"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/node"
	"github.com/recount-vote/recount/web"
	"github.com/recount-vote/recount/witness/policy"
)

func main() {
	node.TuneGC()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.LookupEnv, os.Stderr, nil))
}

type config struct {
	dataDir, listen, origin      string
	tlsCert, tlsKey, adminCA     string
	plaintext, insecurePlaintext bool
	adminTokenFile               string
	metricsListen                string
	webListen                    string
	logFormat, logLevel          string
	autoClose                    bool
	witnessPolicy                string
	witnessTimeout, receiptWait  time.Duration
	maxMessageBytes              int
	callTimeout, shutdownTimeout time.Duration
	maxConcurrentStreams         uint
	stderr                       io.Writer

	// A cluster member (node.ClusterOptions): empty nodeID means a node alone.
	nodeID, raftListen, raftAdvertise string
	peers                             string
	bootstrap                         bool
	clusterKeyFile                    string
	raftHeartbeat                     time.Duration
	raftCert, raftKey, raftCA         string
	insecureRaft                      bool

	// The stream guard (node.ServerOptions).
	maxStreams, maxStreamsPerConn, maxStreamsPerClient, adminStreams int
	streamStall                                                      time.Duration
}

// envName is the environment variable of a flag: RECOUNTD_ and the flag's name in upper case, dashes as
// underscores.
func envName(flagName string) string {
	return "RECOUNTD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// defaultReceiptWait is how long, with a witness policy, a receipt waits for its ballot's checkpoint to be
// witnessed. Witnesses answer in milliseconds (BenchmarkWitnessing: p99 about 5 ms with 3 on loopback), so in
// normal operation every receipt carries the cosignatures; the bound keeps a voter from waiting on a slow
// witness, and the node does not wait at all while the witnesses are known to be unreachable (the last round
// failed and the checkpoints have gone unwitnessed for longer than this).
const defaultReceiptWait = 5 * time.Second

func parse(args []string, lookupEnv func(string) (string, bool), stderr io.Writer) (*config, error) {
	c := &config{stderr: stderr}
	fs := flag.NewFlagSet("recountd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.dataDir, "data-dir", "", "directory of the board (created on first start; one election per directory)")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:7400", "gRPC listen address")
	fs.StringVar(&c.origin, "origin", "", "the board's origin, e.g. vote.example.org/board: required on first start, checked after")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "PEM certificate chain of the node (TLS)")
	fs.StringVar(&c.tlsKey, "tls-key", "", "PEM private key of the node (TLS)")
	fs.BoolVar(&c.plaintext, "plaintext", false, "serve without TLS (loopback and tests only)")
	fs.BoolVar(&c.insecurePlaintext, "insecure-plaintext", false, "allow --plaintext on an address other than loopback even with admin credentials, which then travel in clear")
	fs.BoolVar(&c.autoClose, "auto-close", true, "close the polls by itself when the manifest's voting window ends")
	fs.StringVar(&c.adminTokenFile, "admin-token-file", "", "file holding the commission's bearer token for admin calls (mode 0600)")
	fs.StringVar(&c.adminCA, "admin-client-ca", "", "PEM CA of the commission: admin calls then need a client certificate it signed (mutual TLS)")
	fs.StringVar(&c.witnessPolicy, "witness-policy", "", "witness policy file (c2sp.org/tlog-policy: the witnesses' keys and URLs, the quorum): the node asks the witnesses to cosign each checkpoint (docs/witness.md); none when empty")
	fs.DurationVar(&c.witnessTimeout, "witness-timeout", 10*time.Second, "how long the node waits for one witness's cosignature of one checkpoint")
	fs.DurationVar(&c.receiptWait, "witness-receipt-wait", defaultReceiptWait, "with --witness-policy, how long a ballot's receipt may wait for a witnessed checkpoint that covers it (0: never waits); a receipt given without one says it is unwitnessed and can be upgraded; it never waits while the witnesses are known to be unreachable")
	fs.StringVar(&c.metricsListen, "metrics-listen", "", "HTTP address for Prometheus metrics at /metrics (off when empty)")
	fs.StringVar(&c.webListen, "web-listen", "", "HTTP(S) address of the voters' web pages and their JSON API (docs/web.md; HTTPS with --tls-cert; off when empty)")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.IntVar(&c.maxMessageBytes, "max-message-bytes", node.DefaultMaxMessageBytes, "largest request accepted, in bytes")
	fs.DurationVar(&c.callTimeout, "call-timeout", node.DefaultCallTimeout, "deadline given to calls that come without one, from their headers; and the longest any call's request may take to arrive")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long a shutdown waits for the calls in progress")
	fs.UintVar(&c.maxConcurrentStreams, "max-concurrent-streams", 256, "calls in progress per connection")
	fs.IntVar(&c.maxStreams, "max-streams", node.DefaultMaxStreams, "streaming calls (StreamEntries, Export, health watches) in progress on the node")
	fs.IntVar(&c.maxStreamsPerConn, "max-streams-per-connection", node.DefaultMaxStreamsPerConn, "streaming calls in progress per connection")
	fs.IntVar(&c.maxStreamsPerClient, "max-streams-per-client", node.DefaultMaxStreamsPerClient, "streaming calls in progress per client IP address (IPv6: per /64), over all its connections; behind a proxy, set it to --max-streams")
	fs.IntVar(&c.adminStreams, "admin-streams", node.DefaultAdminStreams, "streaming calls kept for admin callers (token or client certificate) beyond --max-streams (0: none)")
	fs.StringVar(&c.nodeID, "node-id", "", "this node's ID in a cluster of nodes replicating the board with Raft (empty: the node keeps its board alone)")
	fs.StringVar(&c.raftListen, "raft-listen", "", "with --node-id: the address the node's Raft listens on, host:port")
	fs.StringVar(&c.raftCert, "raft-tls-cert", "", "with --node-id: PEM certificate of this member, issued by the cluster's CA (--raft-ca): Raft's messages then go over mutual TLS")
	fs.StringVar(&c.raftKey, "raft-tls-key", "", "PEM private key of --raft-tls-cert")
	fs.StringVar(&c.raftCA, "raft-ca", "", "PEM CA of the cluster: every member's Raft certificate must chain to it")
	fs.BoolVar(&c.insecureRaft, "insecure-raft-plaintext", false, "allow Raft without TLS on an address other than loopback: whoever reaches the port can then write to the board")
	fs.StringVar(&c.raftAdvertise, "raft-advertise", "", "with --node-id: the Raft address the other members reach this node at (default: --raft-listen)")
	fs.StringVar(&c.peers, "peers", "", "with --node-id: the cluster's members, this node included, as ID=RAFT-ADDR[=GRPC-ADDR],... (the gRPC address is named to clients that write to a follower); checked against the stored configuration on later starts")
	fs.BoolVar(&c.bootstrap, "bootstrap", false, "with --node-id and --peers: form a new cluster of --peers, on one member, once (ignored once the node has Raft state)")
	fs.StringVar(&c.clusterKeyFile, "cluster-key-file", "", "with --node-id: the board's signing key, which every member holds (a copy of the first member's board.key, mode 0600); needed to create a member's board")
	fs.DurationVar(&c.raftHeartbeat, "raft-heartbeat", time.Second, "with --node-id: Raft's heartbeat and election timeout: a dead leader is replaced after about one to two of these")
	fs.DurationVar(&c.streamStall, "stream-stall-timeout", node.DefaultStreamStall, "end a stream whose client has read nothing for this long (0: never)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: recountd [flags]\n\nrecountd is the Recount node: one election's bulletin board, served over gRPC.\n"+
			"Every flag can be set in the environment as RECOUNTD_<FLAG> (e.g. RECOUNTD_DATA_DIR); the command line wins.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := lookupEnv(envName(f.Name)); ok && !set[f.Name] && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", envName(f.Name), v, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	switch {
	case c.dataDir == "":
		return nil, errors.New("--data-dir (or RECOUNTD_DATA_DIR) is required")
	case (c.tlsCert == "") != (c.tlsKey == ""):
		return nil, errors.New("--tls-cert and --tls-key go together")
	case c.tlsCert == "" && !c.plaintext:
		return nil, errors.New("give --tls-cert and --tls-key, or --plaintext to serve without TLS")
	case c.tlsCert != "" && c.plaintext:
		return nil, errors.New("--plaintext and --tls-cert: choose one")
	case c.adminCA != "" && c.tlsCert == "":
		return nil, errors.New("--admin-client-ca needs TLS (--tls-cert and --tls-key)")
	case c.insecurePlaintext && !c.plaintext:
		return nil, errors.New("--insecure-plaintext goes with --plaintext")
	case c.plaintext && c.adminTokenFile != "" && !c.insecurePlaintext && !isLoopback(c.listen):
		return nil, fmt.Errorf("--plaintext on %s, which is not a loopback address, would send the admin token in clear: "+
			"serve TLS (--tls-cert and --tls-key), or listen on 127.0.0.1 or [::1], or, on a network you trust, add --insecure-plaintext", c.listen)
	case c.logFormat != "text" && c.logFormat != "json":
		return nil, fmt.Errorf("--log-format %q: want text or json", c.logFormat)
	case c.nodeID == "" && (c.raftListen != "" || c.peers != "" || c.bootstrap || c.clusterKeyFile != "" || c.raftAdvertise != ""):
		return nil, errors.New("--raft-listen, --raft-advertise, --peers, --bootstrap and --cluster-key-file need --node-id")
	case c.nodeID != "" && c.raftListen == "":
		return nil, errors.New("--node-id needs --raft-listen")
	case c.bootstrap && c.peers == "":
		return nil, errors.New("--bootstrap needs --peers")
	case (c.raftCert != "" || c.raftKey != "" || c.raftCA != "") && (c.raftCert == "" || c.raftKey == "" || c.raftCA == "" || c.nodeID == ""):
		return nil, errors.New("--raft-tls-cert, --raft-tls-key and --raft-ca go together, with --node-id")
	case c.nodeID != "" && c.raftCert == "" && !c.insecureRaft && !isLoopback(c.raftListen):
		return nil, fmt.Errorf("--raft-listen %s is not a loopback address, and Raft without TLS lets whoever reaches the port claim to lead and write to the board: "+
			"give --raft-tls-cert, --raft-tls-key and --raft-ca (the cluster's CA), or, on a network only the members reach, add --insecure-raft-plaintext", c.raftListen)
	}
	if c.nodeID != "" {
		if _, _, err := parsePeers(c.peers); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// parsePeers parses --peers: ID=RAFT-ADDR[=GRPC-ADDR], separated by commas.
func parsePeers(s string) ([]replica.Member, map[string]string, error) {
	var ms []replica.Member
	addrs := map[string]string{}
	if s == "" {
		return nil, addrs, nil
	}
	seen := map[string]bool{}
	for _, p := range strings.Split(s, ",") {
		f := strings.Split(strings.TrimSpace(p), "=")
		if len(f) < 2 || len(f) > 3 || f[0] == "" || f[1] == "" {
			return nil, nil, fmt.Errorf("--peers: %q is not ID=RAFT-ADDR[=GRPC-ADDR]", p)
		}
		if _, _, err := net.SplitHostPort(f[1]); err != nil {
			return nil, nil, fmt.Errorf("--peers: %q: the Raft address: %w", p, err)
		}
		if seen[f[0]] {
			return nil, nil, fmt.Errorf("--peers: member %q is named twice", f[0])
		}
		seen[f[0]] = true
		ms = append(ms, replica.Member{ID: f[0], Addr: f[1]})
		if len(f) == 3 {
			addrs[f[0]] = f[2]
		}
	}
	return ms, addrs, nil
}

// readClusterKey reads the board's signing key file for a cluster member, refusing one that others can read.
func readClusterKey(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("--cluster-key-file: %w", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("--cluster-key-file %s has mode %04o: others can read the board's signing key; run: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	if fi.Size() > 4096 {
		return "", fmt.Errorf("--cluster-key-file %s is too large to be a key", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--cluster-key-file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// clusterOptions builds the node's cluster options and starts the Raft transport; nil without --node-id.
func (c *config) clusterOptions(logger *slog.Logger) (*node.ClusterOptions, io.Closer, error) {
	if c.nodeID == "" {
		return nil, nil, nil
	}
	members, addrs, err := parsePeers(c.peers)
	if err != nil {
		return nil, nil, err
	}
	co := &node.ClusterOptions{ID: c.nodeID, Members: members, Bootstrap: c.bootstrap, Addrs: addrs, HeartbeatTimeout: c.raftHeartbeat}
	if c.clusterKeyFile != "" {
		if co.SigningKey, err = readClusterKey(c.clusterKeyFile); err != nil {
			return nil, nil, err
		}
	}
	adv := c.raftAdvertise
	if adv == "" {
		adv = c.raftListen
	}
	advAddr, err := net.ResolveTCPAddr("tcp", adv)
	if err != nil {
		return nil, nil, fmt.Errorf("--raft-advertise %s: %w", adv, err)
	}
	if advAddr.IP == nil || advAddr.IP.IsUnspecified() {
		return nil, nil, fmt.Errorf("--raft-advertise %s: the other members need a host to reach this node at (give --raft-advertise)", adv)
	}
	var trans *raft.NetworkTransport
	if c.raftCert != "" {
		cert, err := tls.LoadX509KeyPair(c.raftCert, c.raftKey)
		if err != nil {
			return nil, nil, fmt.Errorf("--raft-tls-cert: %w", err)
		}
		pool, err := grpcnode.LoadCertPool(c.raftCA)
		if err != nil {
			return nil, nil, fmt.Errorf("--raft-ca: %w", err)
		}
		trans, err = replica.NewTLSTransport(c.raftListen, adv, replica.ClusterTLS(cert, pool), slogWriter{logger})
		if err != nil {
			return nil, nil, fmt.Errorf("--raft-listen %s: %w", c.raftListen, err)
		}
	} else {
		logger.Warn("recountd: Raft without TLS (--raft-tls-cert): whoever reaches the Raft port can write to the board", "raft_listen", c.raftListen)
		if trans, err = raft.NewTCPTransport(c.raftListen, advAddr, 3, 10*time.Second, slogWriter{logger}); err != nil {
			return nil, nil, fmt.Errorf("--raft-listen %s: %w", c.raftListen, err)
		}
	}
	co.Transport = trans
	return co, trans, nil
}

// slogWriter logs Raft transport lines as warnings.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn(strings.TrimSpace(string(p)))
	return len(p), nil
}

// isLoopback reports whether the listen address addr (host:port) is on the loopback interface only: a loopback
// IP address or localhost. An empty host (":7400") listens on every interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// prepareDataDir makes sure that only the node's user can write to the data directory, where anyone who can could
// replace the board or its signing key: it creates a missing directory with mode 0700, and refuses one that group
// or others can write to.
func prepareDataDir(dir string, logger *slog.Logger) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		logger.Info("recountd: created the data directory", "dir", dir, "mode", "0700")
		return nil
	case err != nil:
		return fmt.Errorf("data directory: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("data directory %s is not a directory", dir)
	case runtime.GOOS != "windows" && fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("data directory %s has mode %04o: group or others can write to it, and so replace the board or its signing key; run: chmod 700 %s",
			dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// noneIfZero turns a flag where 0 means never or none (--stream-stall-timeout, --admin-streams) into the
// node.ServerOptions field, where 0 means the default and never or none is negative.
func noneIfZero[T int | time.Duration](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

// serverOptions are the node.ServerOptions of c, but for TLS, admin credentials and the logger.
func (c *config) serverOptions() node.ServerOptions {
	return node.ServerOptions{MaxMessageBytes: c.maxMessageBytes, DefaultTimeout: c.callTimeout,
		MaxConcurrentStreams: uint32(c.maxConcurrentStreams), MaxStreams: c.maxStreams, MaxStreamsPerConn: c.maxStreamsPerConn,
		MaxStreamsPerClient: c.maxStreamsPerClient, AdminStreams: noneIfZero(c.adminStreams), StreamStall: noneIfZero(c.streamStall)}
}

func newLogger(c *config) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", c.logLevel, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(c.stderr, opts)), nil
	}
	return slog.New(slog.NewTextHandler(c.stderr, opts)), nil
}

// run runs the node until ctx ends and returns the exit status. listening, if set, is told the addresses.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stderr io.Writer, listening func(grpcAddr, metricsAddr string)) int {
	c, err := parse(args, lookupEnv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "recountd: %v\n", err)
		return 2
	}
	logger, err := newLogger(c)
	if err != nil {
		fmt.Fprintf(stderr, "recountd: %v\n", err)
		return 2
	}
	if err := serve(ctx, c, logger, listening); err != nil {
		logger.Error("recountd: stopped", "err", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, c *config, logger *slog.Logger, listening func(grpcAddr, metricsAddr string)) error {
	if c.insecurePlaintext && !isLoopback(c.listen) {
		logger.Warn("recountd: --insecure-plaintext: serving without TLS on an address other than loopback; the admin token and every call travel in clear",
			"listen", c.listen)
	}
	if err := prepareDataDir(c.dataDir, logger); err != nil {
		return err
	}
	auth := node.AdminAuth{}
	if c.adminTokenFile != "" {
		tok, err := node.ReadTokenFile(c.adminTokenFile)
		if err != nil {
			return err
		}
		auth.Token = tok
	}
	var tlsCfg *tls.Config
	if c.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
		if err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if c.adminCA != "" {
			pool, err := grpcnode.LoadCertPool(c.adminCA)
			if err != nil {
				return fmt.Errorf("admin client CA: %w", err)
			}
			tlsCfg.ClientCAs, tlsCfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
			auth.ClientCert = true
		}
	}
	if !auth.Enabled() {
		logger.Warn("recountd: no admin credentials configured (--admin-token-file, --admin-client-ca): every admin call will be refused")
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := node.NewMetrics(reg)

	lis, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	nopts := node.Options{Origin: c.origin, Logger: logger, Metrics: metrics, AutoClose: c.autoClose}
	if c.witnessPolicy != "" {
		text, err := os.ReadFile(c.witnessPolicy)
		if err != nil {
			return fmt.Errorf("witness policy: %w", err)
		}
		pol, err := policy.Parse(text)
		if err != nil {
			return fmt.Errorf("witness policy %s: %w", c.witnessPolicy, err)
		}
		nopts.Witnesses = node.WitnessOptions{Policy: pol, Timeout: c.witnessTimeout, ReceiptWait: c.receiptWait}
		logger.Info("recountd: witness policy", "file", c.witnessPolicy, "fingerprint", policy.Fingerprint(text), "witnesses", len(pol.Witnesses), "quorum", pol.Quorum)
	}
	co, trans, err := c.clusterOptions(logger)
	if err != nil {
		lis.Close()
		return err
	}
	if trans != nil {
		defer trans.Close()
	}
	nopts.Cluster = co
	n := node.New(c.dataDir, nopts)
	defer func() {
		if err := n.Close(); err != nil {
			logger.Error("recountd: closing the board", "err", err)
		}
	}()
	opts := c.serverOptions()
	opts.TLS, opts.Admin, opts.Logger = tlsCfg, auth, logger
	srv := node.NewServer(n, opts)

	var metricsSrv *http.Server
	metricsAddr := ""
	if c.metricsListen != "" {
		mlis, err := net.Listen("tcp", c.metricsListen)
		if err != nil {
			lis.Close()
			return fmt.Errorf("metrics: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		metricsAddr = mlis.Addr().String()
		go func() {
			if err := metricsSrv.Serve(mlis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("recountd: metrics server", "err", err)
			}
		}()
	}

	webSrv, webAddr, err := serveWeb(c, n, tlsCfg, logger)
	if err != nil {
		lis.Close()
		if metricsSrv != nil {
			metricsSrv.Close()
		}
		return err
	}

	logger.Info("recountd: listening; opening the board (health NOT_SERVING until it is replayed)", "listen", lis.Addr().String(),
		"tls", tlsCfg != nil, "metrics", metricsAddr, "web", webAddr, "data_dir", c.dataDir)
	if listening != nil {
		listening(lis.Addr().String(), metricsAddr)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	startc := make(chan error, 1)
	go func() { startc <- n.Start() }()

	// Serve until ctx ends; a board that cannot be opened or replayed stops the node: it never serves a board it
	// could not replay.
	var startErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	case startErr = <-startc:
	}
	if startErr != nil {
		if errors.Is(startErr, ledger.ErrInvalid) && c.origin == "" {
			startErr = fmt.Errorf("%w (on first start give --origin, e.g. --origin vote.example.org/board)", startErr)
		}
		startErr = fmt.Errorf("the board could not be opened: %w", startErr)
	} else if ctx.Err() == nil {
		status := n.Status()
		logger.Info("recountd: serving", "origin", n.Log().Origin(), "verifier_key", n.Log().VerifierKey(),
			"fingerprint", tlog.KeyFingerprint(n.Log().VerifierKey()), "phase", status.Phase.String(), "entries", status.BoardSize)
		select {
		case <-ctx.Done():
		case err := <-errc:
			return err
		}
	}
	if startErr == nil {
		logger.Info("recountd: shutting down: finishing the calls in progress", "timeout", c.shutdownTimeout)
	}
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	srv.Shutdown(sctx)
	<-errc
	if metricsSrv != nil {
		metricsSrv.Shutdown(sctx)
	}
	if webSrv != nil {
		webSrv.Shutdown(sctx)
	}
	if startErr != nil {
		return startErr
	}
	size := uint64(0)
	if isReady(n) {
		size = n.Log().Size()
	}
	logger.Info("recountd: stopped", "entries", size)
	return nil
}

// isReady reports whether the node has started.
func isReady(n *node.Node) bool {
	select {
	case <-n.Ready():
		return true
	default:
		return false
	}
}

// serveWeb serves the voters' web pages and JSON API on --web-listen (package web), over TLS with the node's
// certificate when it has one, and logs the served files' hashes (docs/web.md: how an auditor checks them). It
// returns a nil server when --web-listen is empty.
func serveWeb(c *config, n *node.Node, tlsCfg *tls.Config, logger *slog.Logger) (*http.Server, string, error) {
	if c.webListen == "" {
		return nil, "", nil
	}
	var policyText []byte // the pages check cosignatures against it, and show its fingerprint
	if c.witnessPolicy != "" {
		var err error
		if policyText, err = os.ReadFile(c.witnessPolicy); err != nil {
			return nil, "", fmt.Errorf("witness policy: %w", err)
		}
	}
	h, err := web.New(web.Options{Services: web.Services{Voter: node.VoterService(n), Board: node.BoardService(n),
		Status: node.PublicStatus(n), Ready: n.NotReady, WitnessPolicy: policyText}, Limits: web.Limits{CallTimeout: c.callTimeout,
		MaxReads: c.maxStreams, MaxReadsPerClient: c.maxStreamsPerClient}, Logger: logger})
	if err != nil {
		return nil, "", fmt.Errorf("web: %w", err)
	}
	wlis, err := net.Listen("tcp", c.webListen)
	if err != nil {
		return nil, "", fmt.Errorf("web: %w", err)
	}
	srv := web.NewServer(c.webListen, h)
	if tlsCfg != nil {
		// Voters have no client certificate: the web side never asks for one.
		srv.TLSConfig = &tls.Config{Certificates: tlsCfg.Certificates, MinVersion: tls.VersionTLS12}
	} else if !isLoopback(c.webListen) {
		logger.Warn("recountd: --web-listen without --tls-cert: serving the voters' pages over plain HTTP on an address other than loopback; put a TLS proxy in front")
	}
	for _, f := range h.Hashes() {
		logger.Info("recountd: web file", "sha256", hex.EncodeToString(f.SHA256[:]), "path", f.Path)
	}
	go func() {
		var err error
		if srv.TLSConfig != nil {
			err = srv.ServeTLS(wlis, "", "")
		} else {
			err = srv.Serve(wlis)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("recountd: web server", "err", err)
		}
	}()
	return srv, wlis.Addr().String(), nil
}
