package loaders

import (
	"context"
	"errors"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/ingest"
)

// fuzzLimits keep each input cheap.
var fuzzLimits = Limits{
	MaxFileBytes: 1 << 20, MaxTextBytes: 1 << 20, Timeout: 3 * time.Second,
	MaxUncompressedBytes: 4 << 20, MaxPages: 100,
}

// checkResult asserts the contract of a load: a document of valid,
// non-empty sections within the text limit, or a DocumentError.
func checkResult(t *testing.T, doc *ingest.Document, err error) {
	t.Helper()
	if err != nil {
		var de *ingest.DocumentError
		require.True(t, errors.As(err, &de), "error is not a DocumentError: %v", err)
		require.NotEmpty(t, de.Code)
		require.NotEmpty(t, de.Message)
		require.NotContains(t, de.Message, "took longer than", "a parser did not end in time")
		require.Nil(t, doc)
		return
	}
	require.NotNil(t, doc)
	require.NotEmpty(t, doc.Sections)
	require.True(t, utf8.ValidString(doc.Title))
	total := 0
	for _, s := range doc.Sections {
		require.NotEmpty(t, s.Text)
		require.True(t, utf8.ValidString(s.Text))
		require.True(t, utf8.ValidString(s.Heading))
		require.GreaterOrEqual(t, s.Page, 0)
		total += len(s.Text)
	}
	require.LessOrEqual(t, int64(total), fuzzLimits.MaxTextBytes)
}

func seedFixtures(f *testing.F) {
	for _, name := range fixtureNames() {
		f.Add(fixtures[name]())
	}
	f.Add([]byte{})
	f.Add(fixtureEncryptedPDF())
	f.Add(fixtureImagePDF())
	f.Add([]byte("\xFE\xFF\x00h\x00i"))
}

func fuzzLoader(f *testing.F, l ingest.Loader) {
	seedFixtures(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := l.Load(context.Background(), data)
		checkResult(t, doc, err)
	})
}

func FuzzDetect(f *testing.F) {
	seedFixtures(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range []string{"", "a.txt", "a.json", "a.csv", "a.md", "a.jsonl"} {
			typ, err := Detect(data, name)
			if err != nil {
				var de *ingest.DocumentError
				require.ErrorAs(t, err, &de)
				continue
			}
			_, err = For(typ, fuzzLimits)
			require.NoError(t, err)
		}
	})
}

func FuzzLoad(f *testing.F) {
	seedFixtures(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Load(context.Background(), data, "", fuzzLimits)
		checkResult(t, doc, err)
	})
}

func FuzzText(f *testing.F)     { fuzzLoader(f, &Text{Limits: fuzzLimits}) }
func FuzzMarkdown(f *testing.F) { fuzzLoader(f, &Markdown{Limits: fuzzLimits}) }
func FuzzHTML(f *testing.F)     { fuzzLoader(f, &HTML{Limits: fuzzLimits}) }
func FuzzPDF(f *testing.F)      { fuzzLoader(f, &PDF{Limits: fuzzLimits}) }
func FuzzDOCX(f *testing.F)     { fuzzLoader(f, &DOCX{Limits: fuzzLimits}) }
func FuzzCSV(f *testing.F)      { fuzzLoader(f, &CSV{Limits: fuzzLimits}) }
func FuzzJSON(f *testing.F)     { fuzzLoader(f, &JSON{Limits: fuzzLimits}) }
func FuzzJSONL(f *testing.F)    { fuzzLoader(f, &JSON{Limits: fuzzLimits, Lines: true}) }
