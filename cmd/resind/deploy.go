package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"resind/deploy"
)

func init() {
	commands = append(commands,
		command{"deploy", "deploy a .war, .zip, .tar.gz or directory to the cluster: deploy FILE [-name N] [-version V] -user U", cmdDeploy},
		command{"undeploy", "stop serving a deployed web-app on the cluster: undeploy NAME -user U", cmdUndeploy},
		command{"deploy-list", "list the deployment repository's tags", cmdDeployList},
		command{"deploy-copy", "copy a deployment to another stage, host or name: deploy-copy -source N -target N", cmdDeployCopy},
		command{"webapp-restart", "check a deployed web-app's files and unpack it again if they changed", cmdWebappRestart},
	)
}

// remote is the server a client command talks to and who is asking.
type remote struct {
	address, user, password string
	client                  *http.Client
}

// remoteFlags adds -user, -password and -address to fs.
func remoteFlags(fs *flag.FlagSet) *remote {
	r := &remote{client: &http.Client{Timeout: 10 * time.Minute}}
	fs.StringVar(&r.user, "user", "", "an admin user of <resin:AdminAuthenticator>")
	fs.StringVar(&r.password, "password", "", "the user's password (read from stdin when left out)")
	fs.StringVar(&r.address, "address", "", "HOST:PORT of the server to talk to (default: -server's cluster port in resin.xml)")
	return r
}

// ready fills in the address from the configuration and the password from
// stdin when they were left out.
func (r *remote) ready(o options, stderr io.Writer) error {
	if r.user == "" {
		return fail(2, "-user is required: an admin user of <resin:AdminAuthenticator>")
	}
	if r.address == "" {
		_, sc, err := loadConfig(o, stderr)
		if err != nil {
			return err
		}
		host := sc.Address
		if host == "" || host == "*" {
			host = "127.0.0.1"
		}
		r.address = net.JoinHostPort(host, strconv.Itoa(sc.Port))
	}
	if r.password == "" {
		p, err := readPassword(stderr)
		if err != nil {
			return err
		}
		r.password = p
	}
	return nil
}

// call sends a request to the deployment API and decodes the JSON answer
// into out (unless nil).
func (r *remote) call(method, path, ctype string, body []byte, out any) error {
	return r.send(method, path, ctype, bytes.NewReader(body), out)
}

// send is call with a streamed body.
func (r *remote) send(method, path, ctype string, body io.Reader, out any) error {
	req, err := http.NewRequest(method, "http://"+r.address+deploy.PathPrefix+path, body)
	if err != nil {
		return err
	}
	req.SetBasicAuth(r.user, r.password)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return fail(1, "%v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fail(1, "%s: %s", r.address, strings.TrimSpace(string(msg)))
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (r *remote) callJSON(path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return r.call(http.MethodPost, path, "application/json", body, out)
}

// parseArgs parses flags that may come before or after the positional
// arguments ("deploy foo.war -user admin").
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// nameVersion splits an archive's or directory's name into the web-app
// name and version: "foo-1.2.war" is foo version 1.2, "foo.war" is foo.
func nameVersion(file string) (name, version string) {
	base := filepath.Base(strings.TrimRight(file, string(filepath.Separator)))
	lower := strings.ToLower(base)
	for _, ext := range []string{".tar.gz", ".tgz", ".tar", ".war", ".zip", ".jar", ".ear"} {
		if strings.HasSuffix(lower, ext) {
			base = base[:len(base)-len(ext)]
			break
		}
	}
	if i := strings.LastIndexByte(base, '-'); i > 0 && i < len(base)-1 && base[i+1] >= '0' && base[i+1] <= '9' {
		return base[:i], base[i+1:]
	}
	return base, ""
}

func cmdDeploy(o options, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("deploy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "the web-app's name (default: the archive's, \"ROOT\" for the root web-app)")
	version := fs.String("version", "", "the version (default: from the archive's name, foo-1.2.war is 1.2)")
	stage := fs.String("stage", deploy.DefaultStage, "the stage")
	host := fs.String("host", deploy.DefaultHost, "the <host id>; \"default\" is the default host")
	msg := fs.String("m", "", "a message recorded with the deployment")
	r := remoteFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: resind deploy FILE [-name N] [-version V] [-stage S] [-host H] [-m MSG] -user U [-password P] [-address HOST:PORT]")
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, o.args)
	if err != nil {
		return fail(2, "")
	}
	if len(pos) != 1 {
		fs.Usage()
		return fail(2, "")
	}
	file := pos[0]
	n, v := nameVersion(file)
	if *name != "" {
		n = *name
	}
	if *version != "" {
		v = *version
	}
	tag := deploy.Tag{Stage: *stage, Host: *host, Name: n}
	if err := tag.Check(); err != nil {
		return fail(2, "%v", err)
	}
	if err := deploy.CheckVersion(v); err != nil {
		return fail(2, "%v", err)
	}
	// Read and check everything before asking for the password or
	// talking to the server: a bad archive never leaves this machine.
	files, err := deploy.ReadPath(file, deploy.DefaultLimits)
	if err != nil {
		return fail(1, "%s: %v", file, err)
	}
	if len(files) == 0 {
		return fail(1, "%s: nothing to deploy (no files)", file)
	}
	tree, err := deploy.TreeHash(files)
	if err != nil {
		return fail(1, "%v", err)
	}
	if err := r.ready(o, stderr); err != nil {
		return err
	}

	entries := deploy.Entries(files)
	byHash := map[string][]byte{}
	var hashes []string
	for i, e := range entries {
		if _, dup := byHash[e.Blob]; !dup {
			byHash[e.Blob] = files[i].Data
			hashes = append(hashes, e.Blob)
		}
	}
	var missing struct {
		Missing []string `json:"missing"`
	}
	if err := r.callJSON("/missing", map[string][]string{"blobs": hashes}, &missing); err != nil {
		return err
	}
	var sent int64
	if len(missing.Missing) > 0 {
		for _, h := range missing.Missing {
			data, ok := byHash[h]
			if !ok {
				return fail(1, "the server asked for blob %s, which is not in %s", h, file)
			}
			sent += int64(len(data))
		}
		// Streamed: the blobs are in memory already, once.
		pr, pw := io.Pipe()
		go func() {
			bw := bufio.NewWriter(pw)
			for _, h := range missing.Missing {
				fmt.Fprintf(bw, "%s blob %d\n", h, len(byHash[h]))
				bw.Write(byHash[h])
			}
			pw.CloseWithError(bw.Flush())
		}()
		if err := r.send(http.MethodPost, "/blobs", "application/octet-stream", pr, nil); err != nil {
			pr.Close()
			return err
		}
	}
	var c deploy.Commit
	req := deploy.Request{Tag: tag, Version: v, Message: *msg, Entries: entries, Tree: tree}
	if err := r.callJSON("/deploy", req, &c); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deployed %s", tag)
	if v != "" {
		fmt.Fprintf(stdout, " version %s", v)
	}
	fmt.Fprintf(stdout, ": tree %s, commit %s (%d files; sent %d of %d blobs, %d bytes)\n",
		c.Tree, c.Hash, len(files), len(missing.Missing), len(hashes), sent)
	return nil
}

// tagFlags adds -stage and -host for commands naming one web-app.
func tagFlags(fs *flag.FlagSet) (stage, host *string) {
	return fs.String("stage", deploy.DefaultStage, "the stage"),
		fs.String("host", deploy.DefaultHost, "the <host id>; \"default\" is the default host")
}

func cmdUndeploy(o options, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("undeploy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stage, host := tagFlags(fs)
	msg := fs.String("m", "", "a message recorded with the change")
	r := remoteFlags(fs)
	pos, err := parseArgs(fs, o.args)
	if err != nil || len(pos) != 1 {
		fmt.Fprintln(stderr, "usage: resind undeploy NAME [-stage S] [-host H] [-m MSG] -user U [-password P] [-address HOST:PORT]")
		return fail(2, "")
	}
	tag := deploy.Tag{Stage: *stage, Host: *host, Name: pos[0]}
	if err := tag.Check(); err != nil {
		return fail(2, "%v", err)
	}
	if err := r.ready(o, stderr); err != nil {
		return err
	}
	var c deploy.Commit
	if err := r.callJSON("/undeploy", map[string]any{"tag": tag, "message": *msg}, &c); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "undeployed %s: commit %s\n", tag, c.Hash)
	return nil
}

func cmdDeployList(o options, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("deploy-list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	r := remoteFlags(fs)
	pos, err := parseArgs(fs, o.args)
	if err != nil || len(pos) > 1 {
		fmt.Fprintln(stderr, "usage: resind deploy-list [PATTERN] -user U [-password P] [-address HOST:PORT]")
		return fail(2, "")
	}
	if err := r.ready(o, stderr); err != nil {
		return err
	}
	var tags []deploy.TagInfo
	if err := r.call(http.MethodGet, "/list", "", nil, &tags); err != nil {
		return err
	}
	for _, t := range tags {
		if len(pos) == 1 && !strings.Contains(t.Tag, pos[0]) {
			continue
		}
		state := t.Version
		if t.Undeploy {
			state = "undeployed"
		}
		if state == "" {
			state = "-"
		}
		fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Tag, state, t.Tree, t.Time.UTC().Format(time.RFC3339), t.Author, firstLine(t.Message))
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func cmdDeployCopy(o options, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("deploy-copy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	src := fs.String("source", "", "the web-app to copy")
	srcStage := fs.String("source-stage", deploy.DefaultStage, "its stage")
	srcHost := fs.String("source-host", deploy.DefaultHost, "its host")
	srcVersion := fs.String("source-version", "", "its version (default: the newest)")
	dst := fs.String("target", "", "the web-app to deploy it as (default: -source)")
	dstStage := fs.String("target-stage", deploy.DefaultStage, "the target's stage")
	dstHost := fs.String("target-host", deploy.DefaultHost, "the target's host")
	dstVersion := fs.String("target-version", "", "the target's version (default: the source's)")
	msg := fs.String("m", "", "a message recorded with the copy")
	r := remoteFlags(fs)
	pos, err := parseArgs(fs, o.args)
	if err != nil || len(pos) != 0 || *src == "" {
		fmt.Fprintln(stderr, "usage: resind deploy-copy -source N [-source-stage S] [-source-host H] [-source-version V] [-target N] [-target-stage S] [-target-host H] [-target-version V] -user U")
		return fail(2, "")
	}
	if *dst == "" {
		*dst = *src
	}
	from := deploy.Tag{Stage: *srcStage, Host: *srcHost, Name: *src}
	to := deploy.Tag{Stage: *dstStage, Host: *dstHost, Name: *dst}
	if from == to && *srcVersion == "" {
		return fail(2, "deploy-copy: source and target are the same")
	}
	if err := r.ready(o, stderr); err != nil {
		return err
	}
	var c deploy.Commit
	req := deploy.CopyRequest{From: from, Version: *srcVersion, To: to, ToVersion: *dstVersion, Message: *msg}
	if err := r.callJSON("/copy", req, &c); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "copied %s to %s: tree %s, commit %s\n", from, to, c.Tree, c.Hash)
	return nil
}

func cmdWebappRestart(o options, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("webapp-restart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stage, host := tagFlags(fs)
	r := remoteFlags(fs)
	pos, err := parseArgs(fs, o.args)
	if err != nil || len(pos) != 1 {
		fmt.Fprintln(stderr, "usage: resind webapp-restart NAME [-host H] -user U [-password P] [-address HOST:PORT]")
		return fail(2, "")
	}
	tag := deploy.Tag{Stage: *stage, Host: *host, Name: pos[0]}
	if err := r.ready(o, stderr); err != nil {
		return err
	}
	if err := r.callJSON("/restart", map[string]any{"tag": tag}, nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restarted %s on %s\n", tag, r.address)
	return nil
}
