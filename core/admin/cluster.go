package admin

import (
	"net/http"
	"time"

	"resind/core"
)

// clusterJSON is the "cluster" of /resin-admin/api/status, also served
// alone at /resin-admin/api/cluster: the triad, its leader and every
// member's state and last heartbeat.
type clusterJSON struct {
	Self      string       `json:"self"`
	Cluster   string       `json:"cluster"`
	Signed    bool         `json:"signed"` // traffic signed with <resin-system-auth-key>
	Triad     []string     `json:"triad"`
	Leader    string       `json:"leader"`
	RaftState string       `json:"raft_state"`
	Term      uint64       `json:"term"`
	Applied   uint64       `json:"applied_index"`
	Members   []memberJSON `json:"members"`
}

type memberJSON struct {
	ID            string     `json:"id"`
	Cluster       string     `json:"cluster"`
	Address       string     `json:"address"`
	Triad         bool       `json:"triad"`
	Self          bool       `json:"self"`
	State         string     `json:"state"`
	Since         *time.Time `json:"since"`
	LastHeartbeat *time.Time `json:"last_heartbeat"`
	RTTMS         float64    `json:"rtt_ms"`
}

// clusterToJSON converts the cluster view; nil when no member runs.
func clusterToJSON(c *core.ClusterStatus) *clusterJSON {
	if c == nil {
		return nil
	}
	out := &clusterJSON{Self: c.Self, Cluster: c.Cluster, Signed: c.Keyed, Triad: nonNil(c.Triad), Leader: c.Leader,
		RaftState: c.RaftState, Term: c.Term, Applied: c.Applied, Members: []memberJSON{}}
	for _, m := range c.Members {
		out.Members = append(out.Members, memberJSON{ID: m.ID, Cluster: m.Cluster, Address: m.Address, Triad: m.Triad,
			Self: m.Self, State: m.State, Since: timePtr(m.Since), LastHeartbeat: timePtr(m.LastHeartbeat),
			RTTMS: float64(m.RTT) / float64(time.Millisecond)})
	}
	return out
}

func (h *Handler) apiCluster(w http.ResponseWriter, r *http.Request) {
	c := clusterToJSON(h.src.Status().Cluster)
	if c == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no cluster member runs on this server"})
		return
	}
	writeJSON(w, http.StatusOK, c)
}
