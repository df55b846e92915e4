package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Added is what one proxy (the gateway or the reference) adds to the
// direct path, measured in the same turns.
type Added struct {
	P50             time.Duration `json:"added_p50_ns"`
	P99             time.Duration `json:"added_p99_ns"`
	ThroughputRatio float64       `json:"throughput_ratio"`
	TTFTP50         time.Duration `json:"added_ttft_p50_ns"`
	TTFTP99         time.Duration `json:"added_ttft_p99_ns"`
	// FramesSent is how many frames the upstream sent through the proxy;
	// FramesLost and FramesExtra compare what the client received.
	FramesSent  int `json:"frames_sent"`
	FramesLost  int `json:"frames_lost"`
	FramesExtra int `json:"frames_extra"`
	// FramesIntact is true when every stream came through whole: no frame
	// lost, extra, merged or corrupt, no error event, every stream ended
	// with [DONE].
	FramesIntact bool `json:"frames_intact"`
}

// compare computes what s adds to direct d, with framesPerStream frames
// sent per stream.
func compare(d, s *Side, framesPerStream int) Added {
	a := Added{
		P50:             s.Latency.P50 - d.Latency.P50,
		P99:             s.Latency.P99 - d.Latency.P99,
		ThroughputRatio: ratio(s.RPS, d.RPS),
		TTFTP50:         s.TTFT.P50 - d.TTFT.P50,
		TTFTP99:         s.TTFT.P99 - d.TTFT.P99,
		FramesSent:      framesPerStream * s.Frames.Streams,
	}
	a.FramesLost = max(0, a.FramesSent-s.Frames.Payloads)
	a.FramesExtra = max(0, s.Frames.Payloads-a.FramesSent)
	f := s.Frames
	a.FramesIntact = a.FramesLost == 0 && a.FramesExtra == 0 && f.Merged == 0 && f.Corrupt == 0 &&
		f.ErrorEvents == 0 && f.Unterminated == 0 && f.Streams > 0
	return a
}

// framesText says what went wrong with the frames of s: "lost 0, merged
// 0" and, when there is any, extra, corrupt, error and unterminated counts.
func (a Added) framesText(f Frames) string {
	text := fmt.Sprintf("lost %d, merged %d", a.FramesLost, f.Merged)
	if extra := a.FramesExtra + f.Corrupt + f.ErrorEvents + f.Unterminated; extra > 0 {
		text += fmt.Sprintf(", extra %d, corrupt %d, errors %d, unterminated %d",
			a.FramesExtra, f.Corrupt, f.ErrorEvents, f.Unterminated)
	}
	return text
}

// VsReference sets what the gateway adds beside what the reference proxy
// adds, each figure the gateway's over the reference's (0 when the
// reference's is not above 0, where a ratio means nothing).
type VsReference struct {
	AddedP50     float64 `json:"added_p50_ratio"`
	AddedP99     float64 `json:"added_p99_ratio"`
	AddedTTFTP50 float64 `json:"added_ttft_p50_ratio"`
	AddedTTFTP99 float64 `json:"added_ttft_p99_ratio"`
	// Throughput is the gateway's requests per second over the
	// reference's.
	Throughput float64 `json:"throughput_ratio"`
	// Void says why the comparison does not hold (the reference did not
	// pass the SSE frames through intact); empty when it holds.
	Void string `json:"void,omitempty"`
}

// evaluateReference fills the reference's added figures and the
// comparison with the gateway's, or clears them without a reference.
func (r *Report) evaluateReference(gateway Added) {
	r.ReferenceAdded, r.VsReference = nil, nil
	if r.Reference == nil {
		return
	}
	ref := compare(&r.Direct, r.Reference, r.FramesPerStream)
	v := &VsReference{
		AddedP50:     addedRatio(gateway.P50, ref.P50),
		AddedP99:     addedRatio(gateway.P99, ref.P99),
		AddedTTFTP50: addedRatio(gateway.TTFTP50, ref.TTFTP50),
		AddedTTFTP99: addedRatio(gateway.TTFTP99, ref.TTFTP99),
		Throughput:   ratio(r.Gateway.RPS, r.Reference.RPS),
	}
	if !ref.FramesIntact {
		v.Void = fmt.Sprintf("%s did not pass the SSE frames through intact (%s of %d sent)",
			r.ReferenceName, ref.framesText(r.Reference.Frames), ref.FramesSent)
	}
	r.ReferenceAdded, r.VsReference = &ref, v
}

// addedRatio is g over ref, 0 when ref is not above 0.
func addedRatio(g, ref time.Duration) float64 {
	if ref <= 0 {
		return 0
	}
	return ratioD(g, ref)
}

// writeVsReference prints the gateway's added figures beside the
// reference's.
func (r *Report) writeVsReference(w io.Writer) error {
	v, ref, name := r.VsReference, r.ReferenceAdded, r.ReferenceName
	if v == nil || ref == nil {
		return nil
	}
	fmt.Fprintf(w, "\nbeside %s, measured in the same turns (the targets above judge the gateway alone):\n", name)
	if v.Void != "" {
		fmt.Fprintf(w, "  comparison void: %s\n", v.Void)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	added := func(what string, g, n time.Duration, x float64) {
		fmt.Fprintf(tw, "  %s:\tgateway adds\t%s\twhere %s adds\t%s:\t%s\n", what, signedUS(g), name, signedUS(n), times(x))
	}
	added("latency p50, c=1", r.AddedP50, ref.P50, v.AddedP50)
	added("latency p99, c=1", r.AddedP99, ref.P99, v.AddedP99)
	added("TTFT p50", r.AddedTTFTP50, ref.TTFTP50, v.AddedTTFTP50)
	added("TTFT p99", r.AddedTTFTP99, ref.TTFTP99, v.AddedTTFTP99)
	fmt.Fprintf(tw, "  requests/s, c=%d:\tgateway keeps\t%s\twhere %s keeps\t%s:\t%s of %s's\n", r.Options.Concurrency,
		times(r.ThroughputRatio), name, times(ref.ThroughputRatio), times(v.Throughput), name)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}
