// Command resind runs one <server> of a resin.xml, as Resin's resinctl does.
//
//	resind [-conf FILE] [-server ID] [-data-directory DIR] [-log-directory DIR] COMMAND
//
// Commands: console (foreground), start (background, returns once
// listening), stop, restart, status, check, version, passwd; run resind
// without arguments for the list.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// exitError carries the exit status a command wants; its message has been
// printed already when msg is "".
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func fail(code int, format string, args ...any) error {
	return &exitError{code: code, msg: fmt.Sprintf(format, args...)}
}

// options are the global flags shared by every command.
type options struct {
	conf    string
	server  string
	dataDir string
	logDir  string
	args    []string // what follows the command
}

// A command is one word of the command line. Files that add commands
// (deploy, passwd, ...) register them from an init function.
type command struct {
	name string
	help string // one line for the usage text
	run  func(o options, stdout, stderr io.Writer) error
}

var commands = []command{
	{"console", "run the server in the foreground", func(o options, out, errw io.Writer) error {
		err := cmdConsole(o, out, errw)
		var r *restartInPlace
		if errors.As(err, &r) {
			return r.exec() // returns only on failure
		}
		return err
	}},
	{"start", "run the server in the background; returns once it listens", cmdStart},
	{"stop", "drain in-flight requests and stop the server", func(o options, out, _ io.Writer) error { return cmdStop(o, out) }},
	{"restart", "restart in place (listening sockets kept open), or start when stopped", cmdRestart},
	{"status", "show whether the server runs: pid, ports, uptime, config", func(o options, out, _ io.Writer) error { return cmdStatus(o, out) }},
	{"check", "validate the configuration; print file:line: reason for each problem", cmdCheck},
	{"version", "print resind's version", func(_ options, out, _ io.Writer) error { return cmdVersion(out) }},
}

func usage() string {
	var b strings.Builder
	b.WriteString("usage: resind [-conf FILE] [-server ID] [-data-directory DIR] [-log-directory DIR] COMMAND [ARGS]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-14s %s\n", c.name, c.help)
	}
	return b.String()
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("resind", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage()) }
	var o options
	fs.StringVar(&o.conf, "conf", "resin.xml", "the configuration file")
	fs.StringVar(&o.server, "server", "", "the id of the <server> to run (may be left out when there is one)")
	fs.StringVar(&o.dataDir, "data-directory", "resin-data", "per-server state lives under DIR/ID/")
	fs.StringVar(&o.logDir, "log-directory", "log", "where the server's logs are written")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, usage())
		return 2
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	o.args = rest

	i := slices.IndexFunc(commands, func(c command) bool { return c.name == cmd })
	if i < 0 {
		fmt.Fprintf(stderr, "resind: unknown command %q\n\n%s", cmd, usage())
		return 2
	}
	err := commands[i].run(o, stdout, stderr)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "resind: "+ee.msg)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "resind: "+err.Error())
	return 1
}
