package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Targets from the project's speed goals.
const (
	MaxAddedP99        = 150 * time.Microsecond
	MinThroughputRatio = 0.5
	MaxAddedTTFTP99    = 200 * time.Microsecond
	MaxPeakRSS         = 60_000_000 // bytes
)

// busyLoad is the load average above which a run is flagged as skewed.
const busyLoad = 0.5

// Side is what one path (direct, through the gateway or through the
// reference proxy) measured.
type Side struct {
	// Latency is at concurrency 1.
	Latency Summary `json:"latency_c1"`
	// RPS is requests per second at the configured concurrency.
	RPS      float64 `json:"rps"`
	Requests int64   `json:"throughput_requests"`
	Errors   int64   `json:"errors"`
	TTFT     Summary `json:"ttft"`
	// TTFTFirst is the time to first token of the stream that opens each
	// turn of the stream phase, left out of TTFT: it finds the CPU caches
	// filled by the other paths' processes.
	TTFTFirst Summary `json:"ttft_first_of_turn"`
	// Frames counts every stream's frames, the first of each turn too.
	Frames  Frames  `json:"frames"`
	Seconds float64 `json:"throughput_seconds"`
}

// Target is one speed goal and whether the run met it.
type Target struct {
	Name     string `json:"name"`
	Limit    string `json:"limit"`
	Measured string `json:"measured"`
	Pass     bool   `json:"pass"`
}

// Report is the result of a bench run.
type Report struct {
	Options Options `json:"options"`
	Pinning Pinning `json:"pinning"`
	// PinningText describes the pinning in words.
	PinningText string `json:"pinning_text"`
	// GatewayProcess says where the gateway ran.
	GatewayProcess string `json:"gateway_process"`
	// LoadAverage is the machine's 1-minute load average before the run
	// (-1 when unknown): other processes on the pinned CPUs skew every
	// figure.
	LoadAverage float64 `json:"load_average"`

	Direct  Side `json:"direct"`
	Gateway Side `json:"gateway"`
	// Reference is the reference proxy's side, measured in the same
	// turns; nil when there was none (ReferenceSkipped says why).
	Reference        *Side  `json:"reference,omitempty"`
	ReferenceName    string `json:"reference_name,omitempty"`
	ReferenceProcess string `json:"reference_process,omitempty"`
	ReferenceSkipped string `json:"reference_skipped,omitempty"`

	// Overhead is the gateway's X-Ragway-Overhead-Ms header at
	// concurrency 1.
	Overhead Summary `json:"overhead_header"`
	// FramesPerStream is how many frames the upstream sends per stream.
	FramesPerStream int `json:"frames_per_stream"`
	// FramesSent is how many frames the upstream sent through the gateway.
	FramesSent int `json:"frames_sent"`
	// FramesLost and FramesExtra compare what the client received through
	// the gateway with what the upstream sent.
	FramesLost  int `json:"frames_lost"`
	FramesExtra int `json:"frames_extra"`
	// PeakRSS is the gateway's peak resident set size in bytes.
	PeakRSS int64 `json:"gateway_peak_rss_bytes"`

	AddedP50        time.Duration `json:"added_p50_ns"`
	AddedP99        time.Duration `json:"added_p99_ns"`
	ThroughputRatio float64       `json:"throughput_ratio"`
	AddedTTFTP50    time.Duration `json:"added_ttft_p50_ns"`
	AddedTTFTP99    time.Duration `json:"added_ttft_p99_ns"`

	// ReferenceAdded is what the reference adds to direct, computed like
	// the gateway's figures above; VsReference sets the two side by side.
	// Both are nil without a reference.
	ReferenceAdded *Added       `json:"reference_added,omitempty"`
	VsReference    *VsReference `json:"gateway_vs_reference,omitempty"`

	// AuthLimits is what API-key auth and limits add, measured on
	// gateways of their own in the same run; nil when not measured.
	AuthLimits *AuthLimits `json:"auth_limits,omitempty"`

	Targets []Target `json:"targets"`
	// Pass is true when every target passed.
	Pass bool `json:"pass"`
}

// Evaluate computes the derived figures and the targets from the sides.
// The targets judge the gateway alone.
func (r *Report) Evaluate() {
	g := &r.Gateway
	a := compare(&r.Direct, g, r.FramesPerStream)
	r.AddedP50, r.AddedP99, r.ThroughputRatio = a.P50, a.P99, a.ThroughputRatio
	r.AddedTTFTP50, r.AddedTTFTP99 = a.TTFTP50, a.TTFTP99
	r.FramesSent, r.FramesLost, r.FramesExtra = a.FramesSent, a.FramesLost, a.FramesExtra
	r.evaluateReference(a)

	r.Targets = []Target{
		{Name: "added p99 latency at c=1", Limit: "≤ " + us(MaxAddedP99), Measured: signedUS(r.AddedP99),
			Pass: g.Latency.N > 0 && r.AddedP99 <= MaxAddedP99},
		{Name: fmt.Sprintf("throughput at c=%d vs direct", r.Options.Concurrency), Limit: fmt.Sprintf("≥ %.2f", MinThroughputRatio),
			Measured: fmt.Sprintf("%.2f", r.ThroughputRatio), Pass: r.ThroughputRatio >= MinThroughputRatio},
		{Name: "added TTFT p99", Limit: "≤ " + us(MaxAddedTTFTP99), Measured: signedUS(r.AddedTTFTP99),
			Pass: g.TTFT.N > 0 && r.AddedTTFTP99 <= MaxAddedTTFTP99},
		{Name: "lost or merged SSE frames", Limit: "0", Measured: a.framesText(g.Frames), Pass: a.FramesIntact},
		{Name: "gateway peak RSS", Limit: "≤ " + mb(MaxPeakRSS), Measured: mb(r.PeakRSS),
			Pass: r.PeakRSS > 0 && r.PeakRSS <= MaxPeakRSS},
	}
	if al := r.AuthLimits; al != nil {
		al.evaluate()
		r.Targets = append(r.Targets, Target{Name: "auth+limits (embedded) added own p99", Limit: "≤ " + us(MaxAuthAddedP99),
			Measured: signedUS(al.Embedded.AddedOwnP99), Pass: al.EmbeddedPass})
	}
	r.Pass = true
	for _, t := range r.Targets {
		r.Pass = r.Pass && t.Pass
	}
}

// WriteTable prints the report for people.
func (r *Report) WriteTable(w io.Writer) error {
	r.writeHeader(w)
	if err := r.writeSides(w); err != nil {
		return err
	}
	if r.AuthLimits != nil {
		if err := r.AuthLimits.writeTable(w); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tlimit\tmeasured\tresult\t")
	for _, t := range r.Targets {
		res := "PASS"
		if !t.Pass {
			res = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", t.Name, t.Limit, t.Measured, res)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return r.writeVsReference(w)
}

func (r *Report) writeHeader(w io.Writer) {
	o := r.Options
	through := "through the gateway"
	if r.Reference != nil {
		through = fmt.Sprintf("through the gateway and through %s (a plain reverse proxy, as a yardstick)", r.ReferenceName)
	}
	fmt.Fprintf(w, "ragway bench: the same chat request straight to the fake upstream (zero latency), %s, in turns\n", through)
	fmt.Fprintf(w, "pinning: %s\n", r.PinningText)
	fmt.Fprintf(w, "gateway: %s\n", r.GatewayProcess)
	if r.Reference != nil {
		fmt.Fprintf(w, "%-9s%s\n", r.ReferenceName+":", r.ReferenceProcess)
	} else if r.ReferenceSkipped != "" {
		fmt.Fprintf(w, "reference: none (%s)\n", r.ReferenceSkipped)
	}
	if r.LoadAverage >= 0 {
		fmt.Fprintf(w, "machine: load average %.2f before the run", r.LoadAverage)
		if r.LoadAverage > busyLoad {
			fmt.Fprint(w, " (busy: other processes share the CPUs, so the figures are skewed; rerun on a quiet machine)")
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "load:    %d requests at c=1 after %d warm-up; %s at c=%d; %d streams of %d chunks, "+
		"in turns of %d, each turn opened by one more stream kept out of TTFT\n\n",
		o.Requests, o.Warmup, o.Duration, o.Concurrency, o.Streams, o.Chunks, streamBlock)
}

// writeSides prints the figures of every path, with the reference's
// columns when there is one: its figure and what it adds to direct.
func (r *Report) writeSides(w io.Writer) error {
	d, g := &r.Direct, &r.Gateway
	n, na := &Side{}, &Added{}
	withRef := r.Reference != nil && r.ReferenceAdded != nil
	if withRef {
		n, na = r.Reference, r.ReferenceAdded
		fmt.Fprintf(w, "ratio and added: the gateway vs direct; %s vs direct: %s's added latency or throughput ratio\n",
			r.ReferenceName, r.ReferenceName)
	}
	// Numbers align right; the metric names are padded so they read
	// left-aligned.
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	const nameWidth = 30
	row := func(name, direct, gateway, ref, ratio, added, refAdded string) {
		cells := []string{direct, gateway}
		if withRef {
			cells = append(cells, ref)
		}
		cells = append(cells, ratio, added)
		if withRef {
			cells = append(cells, refAdded)
		}
		fmt.Fprintf(tw, "%-*s\t", nameWidth, name)
		for _, c := range cells {
			fmt.Fprint(tw, c, "\t")
		}
		fmt.Fprintln(tw)
	}
	row("metric", "direct", "gateway", r.ReferenceName, "ratio", "added", r.ReferenceName+" vs direct")
	row("latency p50, c=1", us(d.Latency.P50), us(g.Latency.P50), us(n.Latency.P50),
		times(ratioD(g.Latency.P50, d.Latency.P50)), signedUS(r.AddedP50), signedUS(na.P50))
	row("latency p99, c=1", us(d.Latency.P99), us(g.Latency.P99), us(n.Latency.P99),
		times(ratioD(g.Latency.P99, d.Latency.P99)), signedUS(r.AddedP99), signedUS(na.P99))
	row(fmt.Sprintf("requests/s, c=%d", r.Options.Concurrency), fmt.Sprintf("%.0f", d.RPS), fmt.Sprintf("%.0f", g.RPS),
		fmt.Sprintf("%.0f", n.RPS), times(r.ThroughputRatio), "", times(na.ThroughputRatio))
	row("TTFT p50", us(d.TTFT.P50), us(g.TTFT.P50), us(n.TTFT.P50),
		times(ratioD(g.TTFT.P50, d.TTFT.P50)), signedUS(r.AddedTTFTP50), signedUS(na.TTFTP50))
	row("TTFT p99", us(d.TTFT.P99), us(g.TTFT.P99), us(n.TTFT.P99),
		times(ratioD(g.TTFT.P99, d.TTFT.P99)), signedUS(r.AddedTTFTP99), signedUS(na.TTFTP99))
	row("TTFT p50, first of a turn", us(d.TTFTFirst.P50), us(g.TTFTFirst.P50), us(n.TTFTFirst.P50),
		times(ratioD(g.TTFTFirst.P50, d.TTFTFirst.P50)), signedUS(g.TTFTFirst.P50-d.TTFTFirst.P50),
		refAddedFirst(withRef, n, d))
	row("SSE frames received/sent", fmt.Sprintf("%d/%d", d.Frames.Payloads, r.FramesPerStream*d.Frames.Streams),
		fmt.Sprintf("%d/%d", g.Frames.Payloads, r.FramesSent), fmt.Sprintf("%d/%d", n.Frames.Payloads, na.FramesSent),
		"", fmt.Sprintf("lost %d, merged %d", r.FramesLost, g.Frames.Merged),
		fmt.Sprintf("lost %d, merged %d", na.FramesLost, n.Frames.Merged))
	row("peak RSS (VmHWM)", "-", mb(r.PeakRSS), "-", "", "", "")
	overhead := "absent"
	if r.Overhead.N > 0 {
		overhead = fmt.Sprintf("%s / %s", us(r.Overhead.P50), us(r.Overhead.P99))
	}
	row("X-Ragway-Overhead-Ms p50/p99", "-", overhead, "-", "", "", "")
	row("errors", fmt.Sprint(d.Errors), fmt.Sprint(g.Errors), fmt.Sprint(n.Errors), "", "", "")
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// refAddedFirst is what the reference adds to direct's first-of-turn TTFT
// p50, empty without a reference.
func refAddedFirst(withRef bool, n, d *Side) string {
	if !withRef {
		return ""
	}
	return signedUS(n.TTFTFirst.P50 - d.TTFTFirst.P50)
}

// WriteJSON prints the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

// loadAverage reads the 1-minute load average, -1 when unknown.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f, _, _ := strings.Cut(string(b), " ")
	v, err := strconv.ParseFloat(f, 64)
	if err != nil {
		return -1
	}
	return v
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func ratioD(a, b time.Duration) float64 { return ratio(float64(a), float64(b)) }

func times(f float64) string {
	if f == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", f)
}

func us(d time.Duration) string {
	return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
}

func signedUS(d time.Duration) string {
	return fmt.Sprintf("%+.1f µs", float64(d)/float64(time.Microsecond))
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }
