// Package qemutest tests resin.ko in a real kernel: the module cannot be
// loaded on the machines that run the tests, so TestHardCoreInQemu boots
// Debian's kernel in qemu (TCG) with an initramfs holding busybox, the
// module built against that kernel's headers, a static resind and the
// guest tests (guest_test.go, built with -tags qemuguest), and reads the
// verdict from the serial console.
package qemutest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bootTimeout bounds the whole guest run, boot to power-off; the guest
// tests themselves stop after 240 s, so their output is seen first.
const bootTimeout = 7 * time.Minute

func TestHardCoreInQemu(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the qemu test runs on linux/amd64")
	}
	if testing.Short() {
		t.Skip("boots a kernel in qemu")
	}
	for _, tool := range []string{"qemu-system-x86_64", "make", "gcc", "apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make test-deps installs the test packages): %v", tool, err)
		}
	}
	busybox := "/bin/busybox"
	if _, err := os.Stat(busybox); err != nil {
		t.Skip("busybox-static not installed (make test-deps)")
	}
	ver, headers := kernelHeaders(t)
	vmlinuz := kernelImage(t, ver)

	// The three builds are independent: run them side by side.
	work := t.TempDir()
	var ko, resind, guest string
	errs := make(chan error, 3)
	go func() { var err error; ko, err = buildModule(headers, work); errs <- err }()
	go func() {
		var err error
		resind, err = goBuild(work, "resind", "build", "-o", filepath.Join(work, "resind"), "resind/cmd/resind")
		errs <- err
	}()
	go func() {
		var err error
		guest, err = goBuild(work, "guest.test", "test", "-c", "-tags", "qemuguest", "-o", filepath.Join(work, "guest.test"), ".")
		errs <- err
	}()
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}

	initrd := filepath.Join(work, "initrd.cpio.gz")
	files := []initFile{
		{name: "init", data: []byte(initScript), mode: 0o755},
		{name: "bin/busybox", path: busybox, mode: 0o755},
		{name: "resin.ko", path: ko, mode: 0o644},
		{name: "resind", path: resind, mode: 0o755},
		{name: "guest.test", path: guest, mode: 0o755},
		{name: "etc/passwd", data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"), mode: 0o644},
		{name: "etc/group", data: []byte("root:x:0:\nnogroup:x:65534:\n"), mode: 0o644},
	}
	files = append(files, nginxFiles(t)...)
	err := writeInitramfs(initrd, files, []string{"bin", "proc", "sys", "dev", "tmp", "etc", "root"})
	if err != nil {
		t.Fatal(err)
	}

	// The kernel hands unknown name=value parameters to /init as its
	// environment: RESIND_QEMU_BENCH=seconds lengthens the throughput runs.
	cmdline := "console=ttyS0 panic=-1 oops=panic quiet loglevel=4"
	limit := bootTimeout
	if secs, err := strconv.Atoi(os.Getenv("RESIND_QEMU_BENCH")); err == nil && secs > 0 {
		cmdline += " resind_bench=" + strconv.Itoa(secs)
		limit += time.Duration(3*secs) * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", "-accel", "tcg", "-smp", "2", "-m", "1024",
		"-nographic", "-no-reboot", "-nic", "none", "-monitor", "none", "-serial", "stdio",
		"-kernel", vmlinuz, "-initrd", initrd,
		"-append", cmdline)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	runErr := cmd.Run()
	log := strings.ReplaceAll(out.String(), "\r", "")
	logFile := filepath.Join(work, "serial.log")
	os.WriteFile(logFile, []byte(log), 0o644)

	for _, line := range strings.Split(log, "\n") {
		if strings.HasPrefix(line, "BENCH ") {
			t.Log(strings.TrimPrefix(line, "BENCH "))
		}
	}
	m := regexp.MustCompile(`(?m)^RESULT: (\d+) passed, (\d+) failed$`).FindStringSubmatch(log)
	if m == nil || m[1] == "0" || m[2] != "0" {
		t.Fatalf("guest run (%v, qemu: %v) did not report N passed, 0 failed; serial log:\n%s", time.Since(start).Round(time.Second), runErr, log)
	}
	t.Logf("guest: %s passed, 0 failed in %v", m[1], time.Since(start).Round(time.Second))
}

// initScript is the guest's /init: it sets up the file systems and
// loopback, runs the guest tests and powers off.
const initScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
ip link set lo up
echo 1 > /proc/sys/kernel/panic_on_oops
cd /tmp
(/guest.test -test.v -test.timeout 240s 2>&1; echo $? > /tmp/guest.rc) | tee /tmp/guest.out
rc=$(cat /tmp/guest.rc)
p=$(grep -cE -- '--- PASS' /tmp/guest.out)
f=$(grep -cE -- '--- FAIL' /tmp/guest.out)
if [ $rc -ne 0 ] && [ $f -eq 0 ]; then f=1; fi
if dmesg | grep -E 'BUG:|Oops|WARNING:|general protection|leak'; then f=$((f+1)); echo "kernel complained"; fi
echo "RESULT: $p passed, $f failed"
poweroff -f
`

// nginxFiles are the host's nginx and the shared libraries it loads, for
// the throughput comparison; none when nginx is not installed (make bench
// installs it).
func nginxFiles(t *testing.T) []initFile {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		t.Log("nginx not installed: the guest compares the module with resind only")
		return nil
	}
	out, err := exec.Command("ldd", bin).Output()
	if err != nil {
		t.Logf("ldd %s: %v; leaving nginx out", bin, err)
		return nil
	}
	files := []initFile{{name: "usr/sbin/nginx", path: bin, mode: 0o755}}
	for _, line := range strings.Split(string(out), "\n") {
		// "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
		f := strings.Fields(line)
		for _, w := range f {
			if strings.HasPrefix(w, "/") {
				real, err := filepath.EvalSymlinks(w)
				if err != nil {
					continue
				}
				files = append(files, initFile{name: strings.TrimPrefix(w, "/"), path: real, mode: 0o755})
				break
			}
		}
	}
	return files
}

// kernelHeaders finds the newest Debian linux-headers-*-amd64 tree.
func kernelHeaders(t *testing.T) (ver, dir string) {
	dirs, _ := filepath.Glob("/usr/src/linux-headers-*-amd64")
	sort.Strings(dirs)
	if len(dirs) == 0 {
		t.Skip("linux-headers-amd64 not installed (make test-deps)")
	}
	dir = dirs[len(dirs)-1]
	return strings.TrimPrefix(filepath.Base(dir), "linux-headers-"), dir
}

// kernelImage returns boot/vmlinuz-ver from Debian's linux-image-ver,
// downloaded once (apt-get download, not installed) into the user cache.
func kernelImage(t *testing.T, ver string) string {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "resind-qemu")
	vmlinuz := filepath.Join(dir, "vmlinuz-"+ver)
	if _, err := os.Stat(vmlinuz); err == nil {
		return vmlinuz
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	os.Chmod(tmp, 0o777) // apt-get download drops privileges to _apt
	run(t, tmp, "apt-get", "download", "linux-image-"+ver)
	debs, _ := filepath.Glob(filepath.Join(tmp, "linux-image-*.deb"))
	if len(debs) != 1 {
		t.Fatalf("apt-get download linux-image-%s gave %v", ver, debs)
	}
	run(t, tmp, "sh", "-c", fmt.Sprintf("dpkg-deb --fsys-tarfile %s | tar -x ./boot/vmlinuz-%s", debs[0], ver))
	if err := os.Rename(filepath.Join(tmp, "boot", "vmlinuz-"+ver), vmlinuz); err != nil {
		t.Fatal(err)
	}
	return vmlinuz
}

// buildModule builds resin.ko from a copy of kernel/hardcore, so the
// checkout stays free of build products.
func buildModule(headers, work string) (string, error) {
	src, err := filepath.Abs("../hardcore")
	if err != nil {
		return "", err
	}
	dst := filepath.Join(work, "hardcore")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return "", err
	}
	files, _ := filepath.Glob(filepath.Join(src, "*.[ch]"))
	files = append(files, filepath.Join(src, "Kbuild"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644); err != nil {
			return "", err
		}
	}
	cmd := exec.Command("make", "-s", "-j2", "-C", headers, "M="+dst, "modules")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building resin.ko: %v\n%s", err, out)
	}
	return filepath.Join(dst, "resin.ko"), nil
}

// goBuild runs the go command for a static linux/amd64 binary.
func goBuild(work, name string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return filepath.Join(work, name), nil
}

func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
