package conf

import (
	"testing"
	"time"
)

func TestParseDurationReadsResinPeriods(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"5s", 5 * time.Second},
		{"15m", 15 * time.Minute},
		{"24h", 24 * time.Hour},
		{"2D", 48 * time.Hour},
		{"2d", 48 * time.Hour},
		{"1W", 7 * 24 * time.Hour},
		{"100ms", 100 * time.Millisecond},
		{"250", 250 * time.Millisecond},
		{" 2s ", 2 * time.Second},
		{"1.5s", 1500 * time.Millisecond},
		{"-1", forever},
		{"-1s", forever},
	}
	for _, tc := range tests {
		got, err := parseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseDurationRefusesNonsense(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "s", "5x", "five", "5 parsecs", "1e400s", "99999999999999999999D"} {
		if d, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", in, d)
		}
	}
}

func TestParseSizeReadsUnits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
	}{
		{"1024", 1024},
		{"512k", 512 << 10},
		{"512KB", 512 << 10},
		{"64m", 64 << 20},
		{"256M", 256 << 20},
		{"64MB", 64 << 20},
		{"1g", 1 << 30},
		{"1G", 1 << 30},
		{"10b", 10},
	}
	for _, tc := range tests {
		got, err := parseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseSize(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "M", "64 parsecs", "-1", "1e30G"} {
		if n, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %v, want an error", in, n)
		}
	}
}

func TestParsePortNamesTheProblem(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, err string
		want    int
	}{
		{"6800", "", 6800},
		{"0", "", 0},
		{"65535", "", 65535},
		{"68o0", `port "68o0" is not a number`, 0},
		{"", `port "" is not a number`, 0},
		{"65536", "port 65536 is out of range (1-65535)", 0},
		{"-5", "port -5 is out of range (1-65535)", 0},
	}
	for _, tc := range tests {
		got, err := parsePort(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("parsePort(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parsePort(%q) = %d, %v", tc.in, got, err)
		}
	}
}

func TestParseBoolAcceptsResinSpellings(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{"": true, "true": true, "Yes": true, "on": true, "1": true, "false": false, "no": false, "OFF": false, "0": false} {
		if got, err := parseBool(in); err != nil || got != want {
			t.Errorf("parseBool(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := parseBool("maybe"); err == nil {
		t.Error("parseBool(maybe) accepted")
	}
}

func TestSessionTimeoutPlainNumberIsMinutes(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"30": 30 * time.Minute, "1.5": 90 * time.Second, "45s": 45 * time.Second, "-1": 0, "2h": 2 * time.Hour} {
		if got, err := parseSessionTimeout(in); err != nil || got != want {
			t.Errorf("parseSessionTimeout(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}
