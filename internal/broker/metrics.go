package broker

import "github.com/prometheus/client_golang/prometheus"

// metrics are the broker's Prometheus metrics.
type metrics struct {
	producedBytes   prometheus.Counter
	producedRecords prometheus.Counter
	produceErrors   prometheus.Counter
	fetchedBytes    prometheus.Counter
}

// newMetrics registers the broker's metrics with reg; with a nil reg they
// count but are not exported.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		producedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_produced_bytes_total", Help: "Record batch bytes appended by produce requests.",
		}),
		producedRecords: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_produced_records_total", Help: "Records appended by produce requests.",
		}),
		produceErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_produce_partition_errors_total", Help: "Partitions of produce requests answered with an error.",
		}),
		fetchedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_fetched_bytes_total", Help: "Record bytes returned by fetch requests.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.producedBytes, m.producedRecords, m.produceErrors, m.fetchedBytes)
	}
	return m
}
