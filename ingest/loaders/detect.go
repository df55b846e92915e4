package loaders

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"path"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/ragway/ragway/ingest"
)

// sniffBytes is how much of a text file the detectors look at.
const sniffBytes = 64 << 10

// extTypes maps file extensions to the type they hint at.
var extTypes = map[string]ingest.Type{
	".txt": ingest.TypeText, ".text": ingest.TypeText, ".log": ingest.TypeText,
	".md": ingest.TypeMarkdown, ".markdown": ingest.TypeMarkdown, ".mdx": ingest.TypeMarkdown,
	".html": ingest.TypeHTML, ".htm": ingest.TypeHTML, ".xhtml": ingest.TypeHTML,
	".pdf":  ingest.TypePDF,
	".docx": ingest.TypeDOCX,
	".csv":  ingest.TypeCSV, ".tsv": ingest.TypeCSV,
	".json":  ingest.TypeJSON,
	".jsonl": ingest.TypeJSONL, ".ndjson": ingest.TypeJSONL,
}

// binaryMagic are formats recognised only to be refused clearly.
var binaryMagic = []struct {
	magic []byte
	name  string
}{
	{[]byte("\x89PNG"), "PNG image"},
	{[]byte("\xFF\xD8\xFF"), "JPEG image"},
	{[]byte("GIF8"), "GIF image"},
	{[]byte("\x1F\x8B"), "gzip archive"},
	{[]byte("7z\xBC\xAF"), "7z archive"},
	{[]byte("Rar!"), "RAR archive"},
	{[]byte("\xD0\xCF\x11\xE0"), "legacy Office document (.doc, .xls)"},
	{[]byte("\x7FELF"), "executable"},
	{[]byte("MZ"), "executable"},
}

// Detect returns the type of data, judged from its content; the extension
// of filename only settles what content leaves open (plain text, Markdown or
// CSV, JSON or JSONL). An empty file, binary data or an unsupported format
// is an *ingest.DocumentError.
func Detect(data []byte, filename string) (ingest.Type, error) {
	if len(data) == 0 {
		return "", ingest.Invalid(ingest.CodeEmpty, "file is empty")
	}
	hint := extTypes[strings.ToLower(path.Ext(strings.ReplaceAll(filename, "\\", "/")))]
	head := data[:min(len(data), 1024)]
	if bytes.Contains(head, []byte("%PDF-")) {
		return ingest.TypePDF, nil
	}
	if bytes.HasPrefix(data, []byte("PK\x03\x04")) || bytes.HasPrefix(data, []byte("PK\x05\x06")) {
		return detectZip(data)
	}
	for _, m := range binaryMagic {
		if bytes.HasPrefix(data, m.magic) {
			return "", ingest.Invalid(ingest.CodeUnsupported, "unsupported file type: %s", m.name)
		}
	}
	sample := sniffSample(data)
	text, err := decodeText(sample)
	if err != nil {
		if hint != "" {
			return "", ingest.Invalid(ingest.CodeInvalid,
				"file is named %s but its content is not text (binary data or an unknown encoding)", path.Base(filename))
		}
		return "", ingest.Invalid(ingest.CodeUnsupported, "unsupported file type: binary data")
	}
	return detectText(data, text, len(sample) < len(data), hint), nil
}

// sniffSample is a prefix of data that ends at a line end (or at least at
// a UTF-8 character boundary) when data is longer than sniffBytes.
func sniffSample(data []byte) []byte {
	if len(data) <= sniffBytes {
		return data
	}
	s := data[:sniffBytes]
	if i := bytes.LastIndexByte(s, '\n'); i > sniffBytes/2 {
		return s[:i+1]
	}
	for k := 0; k < 4 && len(s) > k; k++ {
		if utf8.Valid(s[:len(s)-k]) {
			return s[:len(s)-k]
		}
	}
	return s
}

func detectZip(data []byte) (ingest.Type, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", ingest.Invalid(ingest.CodeInvalid, "file is a damaged zip archive")
	}
	for i, f := range zr.File {
		if i >= DefaultMaxArchiveEntries {
			break
		}
		if f.Name == "word/document.xml" {
			return ingest.TypeDOCX, nil
		}
	}
	return "", ingest.Invalid(ingest.CodeUnsupported, "unsupported file type: a zip archive that is not a DOCX document")
}

// detectText chooses among the text formats. text is the decoded sample;
// cut says the sample is a prefix of data.
func detectText(data []byte, text string, cut bool, hint ingest.Type) ingest.Type {
	trimmed := strings.TrimSpace(text)
	if looksHTML(trimmed) {
		return ingest.TypeHTML
	}
	if t, ok := detectJSON(data, trimmed, cut, hint); ok {
		return t
	}
	switch hint {
	case ingest.TypeCSV:
		if looksCSV(text, 2) {
			return ingest.TypeCSV
		}
		return ingest.TypeText
	case ingest.TypeMarkdown:
		return ingest.TypeMarkdown
	case ingest.TypeText:
		return ingest.TypeText
	case ingest.TypeHTML:
		if strings.HasPrefix(trimmed, "<") {
			return ingest.TypeHTML
		}
	}
	if looksMarkdown(text) {
		return ingest.TypeMarkdown
	}
	if looksCSV(text, 3) {
		return ingest.TypeCSV
	}
	return ingest.TypeText
}

var htmlStart = regexp.MustCompile(`(?is)^(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>]|head[\s>]|body[\s>])`)

func looksHTML(s string) bool {
	return htmlStart.MatchString(s[:min(len(s), 4096)])
}

// detectJSON recognises a JSON document or JSON Lines. A prefix sample that
// is not known to be complete is judged by its lines.
func detectJSON(data []byte, trimmed string, cut bool, hint ingest.Type) (ingest.Type, bool) {
	if trimmed == "" || (trimmed[0] != '{' && trimmed[0] != '[') {
		return "", false
	}
	if !cut && json.Valid([]byte(trimmed)) {
		if hint == ingest.TypeJSONL {
			return ingest.TypeJSONL, true
		}
		return ingest.TypeJSON, true
	}
	if cut && hint == ingest.TypeJSON {
		return ingest.TypeJSON, true
	}
	// JSON Lines: every complete line of the sample is a JSON value.
	sc := bufio.NewScanner(strings.NewReader(trimmed))
	sc.Buffer(make([]byte, 0, 4096), sniffBytes+1)
	lines, good := 0, 0
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" {
			continue
		}
		lines++
		if json.Valid([]byte(l)) {
			good++
		}
	}
	switch {
	case lines >= 2 && (good == lines || (cut && good == lines-1 && good >= 1)):
		return ingest.TypeJSONL, true
	case cut && json.Valid(bytes.TrimSpace(data)):
		return ingest.TypeJSON, true
	case hint == ingest.TypeJSON || hint == ingest.TypeJSONL:
		// Named JSON and shaped like it: the loader reports where it breaks.
		return hint, true
	}
	return "", false
}

var mdSignals = []*regexp.Regexp{
	regexp.MustCompile(`(?m)^#{1,6}[ \t]+\S`),
	regexp.MustCompile("(?m)^(```|~~~)"),
	regexp.MustCompile(`(?m)^[ \t]*[-*+][ \t]+\S`),
	regexp.MustCompile(`(?m)^[ \t]*\d+\.[ \t]+\S`),
	regexp.MustCompile(`\[[^\]\n]+\]\([^)\s]+\)`),
	regexp.MustCompile(`(?m)^>[ \t]?\S`),
	regexp.MustCompile(`(?m)^\|?[ \t]*:?-{3,}:?[ \t]*\|`),
	regexp.MustCompile(`(?m)^\S.*\n(=+|-+)[ \t]*$`),
	regexp.MustCompile(`(\*\*|__)\S[^\n]*?\S(\*\*|__)`),
}

// looksMarkdown reports a heading or fenced code, or two kinds of Markdown
// syntax.
func looksMarkdown(s string) bool {
	s = s[:min(len(s), sniffBytes)]
	n := 0
	for i, re := range mdSignals {
		if re.MatchString(s) {
			if i < 2 {
				return true
			}
			n++
		}
	}
	return n >= 2
}

// csvDelimiters are tried in order.
var csvDelimiters = []rune{',', '\t', ';', '|'}

// looksCSV reports whether the sample parses as at least minRows records
// of the same number (two or more) of fields with one of the delimiters.
func looksCSV(s string, minRows int) bool {
	_, ok := csvDelimiter(s, minRows)
	return ok
}

func csvDelimiter(s string, minRows int) (rune, bool) {
	s = s[:min(len(s), sniffBytes)]
	for _, d := range csvDelimiters {
		if consistentCSV(s, d, minRows) {
			return d, true
		}
	}
	return 0, false
}

func consistentCSV(s string, d rune, minRows int) bool {
	r := csv.NewReader(strings.NewReader(s))
	r.Comma = d
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	r.ReuseRecord = true
	fields, rows := 0, 0
	for rows < 100 {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// A sample cut mid-record may end badly.
			break
		}
		if rows == 0 {
			fields = len(rec)
		} else if len(rec) != fields {
			return false
		}
		rows++
	}
	return fields >= 2 && rows >= minRows
}
