package cluster

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestClusterRequestsMustBeSignedWithTheKey(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 1, "the-key")
	addr := ServerAddr(tc.cfg.Clusters[0].Servers[0])
	body := []byte(`{"cmd":{"op":"put","key":"x","value":"eA=="},"hops":1}`)
	post := func(sign func(*http.Request)) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+KVPath, bytes.NewReader(body))
		if sign != nil {
			sign(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	cases := []struct {
		name string
		sign func(*http.Request)
		want int
	}{
		{"unsigned", nil, http.StatusForbidden},
		{"other key", func(r *http.Request) { NewAuth("not-the-key").Sign(r, "intruder", body) }, http.StatusForbidden},
		{"signature of another body", func(r *http.Request) { NewAuth("the-key").Sign(r, "app-0", []byte("{}")) }, http.StatusForbidden},
		{"old signature", func(r *http.Request) {
			a := NewAuth("the-key")
			ts := strconv.FormatInt(time.Now().Add(-2*maxSkew).Unix(), 10)
			r.Header.Set(hdrFrom, "app-0")
			r.Header.Set(hdrTime, ts)
			r.Header.Set(hdrSig, a.mac(r.Method, r.URL.RequestURI(), ts, "app-0", body))
		}, http.StatusForbidden},
		{"signed", func(r *http.Request) { NewAuth("the-key").Sign(r, "app-0", body) }, http.StatusOK},
	}
	for _, c := range cases {
		if got := post(c.sign); got != c.want {
			t.Errorf("%s: status %d, want %d", c.name, got, c.want)
		}
	}
	// An unsigned stream upgrade is refused too.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET "+StreamPath+"?kind=raft HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: resin-cluster\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("unsigned upgrade: %v %v", resp, err)
	}
	// The server still works.
	if _, err := tc.nodes[0].Store().Put(ctxT(t), "after", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
}

func TestWithoutAKeyOnlyLoopbackIsAccepted(t *testing.T) {
	t.Parallel()
	a := NewAuth("")
	for _, c := range []struct {
		remote string
		ok     bool
	}{{"127.0.0.1:5000", true}, {"127.0.0.3:5000", true}, {"[::1]:5000", true}, {"192.0.2.7:5000", false}, {"[2001:db8::1]:80", false}} {
		r := httptest.NewRequest(http.MethodPost, KVPath, nil)
		r.RemoteAddr = c.remote
		if err := a.Verify(r, nil); (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.remote, err, c.ok)
		}
	}
	// The client APIs let loopback callers in even with a key.
	k := NewAuth("key")
	r := httptest.NewRequest(http.MethodGet, SessionPath+"x", nil)
	r.RemoteAddr = "127.0.0.1:1"
	if err := k.VerifyClient(r, nil); err != nil {
		t.Errorf("loopback client refused: %v", err)
	}
	r.RemoteAddr = "192.0.2.7:1"
	if err := k.VerifyClient(r, nil); err == nil {
		t.Error("unsigned remote client accepted")
	}
}

// sealedPair is a sealed client and server over a pipe whose bytes from
// client to server pass through tamper.
func sealedPair(t *testing.T, key []byte, tamper func([]byte)) (*sealedConn, *sealedConn) {
	c1, c2 := net.Pipe()
	mid1, mid2 := net.Pipe()
	t.Cleanup(func() { c1.Close(); c2.Close(); mid1.Close(); mid2.Close() })
	go func() { // client side c2 → tamper → mid1
		buf := make([]byte, 1<<16)
		for {
			n, err := c2.Read(buf)
			if err != nil {
				mid1.Close()
				return
			}
			tamper(buf[:n])
			if _, err := mid1.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	client := seal(c1, bufio.NewReader(c1), key, true)
	server := seal(mid2, bufio.NewReader(mid2), key, false)
	return client, server
}

func TestSealedStreamCarriesDataAndRefusesTamperedFrames(t *testing.T) {
	t.Parallel()
	key := []byte("k")
	client, server := sealedPair(t, key, func([]byte) {})
	msg := strings.Repeat("raft entry ", 10000) // several frames
	go client.Write([]byte(msg))
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(server, got); err != nil || string(got) != msg {
		t.Fatalf("read %d bytes, err %v", len(got), err)
	}

	flipped := false
	client, server = sealedPair(t, key, func(b []byte) {
		if !flipped && len(b) > 6 {
			b[5] ^= 1
			flipped = true
		}
	})
	go client.Write([]byte("AppendEntries"))
	if _, err := server.Read(make([]byte, 64)); err != errBadFrame {
		t.Fatalf("tampered frame: err %v, want %v", err, errBadFrame)
	}
}

func FuzzSealedRead(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 'x'})
	f.Add(bytes.Repeat([]byte{0xff}, 40))
	f.Fuzz(func(t *testing.T, data []byte) {
		c1, c2 := net.Pipe()
		defer c1.Close()
		go func() { c2.Write(data); c2.Close() }()
		s := seal(c1, bufio.NewReader(c1), []byte("k"), false)
		if _, err := s.Read(make([]byte, 128)); err == nil {
			t.Fatal("forged bytes were accepted as a frame")
		}
	})
}
