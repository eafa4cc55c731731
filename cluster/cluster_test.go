package cluster

import (
	"testing"
	"time"
)

func TestTriadFormsAndReplicates(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 4, "")
	for i := range tc.nodes {
		eventually(t, 10*time.Second, "every member sees the others alive", func() error {
			for _, m := range tc.nodes[i].Members() {
				if m.State != StateAlive {
					return fmtErr("%s sees %s %s", tc.nodes[i].self.ID, m.ID, m.State)
				}
			}
			return nil
		})
	}
	// app-3 is outside the triad: its writes go to the leader.
	if tc.nodes[3].InTriad() {
		t.Fatal("the fourth server is in the triad")
	}
	if _, err := tc.nodes[3].Store().Put(ctxT(t), "k", []byte("v1"), 0); err != nil {
		t.Fatal(err)
	}
	for i, n := range tc.nodes {
		e, ok, err := n.Store().Get(ctxT(t), "k")
		if err != nil || !ok || string(e.Value) != "v1" {
			t.Fatalf("node %d reads %q %v %v", i, e.Value, ok, err)
		}
	}
}
