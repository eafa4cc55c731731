package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeRounds(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rounds")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestABSummaryTakesTheMedianOfPerRoundRatios(t *testing.T) {
	// Round by round new costs half of old, while the machine's speed
	// changes fourfold between rounds: the ratio must not move.
	p := writeRounds(t, "1000 10 2000 10\n4000 10 8000 10\n1000 40 2000 40\n0 5 100 5\n")
	var out strings.Builder
	if err := abSummary(100, p, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"old 100.0 µs/req", "new 50.0 µs/req", "medians of 3 rounds", "median 0.500, quartiles 0.500–0.500", "requests served: median 2.000"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary %q lacks %q", out.String(), want)
		}
	}
}

func TestABSummaryGivesLatencies(t *testing.T) {
	p := writeRounds(t, "1000 10 1000 10 2000 1000\n1000 10 1000 10 4000 3000\n1000 10 1000 10 3000 1500\n")
	var out strings.Builder
	if err := abSummary(100, p, &out); err != nil {
		t.Fatal(err)
	}
	want := "p99 latency: old 3.00 ms, new 1.50 ms (medians of 3 rounds); new/old median 0.500, quartiles 0.500–0.750"
	if !strings.Contains(out.String(), want) {
		t.Errorf("summary %q lacks %q", out.String(), want)
	}
}

func TestABSummaryNamesTheBadLine(t *testing.T) {
	for text, want := range map[string]string{
		"1 2 3 4\n1 2 3\n": ":2: want 4 or 6 fields",
		"1 2 x 4\n":        ":1: strconv.ParseFloat",
		"0 1 0 1\n":        "no round with requests",
	} {
		err := abSummary(100, writeRounds(t, text), &strings.Builder{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one with %q", text, err, want)
		}
	}
}
