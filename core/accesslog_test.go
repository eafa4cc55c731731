package core

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAccessLogLinesCarryTheirOwnSecond(t *testing.T) {
	var out bytes.Buffer
	a := newAccessLog(&out)
	zone := time.FixedZone("", 2*3600)
	t0 := time.Date(2026, 11, 23, 13, 4, 5, 100, zone)
	for _, at := range []time.Time{t0, t0.Add(500 * time.Millisecond), t0.Add(time.Second), t0.In(time.UTC)} {
		r := httptest.NewRequest("GET", "/a?b=1", nil)
		r.RemoteAddr = "192.0.2.7:5555"
		r.Header.Set("User-Agent", `say "hi"`)
		a.log(r, 200, 12, at)
	}
	a.flush()
	want := []string{
		`192.0.2.7 - - [23/Nov/2026:13:04:05 +0200] "GET /a?b=1 HTTP/1.1" 200 12 "-" "say \"hi\""`,
		`192.0.2.7 - - [23/Nov/2026:13:04:05 +0200] "GET /a?b=1 HTTP/1.1" 200 12 "-" "say \"hi\""`,
		`192.0.2.7 - - [23/Nov/2026:13:04:06 +0200] "GET /a?b=1 HTTP/1.1" 200 12 "-" "say \"hi\""`,
		`192.0.2.7 - - [23/Nov/2026:11:04:05 +0000] "GET /a?b=1 HTTP/1.1" 200 12 "-" "say \"hi\""`,
	}
	if got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
