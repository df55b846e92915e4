package resilience

import (
	"testing"
	"time"

	"github.com/ragway/ragway/llm"
)

func BenchmarkGenerate(b *testing.B) {
	for _, tt := range []struct {
		name    string
		breaker Breaker
	}{
		{name: "no breaker"},
		{name: "breaker", breaker: Breaker{Failures: 5, OpenFor: time.Second, HalfOpenRequests: 1}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			f := &fakeBackend{resp: &llm.Response{}}
			tg := New(f, "t", DefaultRetry, tt.breaker, nil)
			req := &llm.Request{}
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tg.Generate(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
