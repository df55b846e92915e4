package gateway

// observer feeds backend events (retries, breaker changes, embedding batches)
// into the gateway's metrics.
type observer struct{ m *metrics }

func (o observer) Retried(target string, _ int, _ error) {
	o.m.retries.WithLabelValues(target).Inc()
}

func (o observer) BreakerChanged(target string, _, to string) {
	v := 0.0
	switch to {
	case "half-open":
		v = 1
	case "open":
		v = 2
	}
	o.m.breakerState.WithLabelValues(target).Set(v)
}

func (o observer) Batched(inputs, _ int) {
	o.m.batchInputs.Observe(float64(inputs))
}
