package bench

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// storeMetric is the gateway's histogram of its calls to the shared limit
// store, one round trip each (see gateway/metrics.go).
const storeMetric = "ragway_limit_store_seconds"

// StoreCalls is what a gateway's own histogram says of its Redis calls on
// the request path (the acquire script) over a stretch of requests.
type StoreCalls struct {
	// PerRequest is the number of calls per request sent.
	PerRequest float64 `json:"per_request"`
	// Mean is exact (the histogram's sum over its count); P50 is read off
	// the buckets by linear interpolation, as histogram_quantile does.
	Mean time.Duration `json:"mean_ns"`
	P50  time.Duration `json:"p50_ns"`
}

// storeSnapshot is the acquire histogram at one moment.
type storeSnapshot struct {
	count   uint64
	sum     float64
	buckets map[float64]uint64 // upper bound -> cumulative count
}

// scrapeStoreCalls reads the acquire histogram from the gateway at url.
func scrapeStoreCalls(ctx context.Context, url string) (storeSnapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return storeSnapshot{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return storeSnapshot{}, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return storeSnapshot{}, fmt.Errorf("scrape metrics: status %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return storeSnapshot{}, fmt.Errorf("parse metrics: %w", err)
	}
	snap := storeSnapshot{buckets: map[float64]uint64{}}
	fam := fams[storeMetric]
	if fam == nil {
		return snap, nil
	}
	for _, m := range fam.GetMetric() {
		if !hasLabel(m, "op", "acquire") || m.GetHistogram() == nil {
			continue
		}
		h := m.GetHistogram()
		snap.count, snap.sum = h.GetSampleCount(), h.GetSampleSum()
		for _, b := range h.GetBucket() {
			snap.buckets[b.GetUpperBound()] = b.GetCumulativeCount()
		}
	}
	return snap, nil
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// storeCallsBetween summarises the calls made between two snapshots over
// requests requests.
func storeCallsBetween(before, after storeSnapshot, requests int) StoreCalls {
	n := after.count - before.count
	if n == 0 || requests == 0 {
		return StoreCalls{}
	}
	sc := StoreCalls{
		PerRequest: float64(n) / float64(requests),
		Mean:       time.Duration((after.sum - before.sum) / float64(n) * float64(time.Second)),
	}
	bounds := make([]float64, 0, len(after.buckets))
	for b := range after.buckets {
		bounds = append(bounds, b)
	}
	slices.Sort(bounds)
	half := float64(n) / 2
	prevBound, prevCount := 0.0, 0.0
	for _, b := range bounds {
		c := float64(after.buckets[b] - before.buckets[b])
		if c >= half {
			if math.IsInf(b, 1) {
				sc.P50 = time.Duration(prevBound * float64(time.Second))
				break
			}
			frac := (half - prevCount) / math.Max(c-prevCount, 1)
			sc.P50 = time.Duration((prevBound + frac*(b-prevBound)) * float64(time.Second))
			break
		}
		prevBound, prevCount = b, c
	}
	return sc
}
