package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
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

// withReference adds a reference side to goodReport's: it adds +20 µs
// p50, +30 µs p99, +20 µs TTFT p50, +40 µs TTFT p99 and keeps 0.80 of
// direct's throughput.
func withReference(r *Report) *Report {
	us := time.Microsecond
	r.Reference = &Side{
		Latency: Summary{N: 1000, P50: 60 * us, P99: 110 * us},
		RPS:     16000,
		TTFT:    Summary{N: 300, P50: 70 * us, P99: 140 * us},
		Frames:  Frames{Streams: 300, Events: 4200, Payloads: 4200},
	}
	r.ReferenceName = "nginx"
	r.ReferenceProcess = "nginx/1.22.1, process 7, CPUs 0"
	return r
}

func TestEvaluateReference(t *testing.T) {
	tests := []struct {
		name   string
		change func(r *Report)
		void   string
	}{
		{"intact", func(*Report) {}, ""},
		{"lost frame", func(r *Report) { r.Reference.Frames.Payloads-- }, "lost 1, merged 0 of 4200 sent"},
		{"merged frame", func(r *Report) { r.Reference.Frames.Merged = 2 }, "lost 0, merged 2 of 4200 sent"},
		{"unterminated", func(r *Report) { r.Reference.Frames.Unterminated = 1 }, "unterminated 1"},
		{"no stream", func(r *Report) { r.Reference.Frames = Frames{} }, "lost 0, merged 0 of 0 sent"},
		{"error event", func(r *Report) { r.Reference.Frames.ErrorEvents = 3 }, "errors 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := withReference(goodReport())
			tt.change(r)
			r.Evaluate()
			require.True(t, r.Pass, "the reference does not judge the gateway")
			require.Len(t, r.Targets, 5)
			require.NotNil(t, r.ReferenceAdded)
			require.NotNil(t, r.VsReference)
			require.Equal(t, tt.void == "", r.ReferenceAdded.FramesIntact)
			if tt.void == "" {
				require.Empty(t, r.VsReference.Void)
				return
			}
			require.Contains(t, r.VsReference.Void, "nginx did not pass the SSE frames through intact")
			require.Contains(t, r.VsReference.Void, tt.void)
		})
	}
}

func TestEvaluateReferenceFigures(t *testing.T) {
	us := time.Microsecond
	r := withReference(goodReport())
	r.Evaluate()
	require.Equal(t, &Added{P50: 20 * us, P99: 30 * us, ThroughputRatio: 0.8, TTFTP50: 20 * us, TTFTP99: 40 * us,
		FramesSent: 4200, FramesIntact: true}, r.ReferenceAdded)
	v := r.VsReference
	require.InDelta(t, 3.0, v.AddedP50, 1e-9)      // +60 over +20
	require.InDelta(t, 4.0, v.AddedP99, 1e-9)      // +120 over +30
	require.InDelta(t, 3.5, v.AddedTTFTP50, 1e-9)  // +70 over +20
	require.InDelta(t, 3.75, v.AddedTTFTP99, 1e-9) // +150 over +40
	require.InDelta(t, 0.75, v.Throughput, 1e-9)   // 12000 over 16000
	// The gateway's own figures are those without a reference.
	plain := goodReport()
	plain.Evaluate()
	require.Equal(t, plain.AddedP99, r.AddedP99)
	require.Equal(t, plain.Targets, r.Targets)

	// A reference that adds nothing gives no ratio rather than a negative one.
	r.Reference.Latency.P99 = r.Direct.Latency.P99 - us
	r.Reference.TTFT.P99 = r.Direct.TTFT.P99
	r.Evaluate()
	require.Zero(t, r.VsReference.AddedP99)
	require.Zero(t, r.VsReference.AddedTTFTP99)

	r.Reference = nil
	r.Evaluate()
	require.Nil(t, r.ReferenceAdded)
	require.Nil(t, r.VsReference)
}

// fields joins the words of s with single spaces, so that tabwriter's
// padding does not matter.
func fields(s string) string { return strings.Join(strings.Fields(s), " ") }

func TestWriteTableReference(t *testing.T) {
	r := withReference(goodReport())
	r.Evaluate()
	var buf bytes.Buffer
	require.NoError(t, r.WriteTable(&buf))
	out := buf.String()
	for _, want := range []string{
		"through the gateway and through nginx (a plain reverse proxy, as a yardstick)",
		"nginx:   nginx/1.22.1, process 7, CPUs 0\n",
	} {
		require.Contains(t, out, want)
	}
	flat := fields(out)
	for _, want := range []string{
		"metric direct gateway nginx ratio added nginx vs direct",
		"latency p50, c=1 40.0 µs 100.0 µs 60.0 µs 2.50× +60.0 µs +20.0 µs",
		"latency p99, c=1 80.0 µs 200.0 µs 110.0 µs 2.50× +120.0 µs +30.0 µs",
		"requests/s, c=32 20000 12000 16000 0.60× 0.80×",
		"TTFT p99 100.0 µs 250.0 µs 140.0 µs 2.50× +150.0 µs +40.0 µs",
		"SSE frames received/sent 4200/4200 4200/4200 4200/4200 lost 0, merged 0 lost 0, merged 0",
		"errors 0 0 0",
		"beside nginx, measured in the same turns",
		"latency p99, c=1: gateway adds +120.0 µs where nginx adds +30.0 µs: 4.00×",
		"TTFT p99: gateway adds +150.0 µs where nginx adds +40.0 µs: 3.75×",
		"requests/s, c=32: gateway keeps 0.60× where nginx keeps 0.80×: 0.75× of nginx's",
	} {
		require.Contains(t, flat, want)
	}
	// The comparison comes after the targets.
	require.Less(t, strings.Index(out, "target "), strings.Index(out, "beside nginx"))
}

func TestWriteTableReferenceVoid(t *testing.T) {
	r := withReference(goodReport())
	r.Reference.Frames.Payloads = 4199
	r.Evaluate()
	var buf bytes.Buffer
	require.NoError(t, r.WriteTable(&buf))
	out := fields(buf.String())
	require.Contains(t, out, "4199/4200 lost 0, merged 0 lost 1, merged 0")
	require.Contains(t, out, "comparison void: nginx did not pass the SSE frames through intact (lost 1, merged 0 of 4200 sent)")
	require.NotContains(t, out, "where nginx adds")
}

func TestWriteTableNoReference(t *testing.T) {
	r := goodReport()
	r.ReferenceSkipped = "nginx not found in PATH or at /usr/sbin/nginx"
	r.Evaluate()
	var buf bytes.Buffer
	require.NoError(t, r.WriteTable(&buf))
	out := buf.String()
	require.Contains(t, out, "reference: none (nginx not found in PATH or at /usr/sbin/nginx)\n")
	header := ""
	for l := range strings.Lines(out) {
		if strings.HasPrefix(strings.TrimSpace(l), "metric ") {
			header = fields(l)
		}
	}
	require.Equal(t, "metric direct gateway ratio added", header)
	require.NotContains(t, out, "ratio and added: the gateway vs direct")
	require.NotContains(t, out, "beside ")
}

func TestWriteJSONReference(t *testing.T) {
	for _, ref := range []bool{false, true} {
		t.Run(fmt.Sprintf("reference %t", ref), func(t *testing.T) {
			r := goodReport()
			if ref {
				withReference(r)
			} else {
				r.ReferenceSkipped = "disabled by --reference none"
			}
			r.Evaluate()
			var buf bytes.Buffer
			require.NoError(t, r.WriteJSON(&buf))
			var raw map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(buf.Bytes(), &raw))
			for _, key := range []string{"reference", "reference_name", "reference_process", "reference_added", "gateway_vs_reference"} {
				_, ok := raw[key]
				require.Equal(t, ref, ok, key)
			}
			_, ok := raw["reference_skipped"]
			require.Equal(t, !ref, ok)
			var back Report
			require.NoError(t, json.Unmarshal(buf.Bytes(), &back))
			require.Equal(t, r.Reference, back.Reference)
			require.Equal(t, r.ReferenceAdded, back.ReferenceAdded)
			require.Equal(t, r.VsReference, back.VsReference)
			require.Equal(t, r.ReferenceSkipped, back.ReferenceSkipped)
		})
	}
}
