package observer

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the observer's Prometheus metrics, in their own registry (Observer.Registry).
type metrics struct {
	reg            *prometheus.Registry
	mirrored       prometheus.Gauge
	verified       prometheus.Gauge
	nodeSize       prometheus.Gauge
	ballotsChecked prometheus.Counter
	checksFailed   prometheus.Counter
	alarms         prometheus.Counter
	refused        *prometheus.CounterVec
	o              *Observer
}

func newMetrics(o *Observer) *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), o: o,
		mirrored: prometheus.NewGauge(prometheus.GaugeOpts{Name: "recount_observer_mirrored_entries",
			Help: "Entries in the observer's mirror, each under a checkpoint the node signed."}),
		verified: prometheus.NewGauge(prometheus.GaugeOpts{Name: "recount_observer_verified_entries",
			Help: "Entries replayed through every check."}),
		nodeSize: prometheus.NewGauge(prometheus.GaugeOpts{Name: "recount_observer_node_entries",
			Help: "Size of the latest checkpoint the node showed."}),
		ballotsChecked: prometheus.NewCounter(prometheus.CounterOpts{Name: "recount_observer_ballots_checked_total",
			Help: "Ballots replayed (its rate is ballots checked per second)."}),
		checksFailed: prometheus.NewCounter(prometheus.CounterOpts{Name: "recount_observer_checks_failed_total",
			Help: "Failed checks found on the board."}),
		alarms: prometheus.NewCounter(prometheus.CounterOpts{Name: "recount_observer_alarms_total",
			Help: "Times the node showed a history that does not extend the mirrored one (see the alarm files)."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "recount_observer_refused_total",
			Help: "Answers of the node refused, by what was wrong: stream (an entry out of order or too large), checkpoint (a bad signature), entries (not those signed), pending (too many entries unsigned)."},
			[]string{"what"}),
	}
	lagEntries := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "recount_observer_lag_entries",
		Help: "Entries the verified state is behind the node's latest checkpoint."},
		func() float64 { return float64(o.Status().LagEntries) })
	lagSeconds := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "recount_observer_lag_seconds",
		Help: "Age of the oldest checkpoint the node showed that the verified state has not reached (0 when caught up)."},
		func() float64 { return o.Status().Lag.Seconds() })
	m.reg.MustRegister(m.mirrored, m.verified, m.nodeSize, m.ballotsChecked, m.checksFailed, m.alarms, m.refused, lagEntries, lagSeconds)
	return m
}

// update sets the gauges from the observer's state.
func (m *metrics) update() {
	o := m.o
	m.mirrored.Set(float64(o.mirror.Size()))
	o.mu.RLock()
	m.verified.Set(float64(o.verified))
	m.nodeSize.Set(float64(o.nodeCP.Size))
	o.mu.RUnlock()
}

// Registry returns the registry of the observer's metrics, for an HTTP handler (promhttp.HandlerFor).
func (o *Observer) Registry() *prometheus.Registry { return o.met.reg }
