package bench

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestScanFrames(t *testing.T) {
	const chunk = `{"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}]}`
	tests := []struct {
		name string
		in   string
		want Frames
	}{
		{
			name: "clean stream",
			in:   "data: " + chunk + "\n\ndata: " + chunk + "\n\ndata: [DONE]\n\n",
			want: Frames{Streams: 1, Events: 3, Payloads: 3},
		},
		{
			name: "crlf and no space after colon",
			in:   "data:" + chunk + "\r\n\r\ndata: [DONE]\r\n\r\n",
			want: Frames{Streams: 1, Events: 2, Payloads: 2},
		},
		{
			name: "comments and keep-alives are not frames",
			in:   ": ping\n\ndata: " + chunk + "\n\n: ping\n\ndata: [DONE]\n\n",
			want: Frames{Streams: 1, Events: 2, Payloads: 2},
		},
		{
			name: "two data lines in one event are merged",
			in:   "data: " + chunk + "\ndata: " + chunk + "\n\ndata: [DONE]\n\n",
			want: Frames{Streams: 1, Events: 2, Payloads: 3, Merged: 1},
		},
		{
			name: "two JSON values on one line are merged",
			in:   "data: " + chunk + chunk + "\n\ndata: [DONE]\n\n",
			want: Frames{Streams: 1, Events: 2, Payloads: 3, Merged: 1},
		},
		{
			name: "corrupt payload",
			in:   "data: {\"id\":\n\ndata: [DONE]\n\n",
			want: Frames{Streams: 1, Events: 2, Payloads: 2, Corrupt: 1},
		},
		{
			name: "error event",
			in:   "data: " + chunk + "\n\nevent: error\ndata: {\"error\":{\"message\":\"x\"}}\n\n",
			want: Frames{Streams: 1, Events: 2, Payloads: 2, ErrorEvents: 1, Unterminated: 1},
		},
		{
			name: "cut short without a final blank line",
			in:   "data: " + chunk + "\n\ndata: " + chunk,
			want: Frames{Streams: 1, Events: 2, Payloads: 2, Unterminated: 1},
		},
		{
			name: "empty",
			in:   "",
			want: Frames{Streams: 1, Unterminated: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ScanFrames(strings.NewReader(tt.in))
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestScanFramesLongLine(t *testing.T) {
	long := `{"content":"` + strings.Repeat("a", 40<<10) + `"}`
	got, err := ScanFrames(strings.NewReader("data: " + long + "\n\ndata: [DONE]\n\n"))
	require.NoError(t, err)
	require.Equal(t, Frames{Streams: 1, Events: 2, Payloads: 2}, got)

	_, err = ScanFrames(strings.NewReader("data: " + strings.Repeat("a", maxLine+1) + "\n\n"))
	require.Error(t, err)
}

func FuzzScanFrames(f *testing.F) {
	f.Add("data: {\"a\":1}\n\ndata: [DONE]\n\n")
	f.Add("data: {}{}\ndata: [1]\n\nevent: error\n\n")
	f.Add(": c\r\n\r\ndata:x\n")
	f.Add("data: " + strings.Repeat("{}", 2000) + "\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ScanFrames(strings.NewReader(in))
		if err != nil {
			return
		}
		require.Equal(t, 1, got.Streams)
		require.LessOrEqual(t, got.Merged, got.Events)
		require.GreaterOrEqual(t, got.Payloads, got.Events)
		require.LessOrEqual(t, got.Payloads-got.Events, maxValuesPerLine*strings.Count(in, "data:"))
	})
}
