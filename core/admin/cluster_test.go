package admin

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"resind/cluster"
	"resind/core"
)

func TestClusterAPIShowsTriadLeaderAndHeartbeats(t *testing.T) {
	st := sampleStatus()
	h := newTestHandler(t, newFakeSource(st), Options{})
	if w := serve(h, request("GET", Prefix+"/api/cluster", loopback, nil)); w.Code != 404 {
		t.Fatalf("without a cluster member: %d", w.Code)
	}
	st.Cluster = &core.ClusterStatus{Self: "web-a", Cluster: "web", Keyed: true, Triad: []string{"web-a"},
		Leader: "web-a", RaftState: "Leader", Term: 2, Applied: 9,
		Members: []cluster.MemberStatus{
			{ID: "app-a", Cluster: "app", Address: "127.0.0.1:6801", Triad: true, State: cluster.StateAlive,
				Since: t0.Add(-time.Hour), LastHeartbeat: t0.Add(-time.Second), RTT: 400 * time.Microsecond},
			{ID: "app-b", Cluster: "app", Address: "127.0.0.1:6802", Triad: true, State: cluster.StateDead,
				Since: t0.Add(-5 * time.Second), LastHeartbeat: t0.Add(-7 * time.Second)},
			{ID: "web-a", Cluster: "web", Address: "127.0.0.1:6800", Self: true, Triad: true, State: cluster.StateAlive},
		}}
	h = newTestHandler(t, newFakeSource(st), Options{})
	w := serve(h, request("GET", Prefix+"/api/cluster", loopback, nil))
	if w.Code != 200 {
		t.Fatalf("GET /api/cluster: %d %s", w.Code, w.Body)
	}
	var got clusterJSON
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Leader != "web-a" || !got.Signed || len(got.Members) != 3 || got.Members[1].State != "dead" ||
		got.Members[1].LastHeartbeat == nil || !got.Members[1].LastHeartbeat.Equal(t0.Add(-7*time.Second)) ||
		got.Members[0].RTTMS != 0.4 || got.Members[2].LastHeartbeat != nil {
		t.Fatalf("cluster JSON %s", w.Body)
	}
	// The status API carries the same section, and the page has its table.
	if w := serve(h, request("GET", Prefix+"/api/status", loopback, nil)); !strings.Contains(w.Body.String(), `"raft_state": "Leader"`) {
		t.Errorf("status without the cluster: %s", w.Body)
	}
	if w := serve(h, request("GET", Prefix+"/", loopback, nil)); !strings.Contains(w.Body.String(), `id="members"`) {
		t.Error("the page has no cluster members table")
	}
	// Remote clients need a user, as for every admin path.
	if w := serve(h, request("GET", Prefix+"/api/cluster", remote, nil)); w.Code == 200 {
		t.Error("a remote client read the cluster without a user")
	}
}
