package server

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Requests counts and times the requests served, by API and outcome; it is
// the wire.Dispatcher's Observer.
type Requests struct {
	total    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewRequests registers the request metrics with reg.
func NewRequests(reg prometheus.Registerer) *Requests {
	r := &Requests{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_requests_total", Help: "Kafka requests served, by API, version and whether the connection was closed over it.",
		}, []string{"api", "version", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "strata_request_duration_seconds",
			Help:    "Time from a request's decoding to its response, by API (long-polling fetches included).",
			Buckets: prometheus.ExponentialBuckets(50e-6, 4, 10),
		}, []string{"api"}),
	}
	reg.MustRegister(r.total, r.duration)
	return r
}

// Observe records one request.
func (r *Requests) Observe(key, version int16, took time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "closed"
	}
	name := kmsg.NameForKey(key)
	r.total.WithLabelValues(name, strconv.Itoa(int(version)), outcome).Inc()
	r.duration.WithLabelValues(name).Observe(took.Seconds())
}
