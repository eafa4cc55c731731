package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"os"
	"strings"

	"resind/core/admin"
)

func init() {
	commands = append(commands, command{"passwd", "print a <resin:user> line with a password hash to paste into resin.xml", cmdPasswd})
}

// cmdPasswd is `resind passwd [-digest bcrypt|ssha|md5] USER [PASSWORD]`.
// Without PASSWORD it reads one line from standard input, so the password
// stays out of the shell history and the process list.
func cmdPasswd(o options, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	digest := fs.String("digest", "bcrypt", "the hash: bcrypt, ssha, or md5 (Resin's default digest, for files shared with Resin)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: resind passwd [-digest bcrypt|ssha|md5] USER [PASSWORD]   (PASSWORD read from stdin when left out)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(o.args); err != nil {
		return fail(2, "")
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		fs.Usage()
		return fail(2, "")
	}
	user, password := fs.Arg(0), fs.Arg(1)
	if fs.NArg() == 1 {
		p, err := readPassword(stderr)
		if err != nil {
			return err
		}
		password = p
	}
	if password == "" {
		return fail(2, "empty password")
	}
	h, err := admin.HashPassword(user, password, *digest)
	if err != nil {
		return fail(2, "%v", err)
	}
	fmt.Fprintf(stdout, "<resin:user name=\"%s\" password=\"%s\"/>\n", html.EscapeString(user), html.EscapeString(h))
	return nil
}

func readPassword(prompt io.Writer) (string, error) {
	if fi, err := os.Stdin.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		fmt.Fprint(prompt, "password (echoed): ")
	}
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
