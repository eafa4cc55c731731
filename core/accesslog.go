package core

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// accessFlushDelay bounds how long a logged line waits in the buffer.
const accessFlushDelay = time.Second

// accessLog writes one line per request in the combined log format
//
//	%h %l %u %t "%r" %s %b "%{Referer}i" "%{User-Agent}i"
//
// into a buffer that is written out when full, a second after the first
// line it holds, and on Close. Requests hold the mutex only to append a
// line, or for one write when the buffer is full.
type accessLog struct {
	mu        sync.Mutex
	buf       *bufio.Writer
	scheduled bool
	line      []byte // scratch, reused under mu

	// The formatted time of the second stamp (Unix seconds) in zone,
	// reused by every line of that second, as nginx does: formatting it
	// was the largest part of logging a request.
	stamp     int64
	stampZone *time.Location
	stampText []byte
}

func newAccessLog(w io.Writer) *accessLog {
	return &accessLog{buf: bufio.NewWriterSize(w, 64<<10)}
}

func (a *accessLog) log(r *http.Request, status int, bytes int64, start time.Time) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	var user string
	if _, ok := r.Header["Authorization"]; ok {
		user, _, _ = r.BasicAuth()
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.line[:0]
	b = appendField(b, host)
	b = append(b, " - "...)
	b = appendField(b, user)
	b = append(b, " ["...)
	b = append(b, a.timestamp(start)...)
	b = append(b, "] \""...)
	b = appendEscaped(b, r.Method)
	b = append(b, ' ')
	b = appendEscaped(b, r.RequestURI)
	b = append(b, ' ')
	b = appendEscaped(b, r.Proto)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	if bytes > 0 {
		b = strconv.AppendInt(b, bytes, 10)
	} else {
		b = append(b, '-')
	}
	b = append(b, " \""...)
	b = appendField(b, r.Referer())
	b = append(b, "\" \""...)
	b = appendField(b, r.UserAgent())
	b = append(b, "\"\n"...)
	a.line = b
	a.buf.Write(b) // a failing log file must not fail requests
	if !a.scheduled {
		a.scheduled = true
		time.AfterFunc(accessFlushDelay, a.flush)
	}
}

// timestamp is t as the log writes it, formatted once per second; a holds
// mu.
func (a *accessLog) timestamp(t time.Time) []byte {
	if sec := t.Unix(); sec != a.stamp || t.Location() != a.stampZone || a.stampText == nil {
		a.stamp, a.stampZone = sec, t.Location()
		a.stampText = t.AppendFormat(a.stampText[:0], "02/Jan/2006:15:04:05 -0700")
	}
	return a.stampText
}

func (a *accessLog) flush() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.scheduled = false
	a.buf.Flush()
}

// appendField appends s, or "-" when it is empty, escaped.
func appendField(b []byte, s string) []byte {
	if s == "" {
		return append(b, '-')
	}
	return appendEscaped(b, s)
}

// appendEscaped appends s with quotes, backslashes, control characters and
// bytes above 0x7e escaped as Apache does, so a client cannot forge lines
// or fields.
func appendEscaped(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c >= 0x7f:
			b = append(b, '\\', 'x', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return b
}
