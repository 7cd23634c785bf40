package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"

	"github.com/recount-vote/recount/node"
	"github.com/recount-vote/recount/web"
)

// demoWeb is the node's web pages (package web) while the demo runs, on a loopback port.
type demoWeb struct {
	srv  *http.Server
	url  string
	done chan struct{}
}

// startWeb serves the voters' pages on cfg.webListen (none when empty) and says where.
func (d *demo) startWeb() error {
	if d.cfg.webListen == "" {
		return nil
	}
	n := d.node
	svc := web.Services{Voter: node.VoterService(n), Board: node.BoardService(n), Status: node.PublicStatus(n), Ready: n.NotReady}
	if d.witnesses != nil {
		svc.WitnessPolicy = d.witnesses.pol.Marshal()
	}
	w, err := d.serveWeb(svc, d.cfg.webListen, d.cfg.webWrap)
	if err != nil {
		return err
	}
	d.web = w
	d.step("node: voters' web pages at %s (the election, voting, receipts, results; served files' hashes at %shashes)", w.url, w.url)
	return nil
}

// startObserverWeb serves the pages of an observer's copy of the board (read-only: receipts and results) on a
// loopback port, when the node's are served.
func (d *demo) startObserverWeb(do *demoObserver) error {
	if d.cfg.webListen == "" {
		return nil
	}
	voter, board := do.o.Services()
	svc := web.Services{Voter: voter, Board: board, ReadOnly: true}
	if d.witnesses != nil {
		svc.WitnessPolicy = d.witnesses.pol.Marshal()
	}
	w, err := d.serveWeb(svc, "127.0.0.1:0", nil)
	if err != nil {
		return err
	}
	do.web = w
	d.step("observer %s: its copy's pages at %s: receipts checked against a board the operator does not control", do.name, w.url)
	return nil
}

// serveWeb serves the pages of svc on addr, wrapped by wrap if it is set.
func (d *demo) serveWeb(svc web.Services, addr string, wrap func(http.Handler) http.Handler) (*demoWeb, error) {
	h, err := web.New(web.Options{Services: svc})
	if err != nil {
		return nil, err
	}
	var handler http.Handler = h
	if wrap != nil {
		handler = wrap(h)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--web-listen: %w", err)
	}
	w := &demoWeb{srv: web.NewServer(lis.Addr().String(), handler), url: "http://" + lis.Addr().String() + "/", done: make(chan struct{})}
	go func() {
		defer close(w.done)
		if err := w.srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(d.cfg.stderr, "recount demo: web server: %v\n", err)
		}
	}()
	return w, nil
}

// stop shuts the web server down.
func (w *demoWeb) stop(ctx context.Context) {
	w.srv.Shutdown(ctx)
	<-w.done
}

// stopWeb shuts the node's web server down, if it runs.
func (d *demo) stopWeb(ctx context.Context) {
	if d.web == nil {
		return
	}
	d.web.stop(ctx)
	d.web = nil
}

// stopObserverWeb shuts an observer's web server down, if it runs.
func (d *demo) stopObserverWeb(do *demoObserver) {
	if do.web == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	do.web.stop(ctx)
	do.web = nil
}

// keepServing, with --keep-serving, leaves the node and its pages up until ctx ends (Ctrl-C), so that a person
// can look at the election, check receipts (DIR/receipts/ with --out) and see the results in a browser.
func (d *demo) keepServing(ctx context.Context) error {
	if !d.cfg.keepServing {
		return nil
	}
	where := "the node's gRPC at " + d.addr
	if d.web != nil {
		where = d.web.url + " (and gRPC at " + d.addr + ")"
	}
	fmt.Fprintf(d.cfg.stdout, "\nThe node keeps serving at %s; the receipts are in %s. Press Ctrl-C to stop.\n", where, d.out+"/receipts")
	<-ctx.Done()
	return nil
}

// waitForBrowserVoters, with --browser-voters N, keeps the polls open after the demo's voters have voted, prints
// the booth's address and the N credentials kept for people (their codes, and their files under --out), and
// waits for Enter (or an interrupt) before the tally. It counts in vs those who voted.
func (d *demo) waitForBrowserVoters(ctx context.Context, el *openElection, vs *demoVotes) error {
	n := d.cfg.browserVoters
	if n == 0 || d.web == nil {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nThe polls stay open for you: vote at %svote with one of these credential codes (or their files in %s):\n",
		d.web.url, filepath.Join(d.out, "credentials"))
	for i, c := range el.creds[d.cfg.voters:] {
		fmt.Fprintf(&b, "  credential-%06d.json  %s\n", d.cfg.voters+i+1, c.Code())
	}
	b.WriteString("Check your receipt at " + d.web.url + "receipt. Press Enter here to close the polls and tally.\n")
	fmt.Fprint(d.cfg.stdout, b.String())
	entered := make(chan struct{})
	go func() {
		if d.cfg.stdin != nil {
			bufio.NewReader(d.cfg.stdin).ReadString('\n')
		}
		close(entered)
	}()
	select {
	case <-entered:
	case <-ctx.Done():
		return ctx.Err()
	}
	st, err := d.admin.Admin.GetStatus(ctx, &recountv1.GetStatusRequest{})
	if err != nil {
		return err
	}
	vs.browser = int(st.Voters) - len(vs.choices)
	d.step("voters: %d of the %d people's credentials voted in a browser", vs.browser, n)
	return nil
}
