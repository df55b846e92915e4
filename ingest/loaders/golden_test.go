package loaders

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ragway/ragway/ingest"
)

var update = flag.Bool("update", false, "rewrite testdata fixtures and golden files")

func TestMain(m *testing.M) {
	repanic = true
	os.Exit(m.Run())
}

func fixtureNames() []string {
	names := make([]string, 0, len(fixtures))
	for n := range fixtures {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func TestGolden(t *testing.T) {
	for _, name := range fixtureNames() {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", "fixtures", name)
			golden := filepath.Join("testdata", "golden", name+".json")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, fixtures[name](), 0o644))
			}
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			doc, err := Load(context.Background(), data, name, DefaultLimits())
			require.NoError(t, err)
			got, err := json.MarshalIndent(doc, "", "  ")
			require.NoError(t, err)
			got = append(got, '\n')
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
				require.NoError(t, os.WriteFile(golden, got, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			require.JSONEq(t, string(want), string(got))
		})
	}
}

// TestGoldenContent checks what the golden files must say, so a wrong
// golden file cannot pass unnoticed.
func TestGoldenContent(t *testing.T) {
	load := func(t *testing.T, name string) *ingest.Document {
		t.Helper()
		data, err := os.ReadFile(filepath.Join("testdata", "fixtures", name))
		require.NoError(t, err)
		doc, err := Load(context.Background(), data, name, DefaultLimits())
		require.NoError(t, err)
		return doc
	}
	t.Run("text", func(t *testing.T) {
		d := load(t, "notes.txt")
		require.Equal(t, ingest.TypeText, d.Type)
		require.Equal(t, "Meeting notes\n\nThe team agreed to ship on Friday.\nNext review in two weeks.", d.Sections[0].Text)
		require.Equal(t, "Café crème brûlée € 5", load(t, "latin1.txt").Sections[0].Text)
		require.Equal(t, "Grüße aus Köln", load(t, "utf16.txt").Sections[0].Text)
	})
	t.Run("markdown", func(t *testing.T) {
		d := load(t, "guide.md")
		require.Equal(t, "Install Guide", d.Title)
		heads := []string{}
		for _, s := range d.Sections {
			heads = append(heads, s.Heading)
		}
		require.Equal(t, []string{"Install Guide", "Install Guide > Linux", "Install Guide > Linux > Debian", "Install Guide > Windows"}, heads)
		require.Contains(t, d.Sections[1].Text, "# not a heading")
	})
	t.Run("html", func(t *testing.T) {
		d := load(t, "page.html")
		require.Equal(t, "Product Page", d.Title)
		all := ""
		for _, s := range d.Sections {
			all += s.Heading + "|" + s.Text + "\n"
		}
		require.Contains(t, all, "Widget|The widget is useful.")
		require.Contains(t, all, "Widget > Specs|Size\tWeight\n10 cm\t1 kg")
		for _, hidden := range []string{"hidden", "Home", "Related", "Copyright", "secret", "enable js", "tpl", "svg text", "color"} {
			require.NotContains(t, all, hidden)
		}
	})
	t.Run("pdf", func(t *testing.T) {
		d := load(t, "report.pdf")
		require.Equal(t, "Quarterly Report", d.Title)
		require.Len(t, d.Sections, 2)
		require.Equal(t, 1, d.Sections[0].Page)
		require.Contains(t, d.Sections[0].Text, "Revenue grew in the first quarter.")
		require.Equal(t, 2, d.Sections[1].Page)
		require.Contains(t, d.Sections[1].Text, "risks")
	})
	t.Run("docx", func(t *testing.T) {
		d := load(t, "guide.docx")
		require.Equal(t, "Onboarding Guide", d.Title)
		require.Equal(t, "Welcome to the team & company.", d.Sections[0].Text)
		require.Equal(t, "Onboarding Guide", d.Sections[0].Heading)
		require.Equal(t, "Accounts > Email", d.Sections[2].Heading)
		require.Equal(t, "Use the web client.\n\nTool\tOwner\nChat\tIT", d.Sections[2].Text)
	})
	t.Run("csv", func(t *testing.T) {
		d := load(t, "people.csv")
		require.Equal(t, ingest.TypeCSV, d.Type)
		require.Equal(t, "rows 1-3", d.Sections[0].Heading)
		require.Contains(t, d.Sections[0].Text, "name: Grace, Rear Admiral\nrole: officer\ncity: New York")
		require.Contains(t, load(t, "data.tsv").Sections[0].Text, "id: 2\nvalue: two")
	})
	t.Run("json", func(t *testing.T) {
		d := load(t, "config.json")
		require.Equal(t, "Service config", d.Title)
		require.Equal(t, "title: Service config\nserver.port: 8080\nserver.tls: true\ntags[0]: a\ntags[1]: b\nowner: null", d.Sections[0].Text)
		l := load(t, "events.jsonl")
		require.Equal(t, ingest.TypeJSONL, l.Type)
		require.Len(t, l.Sections, 2)
		require.Equal(t, "record 2", l.Sections[1].Heading)
		require.Equal(t, "id: 2\nmsg: stopped\nmeta.code: 0", l.Sections[1].Text)
	})
}
