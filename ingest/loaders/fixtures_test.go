package loaders

import (
	"archive/zip"
	"bytes"
	"fmt"
	"strings"
	"time"
)

// The fixtures are written by these functions (go test -run TestGolden
// -update) and committed under testdata/fixtures.

// pdfObjects writes a PDF whose objects are objs (numbered from 1) with a
// correct xref table and the given extra trailer entries.
func pdfObjects(objs []string, trailerExtra string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xE2\xE3\xCF\xD3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, trailerExtra, xref)
	return b.Bytes()
}

func pdfStream(content string) string {
	return fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content)
}

// pdfDoc is a PDF with one page per content stream and a title.
func pdfDoc(title string, contents ...string) []byte {
	objs := []string{"<< /Type /Catalog /Pages 2 0 R >>", "", "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"}
	kids := make([]string, 0, len(contents))
	for _, c := range contents {
		page := len(objs) + 1
		objs = append(objs,
			fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>", page+1),
			pdfStream(c))
		kids = append(kids, fmt.Sprintf("%d 0 R", page))
	}
	objs[1] = fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(contents))
	extra := ""
	if title != "" {
		objs = append(objs, fmt.Sprintf("<< /Title (%s) >>", title))
		extra = fmt.Sprintf(" /Info %d 0 R", len(objs))
	}
	return pdfObjects(objs, extra)
}

func pdfText(lines ...string) string {
	var b strings.Builder
	b.WriteString("BT /F1 12 Tf 72 720 Td 14 TL\n")
	for _, l := range lines {
		fmt.Fprintf(&b, "(%s) Tj T*\n", l)
	}
	b.WriteString("ET")
	return b.String()
}

func fixturePDF() []byte {
	return pdfDoc("Quarterly Report",
		pdfText("Revenue grew in the first quarter.", "Costs were flat."),
		pdfText("The second page lists the risks."))
}

func fixtureImagePDF() []byte {
	return pdfDoc("", "q 100 0 0 100 72 600 cm 0.5 g 0 0 1 1 re f Q")
}

func fixtureEncryptedPDF() []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
		pdfStream("BT (secret) Tj ET"),
		"<< /Filter /Standard /V 1 /R 2 /Length 40 /P -44 " +
			"/O <0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef> " +
			"/U <fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210> >>",
	}
	return pdfObjects(objs, " /Encrypt 5 0 R /ID [<00112233445566778899aabbccddeeff> <00112233445566778899aabbccddeeff>]")
}

var fixedTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// zipFiles writes a zip of name/content pairs, deflated.
func zipFiles(pairs ...string) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for i := 0; i+1 < len(pairs); i += 2 {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: pairs[i], Method: zip.Deflate, Modified: fixedTime})
		if err != nil {
			panic(err)
		}
		if _, err := w.Write([]byte(pairs[i+1])); err != nil {
			panic(err)
		}
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return b.Bytes()
}

const wordNS = `xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"`

func docxPara(style, text string) string {
	p := "<w:p>"
	if style != "" {
		p += `<w:pPr><w:pStyle w:val="` + style + `"/></w:pPr>`
	}
	return p + "<w:r><w:t>" + text + "</w:t></w:r></w:p>"
}

func docxWith(body string) []byte {
	return zipFiles(
		"[Content_Types].xml", `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>`,
		"word/document.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document `+wordNS+`><w:body>`+body+`</w:body></w:document>`,
		"docProps/core.xml", `<?xml version="1.0"?><cp:coreProperties xmlns:cp="x" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Core Title</dc:title></cp:coreProperties>`,
	)
}

func fixtureDOCX() []byte {
	return docxWith(
		docxPara("Title", "Onboarding Guide") +
			docxPara("", "Welcome to the team &amp; company.") +
			docxPara("Heading1", "Accounts") +
			docxPara("", "Ask IT for a laptop.") +
			docxPara("Heading2", "Email") +
			"<w:p><w:r><w:t>Use the</w:t></w:r><w:r><w:t xml:space=\"preserve\"> web client.</w:t></w:r></w:p>" +
			"<w:tbl><w:tr><w:tc>" + docxPara("", "Tool") + "</w:tc><w:tc>" + docxPara("", "Owner") + "</w:tc></w:tr>" +
			"<w:tr><w:tc>" + docxPara("", "Chat") + "</w:tc><w:tc>" + docxPara("", "IT") + "</w:tc></w:tr></w:tbl>")
}

// fixtures are the golden inputs, by file name.
var fixtures = map[string]func() []byte{
	"notes.txt": func() []byte {
		return []byte("Meeting notes\r\n\r\nThe team agreed to ship on Friday.\r\nNext review in two weeks.\r\n")
	},
	"latin1.txt": func() []byte { return []byte("Caf\xe9 cr\xe8me br\xfbl\xe9e \x80 5\n") },
	"utf16.txt": func() []byte {
		s := "Grüße aus Köln\n"
		b := []byte{0xFF, 0xFE}
		for _, r := range s {
			b = append(b, byte(r), byte(r>>8))
		}
		return b
	},
	"guide.md": func() []byte {
		return []byte("---\ntitle: ignored\n---\n# Install Guide\n\nIntro text.\n\n## Linux\n\nRun `make`.\n\n```sh\n# not a heading\nmake install\n```\n\n### Debian\n\nUse apt.\n\nWindows\n-------\n\nUse the installer.\n")
	},
	"page.html": func() []byte {
		return []byte(`<!DOCTYPE html><html><head><title>Product Page</title><style>body{color:red}</style>
<script>var x = "hidden";</script></head><body>
<header><nav><a href="/">Home</a> <a href="/about">About</a></nav></header>
<main><article><h1>Widget</h1><p>The <b>widget</b> is   useful.</p>
<h2>Specs</h2><table><tr><th>Size</th><th>Weight</th></tr><tr><td>10 cm</td><td>1 kg</td></tr></table>
<div hidden>secret</div><noscript>enable js</noscript><template><p>tpl</p></template>
<svg><text>svg text</text></svg></article></main>
<aside>Related links</aside><footer>Copyright 2024</footer></body></html>`)
	},
	"report.pdf": fixturePDF,
	"guide.docx": fixtureDOCX,
	"people.csv": func() []byte {
		return []byte("name,role,city\nAda,engineer,London\nLinus,maintainer,Portland\n\"Grace, Rear Admiral\",officer,\"New York\"\n")
	},
	"data.tsv": func() []byte { return []byte("id\tvalue\n1\tone\n2\ttwo\n") },
	"config.json": func() []byte {
		return []byte(`{"title":"Service config","server":{"port":8080,"tls":true},"tags":["a","b"],"owner":null}`)
	},
	"events.jsonl": func() []byte {
		return []byte("{\"id\":1,\"msg\":\"started\"}\n{\"id\":2,\"msg\":\"stopped\",\"meta\":{\"code\":0}}\n")
	},
}
