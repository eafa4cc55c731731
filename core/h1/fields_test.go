package h1

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// wrapper stands for the ResponseWriters resind puts between the loop and
// a handler (core's recorder): UseFields must find the loop's through
// Unwrap.
type wrapper struct{ http.ResponseWriter }

func (w wrapper) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func TestUseFields(t *testing.T) {
	stored := http.Header{
		"Content-Type":   {"text/plain"},
		"Content-Length": {"5"},
		"Date":           {"Mon, 02 Jan 2006 15:04:05 GMT"},
		"Server":         {"origin"},
		"Etag":           {`"v1"`},
		"Age":            {"100"}, // left out: the answer sets its own
	}
	f := PrepareFields(stored, "Age")
	if f == nil {
		t.Fatal("PrepareFields refused a plain header")
	}
	used := make(chan bool, 4)
	addr, _ := serve(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Server"] = []string{"resind"} // set before, as core does
		w = wrapper{w}
		ok := UseFields(w, f)
		used <- ok
		w.Header()["Age"] = []string{"7"}
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			w.Write([]byte("hello"))
		}
	})})
	cl := dial(t, addr)
	for _, method := range []string{"GET", "HEAD", "GET"} {
		cl.send(method + " / HTTP/1.1\r\nHost: x\r\n\r\n")
		res := cl.response(method)
		if !<-used {
			t.Fatal("UseFields did not reach the loop's writer through Unwrap")
		}
		want := map[string]string{"Content-Type": "text/plain", "Content-Length": "5",
			"Date": "Mon, 02 Jan 2006 15:04:05 GMT", "Server": "origin", "Etag": `"v1"`, "Age": "7"}
		for k, v := range want {
			if got := res.Header[k]; len(got) != 1 || got[0] != v {
				t.Errorf("%s: %s is %q, want once %q", method, k, got, v)
			}
		}
		if len(res.Header) != len(want) {
			t.Errorf("%s: fields %v, want exactly %v", method, res.Header, want)
		}
		if b := bodyOf(res); method == "GET" && b != "hello" || method == "HEAD" && b != "" {
			t.Errorf("%s: body %q", method, b)
		}
	}
}

func TestUseFieldsElsewhere(t *testing.T) {
	f := PrepareFields(http.Header{"Content-Length": {"0"}})
	if UseFields(httptest.NewRecorder(), f) {
		t.Error("UseFields took a writer that is not the loop's")
	}
	for _, k := range []string{"Connection", "Transfer-Encoding", "Trailer"} {
		if PrepareFields(http.Header{k: {"x"}}) != nil {
			t.Errorf("PrepareFields took a header with %s, which frames the answer", k)
		}
	}
}
