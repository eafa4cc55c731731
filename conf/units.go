package conf

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Forever is what parseDuration returns for Resin's "-1" (no limit).
const forever time.Duration = -1

const day = 24 * time.Hour

// periodUnits are Resin's period suffixes. Lower-case m is minutes and
// upper-case M months, as in Resin.
var periodUnits = map[string]time.Duration{
	"ms": time.Millisecond,
	"s":  time.Second,
	"m":  time.Minute,
	"h":  time.Hour,
	"d":  day, "D": day,
	"w": 7 * day, "W": 7 * day,
	"M": 30 * day,
	"y": 365 * day, "Y": 365 * day,
}

// parseDuration reads a Resin period: "100ms", "5s", "15m", "24h", "2D",
// "1W"; a plain number is milliseconds; "-1" (or any negative number) is
// forever and returned as the constant forever.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	num, unit := splitNumber(s)
	if num == "" {
		return 0, fmt.Errorf("%q is not a duration (e.g. 5s, 100ms, 15m, 2h, 1D)", s)
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, fmt.Errorf("%q is not a duration (e.g. 5s, 100ms, 15m, 2h, 1D)", s)
	}
	if n < 0 && unit == "" {
		return forever, nil
	}
	mult := time.Millisecond
	if unit != "" {
		m, ok := periodUnits[unit]
		if !ok {
			m, ok = periodUnits[strings.ToLower(unit)]
		}
		if !ok || unit == "MS" {
			return 0, fmt.Errorf("%q has an unknown unit %q (use ms, s, m, h, D, W)", s, unit)
		}
		mult = m
	}
	if n < 0 {
		return forever, nil
	}
	d := n * float64(mult)
	if d > math.MaxInt64 {
		return 0, fmt.Errorf("%q is too long", s)
	}
	return time.Duration(d), nil
}

// sizeUnits are the suffixes of byte sizes, case-insensitive.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30,
	"t": 1 << 40, "tb": 1 << 40,
}

// parseSize reads a byte size: "1024", "512k", "64m", "256M", "1g", "64MB".
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	num, unit := splitNumber(s)
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if num == "" || !ok {
		return 0, fmt.Errorf("%q is not a size (e.g. 1024, 512k, 64M, 1G)", s)
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) {
		return 0, fmt.Errorf("%q is not a size (e.g. 1024, 512k, 64M, 1G)", s)
	}
	b := n * float64(mult)
	if b > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(b), nil
}

// splitNumber splits "64MB" into "64" and "MB", allowing a sign, a decimal
// point and blanks before the unit.
func splitNumber(s string) (num, unit string) {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
		digits++
	}
	if digits == 0 {
		return "", s
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// parsePort reads a port number. 0 is accepted and means a port chosen by
// the system when listening (tests use it).
func parsePort(s string) (int, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("port %q is not a number", s)
	}
	if n < 0 || n > 65535 {
		return 0, fmt.Errorf("port %d is out of range (1-65535)", n)
	}
	return n, nil
}

// parseBool reads Resin's booleans. An empty element (<backup/>) is true.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (true or false)", s)
}

// parseInt reads a non-negative integer.
func parseInt(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a non-negative whole number", s)
	}
	return n, nil
}
