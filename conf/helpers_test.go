package conf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFiles writes name → content into a new temporary directory and
// returns the path of the first name given as main.
func writeFiles(t *testing.T, main string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, main)
}

// resinXML wraps body in a <resin> element with Resin 4's namespaces.
func resinXML(body string) string {
	return `<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">` + "\n" + body + "\n</resin>\n"
}

// loadString loads body (a whole resin.xml) written as resin.xml.
func loadString(t *testing.T, xml string) (*Config, error) {
	t.Helper()
	return Load(writeFiles(t, "resin.xml", map[string]string{"resin.xml": xml}))
}

func mustLoad(t *testing.T, xml string) *Config {
	t.Helper()
	cfg, err := loadString(t, xml)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return cfg
}

// refused loads xml and returns the problems, failing unless Load refused
// it with a *Error.
func refused(t *testing.T, xml string) []string {
	t.Helper()
	cfg, err := loadString(t, xml)
	if err == nil {
		t.Fatalf("Load accepted the configuration: %d clusters", len(cfg.Clusters))
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Load error %T %v is not a *conf.Error", err, err)
	}
	out := make([]string, len(ce.Diags))
	for i, d := range ce.Diags {
		// Positions are absolute under t.TempDir(); keep the base name.
		d.Pos.File = filepath.Base(d.Pos.File)
		out[i] = d.String()
	}
	return out
}

func hasWarning(cfg *Config, substr string) bool {
	for _, w := range cfg.Warnings {
		if strings.Contains(w.String(), substr) {
			return true
		}
	}
	return false
}
