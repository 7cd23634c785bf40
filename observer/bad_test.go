package observer

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/ledger/tlog"
)

// badBoard serves a board, but streams or signs garbage past the entries it streamed first.
type badBoard struct {
	recountv1.BoardServiceServer
	skip, alter, forge, huge bool
}

func (b *badBoard) StreamEntries(req *recountv1.StreamEntriesRequest, stream grpc.ServerStreamingServer[recountv1.StreamEntriesResponse]) error {
	return b.BoardServiceServer.StreamEntries(req, badStream{ServerStreamingServer: stream, b: b})
}

type badStream struct {
	grpc.ServerStreamingServer[recountv1.StreamEntriesResponse]
	b *badBoard
}

func (s badStream) Send(m *recountv1.StreamEntriesResponse) error {
	switch {
	case s.b.skip:
		m.Index++
	case s.b.alter:
		m.Payload = append(bytes.Clone(m.Payload), 'x')
	case s.b.huge:
		m.Payload = make([]byte, tlog.MaxPayloadSize+1)
	}
	return s.ServerStreamingServer.Send(m)
}

func (b *badBoard) GetCheckpoint(ctx context.Context, req *recountv1.GetCheckpointRequest) (*recountv1.GetCheckpointResponse, error) {
	resp, err := b.BoardServiceServer.GetCheckpoint(ctx, req)
	if err == nil && b.forge {
		resp.Checkpoint = bytes.Clone(resp.Checkpoint)
		resp.Checkpoint[len(resp.Checkpoint)-4] ^= 1
	}
	return resp, err
}

func jsonOf(a *Alarm) ([]byte, error) { return json.Marshal(a) }

// counterValue returns the value of a counter of reg with the given label value ("" for none).
func counterValue(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" || (len(m.GetLabel()) > 0 && m.GetLabel()[0].GetValue() == label) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// metricValue returns the value of an unlabelled counter or gauge of reg.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
