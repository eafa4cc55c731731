package conf

import (
	"fmt"
	"strings"
)

// String returns "file:line".
func (p Pos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Diag is one problem found in the configuration, at a position.
type Diag struct {
	Pos Pos
	Msg string
}

// String returns "file:line: reason".
func (d Diag) String() string { return d.Pos.String() + ": " + d.Msg }

// Error is returned by Load when the configuration is refused. It lists every
// problem found, each as "file:line: reason".
type Error struct {
	Diags []Diag
}

func (e *Error) Error() string {
	s := make([]string, len(e.Diags))
	for i, d := range e.Diags {
		s[i] = d.String()
	}
	return strings.Join(s, "\n")
}
