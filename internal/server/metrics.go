package server

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts connections and bytes. A nil *Metrics counts nothing.
type Metrics struct {
	open     prometheus.Gauge
	accepted prometheus.Counter
	bytesIn  prometheus.Counter
	bytesOut prometheus.Counter
}

// NewMetrics registers the server's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_connections_open", Help: "Kafka protocol connections open now.",
		}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_connections_accepted_total", Help: "Kafka protocol connections accepted.",
		}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_network_received_bytes_total", Help: "Request bytes received, frames included.",
		}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_network_sent_bytes_total", Help: "Response bytes sent, frames included.",
		}),
	}
	reg.MustRegister(m.open, m.accepted, m.bytesIn, m.bytesOut)
	return m
}

func (m *Metrics) connOpened() {
	if m != nil {
		m.open.Inc()
		m.accepted.Inc()
	}
}

func (m *Metrics) connClosed() {
	if m != nil {
		m.open.Dec()
	}
}

func (m *Metrics) read(n int) {
	if m != nil {
		m.bytesIn.Add(float64(n))
	}
}

func (m *Metrics) wrote(n int) {
	if m != nil {
		m.bytesOut.Add(float64(n))
	}
}
