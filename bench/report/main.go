// Command report is the benchmark's arithmetic: it finds free loopback
// ports, sums the CPU time of process trees, and turns the raw results of
// bench/run.sh into the side-by-side table, and bench/ab.sh's rounds into
// a ratio.
//
//	report ports N            print N free loopback TCP ports, one a line
//	report ticks PID...       print utime+stime (clock ticks) of the PIDs and all their descendants
//	report table RESULTS.tsv  print the table (one per mode)
//	report ab HZ ROUNDS       summarize bench/ab.sh's rounds (HZ: clock ticks per second)
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: report ports N | ticks PID... | table RESULTS.tsv | ab HZ ROUNDS")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "ports":
		err = ports(os.Args[2:])
	case "ticks":
		err = ticks(os.Args[2:])
	case "table":
		if len(os.Args) != 3 {
			err = fmt.Errorf("usage: report table RESULTS.tsv")
			break
		}
		err = table(os.Args[2], os.Stdout)
	case "ab":
		var hz float64
		if len(os.Args) == 4 {
			hz, err = strconv.ParseFloat(os.Args[2], 64)
		}
		if len(os.Args) != 4 || err != nil || hz <= 0 {
			err = fmt.Errorf("usage: report ab HZ ROUNDS")
			break
		}
		err = abSummary(hz, os.Args[3], os.Stdout)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

// ports holds N listeners open at once so the ports are distinct, then
// closes them and prints their numbers.
func ports(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: report ports N")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return err
	}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ls = append(ls, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}

// procStat is what ticks needs of /proc/PID/stat.
type procStat struct {
	ppid  int
	ticks int64 // utime + stime
}

func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, false
	}
	// The command name is in parentheses and may hold spaces: the fields
	// that follow the last ')' are state, ppid, ... utime (14th field of the
	// line, 12th after the name), stime (15th).
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return procStat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return procStat{ppid: ppid, ticks: ut + st}, true
}

// ticks prints the CPU time of the given processes and of all their
// descendants (nginx's workers, cache manager and loader), threads included.
func ticks(args []string) error {
	all := map[int]procStat{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(pid); ok {
			all[pid] = st
		}
	}
	children := map[int][]int{}
	for pid, st := range all {
		children[st.ppid] = append(children[st.ppid], pid)
	}
	seen := map[int]bool{}
	var sum int64
	var walk func(int)
	walk = func(pid int) {
		if seen[pid] {
			return
		}
		seen[pid] = true
		sum += all[pid].ticks
		for _, c := range children[pid] {
			walk(c)
		}
	}
	for _, a := range args {
		pid, err := strconv.Atoi(a)
		if err != nil {
			return fmt.Errorf("bad pid %q", a)
		}
		walk(pid)
	}
	fmt.Println(sum)
	return nil
}

// scanTSV reads a tab-separated file, skipping blank and # lines.
func scanTSV(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rows = append(rows, strings.Split(line, "\t"))
	}
	return rows, sc.Err()
}
