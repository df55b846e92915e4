package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func goodReport() *Report {
	us := time.Microsecond
	return &Report{
		Options:     DefaultOptions,
		PinningText: "gateway pinned to CPU 0",
		LoadAverage: 0.1,
		Direct: Side{
			Latency: Summary{N: 1000, P50: 40 * us, P99: 80 * us},
			RPS:     20000,
			TTFT:    Summary{N: 300, P50: 50 * us, P99: 100 * us},
			Frames:  Frames{Streams: 300, Events: 4200, Payloads: 4200},
		},
		Gateway: Side{
			Latency: Summary{N: 1000, P50: 100 * us, P99: 200 * us},
			RPS:     12000,
			TTFT:    Summary{N: 300, P50: 120 * us, P99: 250 * us},
			Frames:  Frames{Streams: 300, Events: 4200, Payloads: 4200},
		},
		Overhead:        Summary{N: 1000, P50: 30 * us, P99: 60 * us},
		FramesPerStream: 14,
		PeakRSS:         30_000_000,
	}
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name   string
		change func(r *Report)
		// fail is the index of the one target expected to fail, -1 none.
		fail int
	}{
		{"all pass", func(*Report) {}, -1},
		{"added p99 at the limit passes", func(r *Report) { r.Gateway.Latency.P99 = r.Direct.Latency.P99 + MaxAddedP99 }, -1},
		{"added p99 over the limit", func(r *Report) { r.Gateway.Latency.P99 = r.Direct.Latency.P99 + MaxAddedP99 + 1 }, 0},
		{"throughput too low", func(r *Report) { r.Gateway.RPS = 9999 }, 1},
		{"no direct throughput", func(r *Report) { r.Direct.RPS = 0 }, 1},
		{"added ttft over the limit", func(r *Report) { r.Gateway.TTFT.P99 = r.Direct.TTFT.P99 + MaxAddedTTFTP99 + 1 }, 2},
		{"lost frame", func(r *Report) { r.Gateway.Frames.Payloads-- }, 3},
		{"extra frame", func(r *Report) { r.Gateway.Frames.Payloads++ }, 3},
		{"merged frame", func(r *Report) { r.Gateway.Frames.Merged = 1 }, 3},
		{"error event", func(r *Report) { r.Gateway.Frames.ErrorEvents = 1 }, 3},
		{"unterminated stream", func(r *Report) { r.Gateway.Frames.Unterminated = 1 }, 3},
		{"rss over the limit", func(r *Report) { r.PeakRSS = MaxPeakRSS + 1 }, 4},
		{"rss unknown", func(r *Report) { r.PeakRSS = 0 }, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := goodReport()
			tt.change(r)
			r.Evaluate()
			require.Len(t, r.Targets, 5)
			for i, target := range r.Targets {
				require.Equal(t, i != tt.fail, target.Pass, "target %q", target.Name)
			}
			require.Equal(t, tt.fail < 0, r.Pass)
		})
	}
}

func TestEvaluateFigures(t *testing.T) {
	r := goodReport()
	r.Gateway.Frames.Payloads = 4190
	r.Evaluate()
	require.Equal(t, 120*time.Microsecond, r.AddedP99)
	require.Equal(t, 60*time.Microsecond, r.AddedP50)
	require.Equal(t, 150*time.Microsecond, r.AddedTTFTP99)
	require.InDelta(t, 0.6, r.ThroughputRatio, 1e-9)
	require.Equal(t, 4200, r.FramesSent)
	require.Equal(t, 10, r.FramesLost)
	require.Equal(t, "lost 10, merged 0", r.Targets[3].Measured)
}

func TestWriteTable(t *testing.T) {
	r := goodReport()
	r.PeakRSS = 70_000_000
	r.Evaluate()
	var buf bytes.Buffer
	require.NoError(t, r.WriteTable(&buf))
	out := buf.String()
	for _, want := range []string{
		"pinning: gateway pinned to CPU 0",
		"machine: load average 0.10 before the run\n",
		"latency p99, c=1",
		"80.0 µs", "200.0 µs", "2.50×", "+120.0 µs",
		"requests/s, c=32", "20000", "12000", "0.60×",
		"TTFT p99", "+150.0 µs",
		"4200/4200",
		"70.0 MB",
		"30.0 µs / 60.0 µs",
	} {
		require.Contains(t, out, want)
	}
	lines := strings.Split(out, "\n")
	result := func(prefix string) string {
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return strings.Fields(l)[len(strings.Fields(l))-1]
			}
		}
		return ""
	}
	require.Equal(t, "PASS", result("added p99 latency at c=1"))
	require.Equal(t, "PASS", result("throughput at c=32 vs direct"))
	require.Equal(t, "PASS", result("lost or merged SSE frames"))
	require.Equal(t, "FAIL", result("gateway peak RSS"))
}

func TestWriteTableBusyMachine(t *testing.T) {
	r := goodReport()
	r.LoadAverage = 3.5
	r.Evaluate()
	var buf bytes.Buffer
	require.NoError(t, r.WriteTable(&buf))
	require.Contains(t, buf.String(), "load average 3.50 before the run (busy:")
}

func TestWriteJSON(t *testing.T) {
	r := goodReport()
	r.Evaluate()
	var buf bytes.Buffer
	require.NoError(t, r.WriteJSON(&buf))
	var back Report
	require.NoError(t, json.Unmarshal(buf.Bytes(), &back))
	require.Equal(t, r.AddedP99, back.AddedP99)
	require.Equal(t, r.Targets, back.Targets)
	require.True(t, back.Pass)
}

func TestParseStatusField(t *testing.T) {
	status := []byte("Name:\tragway\nVmPeak:\t  812345 kB\nVmHWM:\t   23456 kB\nCpus_allowed_list:\t0\n")
	v, err := parseStatusField(status, "VmHWM")
	require.NoError(t, err)
	require.Equal(t, "23456 kB", v)
	v, err = parseStatusField(status, "Cpus_allowed_list")
	require.NoError(t, err)
	require.Equal(t, "0", v)
	_, err = parseStatusField(status, "VmRSS")
	require.Error(t, err)

	rss, err := peakRSS(0)
	require.NoError(t, err)
	require.Positive(t, rss)
}

func TestOptionsValidate(t *testing.T) {
	require.NoError(t, DefaultOptions.Validate())
	require.Equal(t, DefaultOptions, Options{}.WithDefaults())
	bad := Options{Requests: -1, Warmup: -1, Duration: time.Hour, Concurrency: 5000, Streams: maxStreams + 1, Chunks: -3}
	err := bad.Validate()
	require.Error(t, err)
	for _, field := range []string{"requests", "warmup", "duration", "concurrency", "streams", "chunks"} {
		require.Contains(t, err.Error(), field)
	}
}

func TestParsePinCPUs(t *testing.T) {
	for _, bad := range []string{"", "0", "a,b", "0,-1", "1,2000", "0,1,2", ",1"} {
		_, _, err := parsePinCPUs(bad)
		require.Error(t, err, bad)
	}
	p := Pinning{Pinned: true, GatewayCPU: 2, LoadCPU: 5}
	g, l, err := parsePinCPUs(p.Env())
	require.NoError(t, err)
	require.Equal(t, 2, g)
	require.Equal(t, 5, l)
	require.Contains(t, PlanPinning(true).String(), "unpinned (disabled by --no-pin)")
}

func TestTailBuffer(t *testing.T) {
	tb := &tailBuffer{max: 8}
	require.Equal(t, "(none)", tb.String())
	_, _ = tb.Write([]byte("hello "))
	_, _ = tb.Write([]byte("world!"))
	require.Equal(t, "o world!", tb.String())
}
