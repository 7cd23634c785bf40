package election_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
)

// Close figures (issue 12, "a fast close"): `go test ./election -run '^$' -bench 'Close|FullPass' -benchtime 1x`.
// Building a board of 100,000 ballots takes a while (encrypting them on all cores, about a minute on two), once
// per process; BenchmarkClose/ballots=100000 then builds four states of it per iteration (outside the timer).

// closeBoard is an election whose polls are open and hold n ballots of the demo's contests (a tenth of them
// revotes), as the benchmarks of the close need it: the entries up to the last ballot, with each ballot's
// decoded shape (the proofs were checked when they were made, as a node admits them), and the whole record
// (close, tally, two partial decryptions, result) for the full pass.
type closeBoard struct {
	e       *electiontest.Election
	entries []election.Entry        // the manifest up to the last ballot
	checks  []*election.BallotCheck // checks[i]: entry i's shape check, for a ballot; nil otherwise
	record  []election.Entry        // entries, then the close, the tally, the partial decryptions and the result
}

var (
	closeBoardsMu sync.Mutex
	closeBoards   = map[int]*closeBoard{}
)

// demoContests returns the demo's contests (cmd/recount's demoManifest): a 1-of-4, an approval of up to 3 of 6
// and a score 0..5 over 4 options with a total of at most 12, 14 options.
func demoContests() *electiontest.Config {
	m := electiontest.Mixed()
	m.Contests[0].Options = m.Contests[0].Options[:4]
	return &electiontest.Config{Trustees: 3, Threshold: 2, Absent: []int{3}, Manifest: m, Seed: 12}
}

func closeBoardOf(b *testing.B, ballots int) *closeBoard {
	closeBoardsMu.Lock()
	defer closeBoardsMu.Unlock()
	if cb := closeBoards[ballots]; cb != nil {
		return cb
	}
	revotes := ballots / 10
	cfg := demoContests()
	cfg.Voters = ballots - revotes
	e, err := electiontest.Setup(*cfg)
	if err != nil {
		b.Fatal(err)
	}
	// Every voter casts, then the first tenth cast again: encrypted on all cores, put on the board in order.
	drafts := make([]election.Draft, ballots)
	pk := e.State.Key().PublicKey
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				pb, err := election.EncryptBallot(e.Manifest, pk, e.Credentials[i%cfg.Voters], election.RandomChoices(e.Manifest, nil), nil)
				if err != nil {
					panic(err)
				}
				drafts[i] = pb.DraftCast()
			}
		})
	}
	for i := range drafts {
		next <- i
	}
	close(next)
	wg.Wait()
	cb := &closeBoard{e: e, checks: make([]*election.BallotCheck, len(e.Entries))}
	for _, d := range drafts {
		en := d.At(uint64(len(e.Entries)))
		bc := election.CheckBallotShapeOnly(e.Manifest, en)
		if errs := e.State.ApplyChecked(en, bc); len(errs) > 0 {
			b.Fatal(errs[0])
		}
		e.Entries = append(e.Entries, en)
		cb.checks = append(cb.checks, bc)
	}
	cb.entries = e.Entries
	if err := e.Finish(); err != nil {
		b.Fatal(err)
	}
	cb.record, e.Entries = e.Entries, nil
	closeBoards[ballots] = cb
	return cb
}

// state returns a state holding cb's entries up to the last ballot, applied without checking the ballots'
// proofs again (their decoded shapes are shared, and only read).
func (cb *closeBoard) state(b *testing.B) *election.State {
	s := election.NewState()
	for i, en := range cb.entries {
		var errs []*election.CheckError
		if bc := cb.checks[i]; bc != nil {
			errs = s.ApplyChecked(en, bc)
		} else {
			errs = s.Apply(en)
		}
		if len(errs) > 0 {
			b.Fatal(errs[0])
		}
	}
	return s
}

// BenchmarkClose measures the poll close to a result verified by a live follower, with every ballot already
// applied by each party as it arrived: the node closes the polls and posts the encrypted tally, two trustees
// (each following the board with its own state) post their partial decryptions, the node posts the result, and
// an observer following the board has verified every entry. Each entry is checked by every party (node, two
// trustees, observer: four states) through the replay pipeline, one after the other on one goroutine. The
// close-ms, tally-ms, decrypt-ms and result-ms metrics split the time by stage.
func BenchmarkClose(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("ballots=%d", n), func(b *testing.B) {
			cb := closeBoardOf(b, n)
			var stages [4]time.Duration
			for b.Loop() {
				b.StopTimer()
				node := cb.state(b)
				var followers []*election.Replayer
				for range 3 {
					followers = append(followers, election.NewReplayer(cb.state(b), election.ReplayOptions{
						Applied: func(_ election.Entry, errs []*election.CheckError) error {
							if len(errs) > 0 {
								return errs[0]
							}
							return nil
						}}))
				}
				trustees, observer := followers[:2], followers[2]
				runtime.GC()
				b.StartTimer()
				var postAt func(int, election.Draft, error)
				post := func(stage int) func(election.Draft, error) {
					return func(d election.Draft, err error) { postAt(stage, d, err) }
				}
				postAt = func(stage int, d election.Draft, err error) {
					start := time.Now()
					if err != nil {
						b.Fatal(err)
					}
					en := d.At(node.Size())
					if errs := node.Apply(en); len(errs) > 0 {
						b.Fatal(errs[0])
					}
					for _, f := range followers {
						if err := f.Feed(context.Background(), en); err != nil {
							b.Fatal(err)
						}
					}
					stages[stage] += time.Since(start)
				}
				post(0)(node.DraftClose(time.Now().Unix()))
				post(1)(node.DraftEncryptedTally())
				for i, r := range trustees {
					t := cb.e.Trustees[i]
					start := time.Now()
					d, err := t.Trustee.DraftPartialDecryption(t.Share, r.State(), nil)
					stages[2] += time.Since(start)
					postAt(2, d, err)
				}
				post(3)(node.DraftResult())
				if !observer.State().HasResult() {
					b.Fatal("the observer has no result")
				}
			}
			for i, name := range []string{"close-ms", "tally-ms", "decrypt-ms", "result-ms"} {
				b.ReportMetric(stages[i].Seconds()*1000/float64(b.N), name)
			}
		})
	}
}

// BenchmarkFullPassAfterClose measures what a party that checks only after the close does: one full
// verification of the whole record (every ballot's signature and proofs, on all cores), as `recount verify`
// does. Before the trustees and observers followed the board live, each of them did this after the close.
func BenchmarkFullPassAfterClose(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("ballots=%d", n), func(b *testing.B) {
			cb := closeBoardOf(b, n)
			for b.Loop() {
				rep, err := election.Verify(context.Background(), electiontest.Seq(cb.record), election.VerifyOptions{})
				if err != nil || !rep.OK() {
					b.Fatal(err, rep.Failures)
				}
			}
		})
	}
}
