package loaders

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/ingest"
)

// bombDOCX is a DOCX whose document.xml inflates to size bytes of spaces.
func bombDOCX(t testing.TB, size int) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "word/document.xml", Method: zip.Deflate, Modified: fixedTime})
	require.NoError(t, err)
	_, err = w.Write([]byte(`<w:document ` + wordNS + `><w:body><w:p><w:r><w:t>`))
	require.NoError(t, err)
	chunk := bytes.Repeat([]byte(" "), 1<<20)
	for written := 0; written < size; written += len(chunk) {
		_, err = w.Write(chunk)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return b.Bytes()
}

func manyEntriesZip(n int) []byte {
	pairs := []string{"word/document.xml", `<w:document ` + wordNS + `><w:body>` + docxPara("", "x") + `</w:body></w:document>`}
	for i := range n {
		pairs = append(pairs, fmt.Sprintf("word/media/%d.bin", i), "x")
	}
	return zipFiles(pairs...)
}

func TestValidation(t *testing.T) {
	pdf := fixturePDF()
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(i*7919 + i/13)
	}
	tests := []struct {
		name     string
		data     []byte
		filename string
		limits   Limits
		code     string
		message  string
	}{
		{"empty file", nil, "a.txt", Limits{}, ingest.CodeEmpty, "file is empty"},
		{"whitespace only", []byte(" \n\t\n"), "a.txt", Limits{}, ingest.CodeEmpty, "no extractable text"},
		{"over the size limit", bytes.Repeat([]byte("a"), 2048), "a.txt", Limits{MaxFileBytes: 1024}, ingest.CodeTooLarge,
			"file is 2 KiB, over the limit of 1 KiB"},
		{"binary garbage named .txt", garbage, "notes.txt", Limits{}, ingest.CodeInvalid,
			"file is named notes.txt but its content is not text (binary data or an unknown encoding)"},
		{"binary garbage without a name", garbage, "blob", Limits{}, ingest.CodeUnsupported, "unsupported file type: binary data"},
		{"png image", append([]byte("\x89PNG\r\n\x1a\n"), garbage...), "a.png", Limits{}, ingest.CodeUnsupported, "unsupported file type: PNG image"},
		{"zip that is not docx", zipFiles("a.txt", "hello"), "a.zip", Limits{}, ingest.CodeUnsupported,
			"unsupported file type: a zip archive that is not a DOCX document"},
		{"truncated pdf", pdf[:len(pdf)/2], "a.pdf", Limits{}, ingest.CodeInvalid, "malformed or truncated PDF"},
		{"encrypted pdf", fixtureEncryptedPDF(), "a.pdf", Limits{}, ingest.CodeUnsupported, "encrypted PDF is not supported"},
		{"image-only pdf", fixtureImagePDF(), "scan.pdf", Limits{}, ingest.CodeEmpty, "no text layer (scanned or image-only PDF)"},
		{"zip bomb docx by ratio", bombDOCX(t, 8<<20), "bomb.docx", Limits{}, ingest.CodeInvalid,
			"decompression bomb: DOCX entry word/document.xml expands beyond the limits (256 MiB, ratio 200:1)"},
		{"zip bomb docx by size", bombDOCX(t, 8<<20), "bomb.docx", Limits{MaxUncompressedBytes: 4 << 20, MaxCompressionRatio: 1 << 30},
			ingest.CodeInvalid, "decompression bomb: DOCX entry word/document.xml expands beyond the limits (4 MiB, ratio 1073741824:1)"},
		{"docx with too many entries", manyEntriesZip(20), "a.docx", Limits{MaxArchiveEntries: 10}, ingest.CodeInvalid,
			"decompression bomb: DOCX has 21 entries, over the limit of 10"},
		{"json nested too deep", []byte(strings.Repeat("[", 100) + strings.Repeat("]", 100)), "a.json", Limits{}, ingest.CodeInvalid,
			"JSON is nested deeper than 64 levels"},
		{"text over the text limit", bytes.Repeat([]byte("word "), 400), "a.txt", Limits{MaxTextBytes: 1000}, ingest.CodeTooLarge,
			"extracted text exceeds the limit of 1000 bytes"},
		{"mostly control bytes", bytes.Repeat([]byte("a\x01\x02\x03"), 100), "a.txt", Limits{}, ingest.CodeInvalid,
			"file is named a.txt but its content is not text (binary data or an unknown encoding)"},
		{"malformed jsonl", []byte("{\"a\":1}\n{\"a\":2}\n{oops\n"), "a.jsonl", Limits{}, ingest.CodeInvalid,
			"JSON Lines record on line 3 is not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Load(context.Background(), tt.data, tt.filename, tt.limits)
			require.Nil(t, doc)
			var de *ingest.DocumentError
			require.ErrorAs(t, err, &de)
			require.ErrorIs(t, err, ingest.ErrInvalidDocument)
			require.Equal(t, tt.code, de.Code)
			require.Equal(t, tt.message, de.Message)
		})
	}
}

func TestTimeout(t *testing.T) {
	data := []byte("[" + strings.Repeat(`{"a":[1,2,3]},`, 200000) + "1]")
	_, err := (&JSON{Limits: Limits{Timeout: time.Nanosecond}}).Load(context.Background(), data)
	var de *ingest.DocumentError
	require.ErrorAs(t, err, &de)
	require.Equal(t, ingest.CodeInvalid, de.Code)
	require.Equal(t, "JSON took longer than 1ns to parse", de.Message)
}

func TestCancelledIsNotADocumentError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Load(ctx, []byte("hello"), "a.txt", Limits{})
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, errors.Is(err, ingest.ErrInvalidDocument))
}

func TestPDFVersion2Header(t *testing.T) {
	data := fixturePDF()
	copy(data, "%PDF-2.0")
	doc, err := Load(context.Background(), data, "", Limits{})
	require.NoError(t, err)
	require.Len(t, doc.Sections, 2)
}

func TestPDFCyclicPageTree(t *testing.T) {
	data := pdfObjects([]string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 3 0 R /Contents 4 0 R >>",
		pdfStream("BT (loop) Tj ET"),
	}, "")
	_, err := Load(context.Background(), data, "a.pdf", Limits{})
	var de *ingest.DocumentError
	require.ErrorAs(t, err, &de)
	require.Equal(t, ingest.CodeInvalid, de.Code)
	require.Contains(t, de.Message, "malformed or truncated PDF")
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name, filename string
		data           string
		want           ingest.Type
	}{
		{"pdf by magic, any name", "x.txt", string(fixturePDF()), ingest.TypePDF},
		{"docx by content", "x.bin", string(fixtureDOCX()), ingest.TypeDOCX},
		{"html by markup", "x.txt", "  <!doctype html><p>hi</p>", ingest.TypeHTML},
		{"html with comment first", "", "<!-- c --><html><body>x</body></html>", ingest.TypeHTML},
		{"json object", "x.txt", `{"a": 1}`, ingest.TypeJSON},
		{"json array named jsonl", "x.jsonl", `[1,2]`, ingest.TypeJSONL},
		{"jsonl", "", "{\"a\":1}\n{\"a\":2}\n", ingest.TypeJSONL},
		{"csv by delimiters", "", "a,b,c\n1,2,3\n4,5,6\n", ingest.TypeCSV},
		{"tsv", "x.tsv", "a\tb\n1\t2\n", ingest.TypeCSV},
		{"csv extension but prose", "x.csv", "just one line of prose", ingest.TypeText},
		{"markdown by heading", "", "# Title\n\nText.", ingest.TypeMarkdown},
		{"markdown by extension", "x.md", "plain words", ingest.TypeMarkdown},
		{"text beats weak markdown when named .txt", "x.txt", "# Title\n", ingest.TypeText},
		{"prose with commas is text", "", "Hello, world.\nSee you, later.\n", ingest.TypeText},
		{"plain text", "", "just words", ingest.TypeText},
		{"utf-16 text", "", "\xFF\xFEh\x00i\x00", ingest.TypeText},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Detect([]byte(tt.data), tt.filename)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestForUnknownType(t *testing.T) {
	_, err := For("spreadsheet", Limits{})
	var de *ingest.DocumentError
	require.ErrorAs(t, err, &de)
	require.Equal(t, ingest.CodeUnsupported, de.Code)
}
