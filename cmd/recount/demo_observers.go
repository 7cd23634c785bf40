package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/node"
	"github.com/recount-vote/recount/observer"
	"github.com/recount-vote/recount/witness"
	"github.com/recount-vote/recount/witness/policy"
)

// The demo's witnesses and observers (issue 12). The witnesses are the machines of two trustees (plain witnesses:
// they cosign a checkpoint that extends the last one they cosigned, checked by a consistency proof) and the
// newspaper's observer, which also witnesses: it cosigns only a checkpoint whose every entry its mirror holds
// and verified. The policy is 2 of 3: the trustees' two machines make the quorum while the observer-witness is
// still verifying the latest ballots, and any two of three parties that do not answer to the operator must
// agree before a checkpoint is published. A second observer (the university's) only follows and verifies.

// demoOrigin is the board's origin (the node's Options.Origin), which the witnesses' keys do not name.
const demoOrigin = "demo.recount.local/board"

// demoWitnesses are the witnesses served over loopback HTTP and the policy naming them.
type demoWitnesses struct {
	pol      *policy.Policy
	plain    []*witness.Witness
	servers  []*http.Server
	obsKey   string                       // the observer-witness's signer key
	obsServe atomic.Pointer[http.Handler] // the observer-witness's handler, once its observer is open
}

// demoObserver is an observer following the node in-process, each with its own directory.
type demoObserver struct {
	name    string
	o       *observer.Observer
	conn    *grpcnode.Client
	w       *witness.Witness // nil unless it also witnesses
	cancel  context.CancelFunc
	done    chan error
	web     *demoWeb    // its copy's pages (the newspaper's), demo_web.go
	doneAt  time.Time   // when it had verified the result with nothing left to replay
	verdict chan string // its verdict, once doneAt is set
}

// setUpWitnesses creates the board (to learn its key, which the witnesses and the policy name), the trustees'
// two witnesses, and the observer-witness's key and address; it serves all three and returns the 2-of-3 policy
// the node is opened with. The observer-witness answers 503 until its observer is open (startObservers).
func (d *demo) setUpWitnesses() error {
	n, err := node.Open(filepath.Join(d.dir, "board"), node.Options{Origin: demoOrigin})
	if err != nil {
		return err
	}
	boardKey := n.Log().VerifierKey()
	if err := n.Close(); err != nil {
		return err
	}
	ws := &demoWitnesses{}
	d.witnesses = ws
	var members []policy.Witness
	for i, name := range []string{"trustee-1", "trustee-2", "newspaper"} {
		skey, vkey, err := witness.GenerateKey(name+".demo.recount.local", rand.Reader)
		if err != nil {
			return err
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		var h http.Handler
		if i < 2 {
			w, err := witness.Open(filepath.Join(d.dir, name+"-witness.db"), witness.Config{Key: skey, Logs: []witness.Log{{VerifierKey: boardKey}}})
			if err != nil {
				lis.Close()
				return err
			}
			ws.plain = append(ws.plain, w)
			h = witness.NewHandler(w, nil)
		} else {
			ws.obsKey = skey
			h = http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				if p := ws.obsServe.Load(); p != nil {
					(*p).ServeHTTP(rw, r)
					return
				}
				http.Error(rw, "the observer is still copying the board", http.StatusServiceUnavailable)
			})
		}
		srv := witness.NewServer(lis.Addr().String(), h)
		ws.servers = append(ws.servers, srv)
		go srv.Serve(lis)
		members = append(members, policy.Witness{Name: name, VerifierKey: vkey, URL: "http://" + lis.Addr().String()})
	}
	if ws.pol, err = policy.KOfN(boardKey, 2, members...); err != nil {
		return err
	}
	d.step("witnesses: trustee 1's and trustee 2's machines and the newspaper's observer; the node publishes a checkpoint once 2 of 3 cosign it")
	return nil
}

// nodeWitnessOptions is the node's witnessing: the demo's policy, and receipts that wait for the cosignatures.
func (d *demo) nodeWitnessOptions() node.WitnessOptions {
	if d.witnesses == nil {
		return node.WitnessOptions{}
	}
	return node.WitnessOptions{Policy: d.witnesses.pol, ReceiptWait: 10 * time.Second, RetryEvery: 200 * time.Millisecond}
}

// startObservers opens the two observers on the node (each copies the board into its own directory) and runs
// them; the newspaper's also starts witnessing.
func (d *demo) startObservers(ctx context.Context) error {
	for i, name := range []string{"newspaper", "university"} {
		conn, err := grpcnode.Dial(d.addr, grpcnode.DialOptions{Plaintext: true})
		if err != nil {
			return err
		}
		o, err := observer.Open(ctx, observer.Config{Dir: filepath.Join(d.dir, "observer-"+name), Board: conn.Board,
			BoardKey: d.node.Log().VerifierKey(), PollInterval: 100 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(d.cfg.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		if err != nil {
			conn.Close()
			return fmt.Errorf("observer %s: %w", name, err)
		}
		rctx, cancel := context.WithCancel(context.Background())
		do := &demoObserver{name: name, o: o, conn: conn, cancel: cancel, done: make(chan error, 1), verdict: make(chan string, 1)}
		d.observers = append(d.observers, do)
		if i == 0 && d.witnesses != nil {
			if do.w, err = o.OpenWitness(d.witnesses.obsKey); err != nil {
				return err
			}
			var h http.Handler = witness.NewHandler(do.w, nil)
			d.witnesses.obsServe.Store(&h)
		}
		go func() { do.done <- o.Run(rctx) }()
		go do.watch(rctx)
		if i == 0 {
			if err := d.startObserverWeb(do); err != nil {
				return err
			}
		}
	}
	d.step("observers: the newspaper's (also a witness) and the university's follow the board, each verifying every entry as it arrives")
	return nil
}

// watch notes when the observer has verified the board up to the result with nothing left behind, and its verdict.
func (do *demoObserver) watch(ctx context.Context) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st := do.o.Status()
		if st.Phase != client.PhaseDone || st.Verified < st.Mirrored || st.LagEntries > 0 {
			continue
		}
		do.doneAt = time.Now()
		verdict := fmt.Sprintf("all checks pass, %d ballots counted (%d superseded, %d spoiled)", st.Voters, st.Superseded, st.Spoiled)
		if st.FailureCount > 0 || len(st.Alarms) > 0 {
			verdict = fmt.Sprintf("FAILED: %d failed checks, %d alarms", st.FailureCount, len(st.Alarms))
		}
		do.verdict <- verdict
		return
	}
}

// reportObservers prints, for each observer, when it had verified the result after the polls closed (closedAt)
// and its verdict; an observer that fails or does not finish within a minute fails the demo.
func (d *demo) reportObservers(closedAt time.Time) error {
	var errs []error
	for _, do := range d.observers {
		select {
		case v := <-do.verdict:
			d.step("observer %s: verified the result %.2fs after the polls closed: %s", do.name, do.doneAt.Sub(closedAt).Seconds(), v)
			if do.o.Status().FailureCount > 0 || len(do.o.Status().Alarms) > 0 {
				errs = append(errs, fmt.Errorf("observer %s: %s", do.name, v))
			}
		case err := <-do.done:
			errs = append(errs, fmt.Errorf("observer %s stopped: %v", do.name, err))
		case <-time.After(time.Minute):
			errs = append(errs, fmt.Errorf("observer %s: the result not verified a minute after the polls closed", do.name))
		}
	}
	return errors.Join(errs...)
}

// checkWitnessedReceipts checks every voter's latest receipt's cosigned checkpoint against the policy, as
// `recount receipt --witness-policy` does, and prints once who witnessed them. A receipt given before the quorum
// answered (the node waits a bounded time) is upgraded first through the voter service, as a voter would.
func (d *demo) checkWitnessedReceipts(ctx context.Context, vs *demoVotes) error {
	if d.witnesses == nil {
		return nil
	}
	witnessedBy := map[string]int{}
	upgraded := 0
	var voter *grpcnode.Client
	for v, r := range vs.last {
		if r.Unwitnessed || len(r.Cosigned) == 0 {
			if voter == nil {
				var err error
				if voter, err = grpcnode.Dial(d.addr, grpcnode.DialOptions{Plaintext: true}); err != nil {
					return err
				}
				defer voter.Close()
			}
			up, err := voter.UpgradeReceipt(ctx, r)
			if err != nil {
				return fmt.Errorf("voter %d's receipt was given unwitnessed and cannot be upgraded: %w", v+1, err)
			}
			r = up
			upgraded++
		}
		cp, res, err := d.witnesses.pol.Check(r.Cosigned)
		if err != nil {
			return fmt.Errorf("voter %d's receipt: %w", v+1, err)
		}
		if !res.Met {
			return fmt.Errorf("voter %d's receipt: %s", v+1, res)
		}
		if !bytes.HasPrefix(r.Cosigned, r.Checkpoint) {
			return fmt.Errorf("voter %d's receipt: the cosigned checkpoint (size %d) is not the receipt's", v+1, cp.Size)
		}
		// "witnessed by 2 of 3 (trustee-1, trustee-2)", without the quorum's details (Met is checked above).
		who, _, _ := strings.Cut(res.String(), ":")
		witnessedBy[who]++
	}
	if upgraded > 0 {
		d.step("voters: %d receipts given before the witnesses had cosigned, upgraded through the voter service", upgraded)
	}
	for who, n := range witnessedBy {
		d.step("voters: %d receipts checked against the witness policy (2 of 3): %s", n, who)
	}
	return nil
}

// stopObservers stops the observers (and the observer-witness) and closes their directories.
func (d *demo) stopObservers() {
	for _, do := range d.observers {
		d.stopObserverWeb(do)
		do.cancel()
		<-do.done
		if d.witnesses != nil {
			d.witnesses.obsServe.Store(nil)
		}
		if do.w != nil {
			do.w.Close()
		}
		do.o.Close()
		do.conn.Close()
	}
	d.observers = nil
}

// stopWitnesses shuts the witnesses' servers down and closes their state.
func (d *demo) stopWitnesses() {
	if d.witnesses == nil {
		return
	}
	var wg sync.WaitGroup
	for _, s := range d.witnesses.servers {
		wg.Go(func() { s.Close() })
	}
	wg.Wait()
	for _, w := range d.witnesses.plain {
		w.Close()
	}
}
