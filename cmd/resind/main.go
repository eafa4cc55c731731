// Command resind runs one <server> of a resin.xml, as Resin's resinctl does.
//
//	resind [-conf FILE] [-server ID] [-data-directory DIR] [-log-directory DIR] COMMAND
//
// Commands: console (foreground), start (background, returns once
// listening), stop, restart, status, check, version.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
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

const usage = `usage: resind [-conf FILE] [-server ID] [-data-directory DIR] [-log-directory DIR] COMMAND

commands:
  console   run the server in the foreground
  start     run the server in the background; returns once it listens
  stop      drain in-flight requests and stop the server
  restart   stop, then start
  status    show whether the server runs: pid, ports, uptime, config
  check     validate the configuration; print file:line: reason for each problem
  version   print resind's version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("resind", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
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
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	o.args = rest

	var err error
	switch cmd {
	case "console":
		err = cmdConsole(o, stdout, stderr)
	case "start":
		err = cmdStart(o, stdout, stderr)
	case "stop":
		err = cmdStop(o, stdout)
	case "restart":
		if err = cmdStop(o, stdout); err == nil || isNotRunning(err) {
			err = cmdStart(o, stdout, stderr)
		}
	case "status":
		err = cmdStatus(o, stdout)
	case "check":
		err = cmdCheck(o, stdout, stderr)
	case "version":
		err = cmdVersion(stdout)
	default:
		fmt.Fprintf(stderr, "resind: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
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
