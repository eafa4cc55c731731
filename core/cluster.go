package core

import "resind/cluster"

// ClusterStatus is the cluster as this server sees it: the triad, every
// member's state and last heartbeat, the raft leader.
type ClusterStatus = cluster.Status

// SetCluster hands the server the cluster member running beside it, so
// that Status shows it; nil forgets it.
func (s *Server) SetCluster(n *cluster.Node) { s.cluster.Store(n) }

// Cluster is the cluster member running beside the server (its
// replicated store is Cluster().Store()), nil when none runs.
func (s *Server) Cluster() *cluster.Node { return s.cluster.Load() }

// clusterStatus is the cluster member's view, nil when none runs.
func (s *Server) clusterStatus() *ClusterStatus {
	n := s.cluster.Load()
	if n == nil {
		return nil
	}
	st := n.Status()
	return &st
}
