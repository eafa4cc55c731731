package deploy

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"sync"
)

// Status implements the cluster half of the deploy page: what peer serves.
func (h *HTTPPeers) Status(ctx context.Context, peer string) ([]Status, error) {
	resp, err := h.do(ctx, peer, http.MethodGet, PathPrefix+"/cluster/status", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st []Status
	err = json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&st)
	return st, err
}

// ServerView is one server's version of one web-app on the deploy page.
type ServerView struct {
	Server string
	Triad  bool
	Status *Status // nil when the server does not serve the web-app
	Error  string  // the server could not be asked
	// Matches is true when the server's tree is the triad's.
	Matches bool
}

// AppView is one deployed web-app across the cluster.
type AppView struct {
	Tag string
	// TriadTree is the tree most triad members serve (the first triad
	// server's on a tie); "" when no triad member could be asked.
	TriadTree string
	Servers   []ServerView
}

// ClusterView asks every server of the cluster (self answers from s) what
// it serves and lines the answers up per web-app. order is every server's
// id in document order, self included.
func (s *Service) ClusterView(ctx context.Context, peers *HTTPPeers, self string, order []string) []AppView {
	triad := map[string]bool{}
	for i, id := range order {
		triad[id] = i < 3
	}
	type answer struct {
		st  []Status
		err error
	}
	answers := make(map[string]answer, len(order))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, id := range order {
		if id == self {
			answers[id] = answer{st: s.Served()}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := peers.Status(ctx, id)
			mu.Lock()
			answers[id] = answer{st, err}
			mu.Unlock()
		}()
	}
	wg.Wait()

	tags := map[string]bool{}
	for _, a := range answers {
		for _, st := range a.st {
			tags[st.Tag] = true
		}
	}
	var out []AppView
	for tag := range tags {
		v := AppView{Tag: tag}
		votes := map[string]int{}
		first := ""
		for _, id := range order {
			a := answers[id]
			sv := ServerView{Server: id, Triad: triad[id]}
			if a.err != nil {
				sv.Error = a.err.Error()
			}
			for i := range a.st {
				if a.st[i].Tag == tag {
					sv.Status = &a.st[i]
				}
			}
			if sv.Triad && sv.Status != nil {
				votes[sv.Status.Tree]++
				if first == "" {
					first = sv.Status.Tree
				}
			}
			v.Servers = append(v.Servers, sv)
		}
		v.TriadTree = first
		for tree, n := range votes {
			if n > votes[v.TriadTree] {
				v.TriadTree = tree
			}
		}
		for i := range v.Servers {
			st := v.Servers[i].Status
			v.Servers[i].Matches = st != nil && v.TriadTree != "" && st.Tree == v.TriadTree
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tag < out[j].Tag })
	return out
}

// DeployFiles deploys files read on this server (the admin page's upload
// form) as the newest version of t.
func (s *Service) DeployFiles(t Tag, version, message, user string, files []File) (Commit, error) {
	for _, f := range files {
		if _, err := s.repo.PutBlob(f.Data); err != nil {
			return Commit{}, err
		}
	}
	tree, err := TreeHash(files)
	if err != nil {
		return Commit{}, err
	}
	return s.Deploy(Request{Tag: t, Version: version, Message: message, User: user, Entries: Entries(files), Tree: tree})
}
