package node

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/recount-vote/recount/election"
)

// Metrics are the node's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	ballots       *prometheus.CounterVec
	refusals      *prometheus.CounterVec
	appendLatency prometheus.Histogram
	appendErrors  prometheus.Counter
	size          prometheus.Gauge
	starting      prometheus.Gauge
	boardFailed   prometheus.Gauge
	witnessedSize prometheus.Gauge
	witnessedTime prometheus.Gauge
	unwitnessed   prometheus.Gauge
}

// NewMetrics makes the node's metrics and registers them with reg:
//
//	recount_ballots_accepted_total{kind="ballot"|"spoiled"}   ballots appended
//	recount_ballots_refused_total{reason="BALLOT_PROOFS"|...} ballots refused, by ErrorInfo reason
//	recount_append_seconds                                    time from an append's start until it is on disk
//	recount_append_errors_total                               appends that failed
//	recount_board_entries                                     entries on the board (applied; during the replay, so far)
//	recount_node_starting                                     1 while the node opens and replays its board
//	recount_board_failed                                      1 once an append failed: every change is refused
//	recount_witnessed_checkpoint_size                         the size of the latest checkpoint that met the witness policy
//	recount_witnessed_checkpoint_timestamp_seconds            when it was stored (Unix seconds; 0 if none)
//	recount_checkpoint_unwitnessed_seconds                    how long the board's latest checkpoint has gone
//	                                                          unwitnessed (0 when witnessed)
//
// The witness gauges stay 0 without a witness policy.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		ballots: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recount_ballots_accepted_total",
			Help: "Ballots appended to the board, by kind (ballot: cast; spoiled: challenged)."}, []string{"kind"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recount_ballots_refused_total",
			Help: "Ballots refused, by reason (the failed check, or the phase)."}, []string{"reason"}),
		appendLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "recount_append_seconds",
			Help:    "Time from the start of an append until it is durable (group commit and fsync included).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		appendErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "recount_append_errors_total",
			Help: "Appends that failed. A node alone then refuses every change until restarted (recount_board_failed); a cluster member counts also appends cut short by a change of leader, which break nothing."}),
		size: prometheus.NewGauge(prometheus.GaugeOpts{Name: "recount_board_entries",
			Help: "Entries on the board, applied to the election state."}),
		starting: prometheus.NewGauge(prometheus.GaugeOpts{Name: "recount_node_starting",
			Help: "1 while the node opens and replays its board (health NOT_SERVING; changes refused), else 0."}),
		boardFailed: prometheus.NewGauge(prometheus.GaugeOpts{Name: "recount_board_failed",
			Help: "1 once an append failed: the node refuses every change until restarted (health NOT_SERVING), else 0."}),
		witnessedSize: prometheus.NewGauge(prometheus.GaugeOpts{Name: "recount_witnessed_checkpoint_size",
			Help: "The size of the latest checkpoint whose cosignatures meet the witness policy (compare recount_board_entries)."}),
		witnessedTime: prometheus.NewGauge(prometheus.GaugeOpts{Name: "recount_witnessed_checkpoint_timestamp_seconds",
			Help: "When the latest witnessed checkpoint was stored, in Unix seconds (0 if none since start)."}),
		unwitnessed: prometheus.NewGauge(prometheus.GaugeOpts{Name: "recount_checkpoint_unwitnessed_seconds",
			Help: "How long the board's latest checkpoint has gone without the witness policy's quorum of cosignatures (0 when witnessed)."}),
	}
	m.ballots.WithLabelValues("ballot")
	m.ballots.WithLabelValues("spoiled")
	reg.MustRegister(m.ballots, m.refusals, m.appendLatency, m.appendErrors, m.size, m.starting, m.boardFailed, m.witnessedSize, m.witnessedTime, m.unwitnessed)
	return m
}

func (m *Metrics) accepted(kind election.Kind) {
	if m == nil {
		return
	}
	if kind == election.KindSpoiledBallot {
		m.ballots.WithLabelValues("spoiled").Inc()
	} else {
		m.ballots.WithLabelValues("ballot").Inc()
	}
}

func (m *Metrics) refused(reason string) {
	if m == nil {
		return
	}
	if reason == "" {
		reason = "OTHER"
	}
	m.refusals.WithLabelValues(reason).Inc()
}

func (m *Metrics) appended(d time.Duration, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.appendErrors.Inc()
		return
	}
	m.appendLatency.Observe(d.Seconds())
}

func (m *Metrics) boardSize(n uint64) {
	if m == nil {
		return
	}
	m.size.Set(float64(n))
}

func (m *Metrics) setStarting(starting bool) {
	if m == nil {
		return
	}
	if starting {
		m.starting.Set(1)
	} else {
		m.starting.Set(0)
	}
}

func (m *Metrics) setBoardFailed() {
	if m == nil {
		return
	}
	m.boardFailed.Set(1)
}

func (m *Metrics) witnessing(size uint64, at time.Time, behind time.Duration) {
	if m == nil {
		return
	}
	m.witnessedSize.Set(float64(size))
	if !at.IsZero() {
		m.witnessedTime.Set(float64(at.Unix()))
	}
	m.unwitnessed.Set(behind.Seconds())
}
