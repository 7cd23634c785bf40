package election_test

import (
	"context"
	"sync"
	"testing"
	"time"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
)

// tenOptions is the benchmark ballot: 10 options in 2 contests, a 1-of-5 and an approval of up to 3 of 5.
func tenOptions() *recordv1.Manifest {
	m := electiontest.Mixed()
	m.Contests = m.Contests[:2]
	m.Contests[1].Options = m.Contests[1].Options[:5]
	return m
}

func benchElection(b *testing.B, voters int) *electiontest.Election {
	e, err := electiontest.Setup(electiontest.Config{Trustees: 3, Threshold: 2, Voters: voters, Manifest: tenOptions(), Seed: 3})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

func BenchmarkEncryptBallot10(b *testing.B) {
	e := benchElection(b, 1)
	ch := election.RandomChoices(e.Manifest, nil)
	pk := e.State.Key().PublicKey
	var size int
	for b.Loop() {
		pb, err := election.EncryptBallot(e.Manifest, pk, e.Credentials[0], ch, nil)
		if err != nil {
			b.Fatal(err)
		}
		size = len(pb.DraftCast().Payload)
	}
	b.ReportMetric(float64(size), "bytes/ballot")
}

// demoShape is the ballot of `recount demo` (cmd/recount/demo.go): an exactly-1 of 4, an approval of 0 to 3 of 6,
// and a score 0..5 of 4 options with a total of at most 12 (electiontest.Mixed with a mayor of 4 candidates).
func demoShape() *recordv1.Manifest {
	m := electiontest.Mixed()
	m.Contests[0].Options = m.Contests[0].Options[:4]
	return m
}

// BenchmarkVerifyBallotDemo is one core's check of the demo's ballot (signature, shape, 17 range proofs over 62
// values): the figure that crypto/zkp's BenchmarkDemoBallotVerify/form=single models.
func BenchmarkVerifyBallotDemo(b *testing.B) {
	e, err := electiontest.Setup(electiontest.Config{Trustees: 3, Threshold: 2, Voters: 1, Manifest: demoShape(), Seed: 3})
	if err != nil {
		b.Fatal(err)
	}
	pb, err := election.EncryptBallot(e.Manifest, e.State.Key().PublicKey, e.Credentials[0], election.RandomChoices(e.Manifest, nil), nil)
	if err != nil {
		b.Fatal(err)
	}
	en := election.Entry{Index: 1000, Kind: election.KindBallot, Payload: pb.DraftCast().Payload}
	cpu0 := processCPUTime()
	for b.Loop() {
		if bc := election.CheckBallot(e.Manifest, e.State.Key().PublicKey, en); bc.Err() != nil {
			b.Fatal(bc.Err())
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ballots/s")
	// The process's CPU time: with -cpu 1, the check's own work, steadier than the wall clock on a shared machine.
	if cpu := processCPUTime() - cpu0; cpu0 != 0 && cpu > 0 {
		b.ReportMetric(float64(b.N)/(float64(cpu)/1e9), "ballots/cpu-s")
	}
	b.ReportMetric(float64(len(en.Payload)), "bytes/ballot")
}

func BenchmarkVerifyBallot10(b *testing.B) {
	e := benchElection(b, 1)
	pb, err := election.EncryptBallot(e.Manifest, e.State.Key().PublicKey, e.Credentials[0], election.RandomChoices(e.Manifest, nil), nil)
	if err != nil {
		b.Fatal(err)
	}
	en := election.Entry{Index: 1000, Kind: election.KindBallot, Payload: pb.DraftCast().Payload}
	for b.Loop() {
		if bc := election.CheckBallot(e.Manifest, e.State.Key().PublicKey, en); bc.Err() != nil {
			b.Fatal(bc.Err())
		}
	}
}

// BenchmarkParseBallot10 measures decoding a ten-option ballot with its shape checks (and, since issue 9, the
// check that it is in its canonical encoding), without the signature and proofs.
func BenchmarkParseBallot10(b *testing.B) {
	e := benchElection(b, 1)
	pb, err := election.EncryptBallot(e.Manifest, e.State.Key().PublicKey, e.Credentials[0], election.RandomChoices(e.Manifest, nil), nil)
	if err != nil {
		b.Fatal(err)
	}
	payload := pb.DraftCast().Payload
	for b.Loop() {
		if _, err := election.ParseBallot(e.Manifest, payload); err != nil {
			b.Fatal(err)
		}
	}
}

var (
	tallyOnce sync.Once
	tallyElec *electiontest.Election
)

// BenchmarkTally10000 measures the tally of 10,000 ten-option ballots: replaying the cast ballots (their proofs
// already checked, as on the node), the encrypted tally, two partial decryptions with proofs, and the result
// with its discrete logarithms.
func BenchmarkTally10000(b *testing.B) {
	tallyOnce.Do(func() {
		e := benchElection(b, 10000)
		if err := e.Voting(); err != nil {
			b.Fatal(err)
		}
		if _, err := e.Append(mustClose(e.State)); err != nil {
			b.Fatal(err)
		}
		tallyElec = e
	})
	e := tallyElec
	for b.Loop() {
		s := election.NewState()
		for _, en := range e.Entries {
			var errs []*election.CheckError
			if en.Kind == election.KindBallot && s.Key() != nil {
				bc := election.CheckBallotShapeOnly(s.Manifest(), en)
				errs = s.ApplyChecked(en, bc)
			} else {
				errs = s.Apply(en)
			}
			if len(errs) > 0 {
				b.Fatal(errs[0])
			}
		}
		apply := func(d election.Draft, err error) {
			if err != nil {
				b.Fatal(err)
			}
			if errs := s.Apply(election.Entry{Index: s.Size(), Kind: d.Kind, Payload: d.Payload}); len(errs) > 0 {
				b.Fatal(errs[0])
			}
		}
		apply(s.DraftEncryptedTally())
		for _, t := range e.Trustees[:2] {
			apply(t.Trustee.DraftPartialDecryption(t.Share, s, nil))
		}
		apply(s.DraftResult())
	}
	b.ReportMetric(10000, "ballots")
}

func mustClose(s *election.State) election.Draft {
	d, err := s.DraftClose(time.Now().Unix())
	if err != nil {
		panic(err)
	}
	return d
}

// BenchmarkVerifyRecord measures the whole verifier on a 200-voter record, on all cores.
func BenchmarkVerifyRecord(b *testing.B) {
	e, err := electiontest.Run(electiontest.Config{Trustees: 3, Threshold: 2, Voters: 200, Revotes: 20, Challenges: 10, Manifest: tenOptions(), Seed: 5})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		rep, err := election.Verify(context.Background(), electiontest.Seq(e.Entries), election.VerifyOptions{})
		if err != nil || !rep.OK() {
			b.Fatal(err, rep.Failures)
		}
	}
	b.ReportMetric(float64(230*b.N)/b.Elapsed().Seconds(), "ballots/s")
}
