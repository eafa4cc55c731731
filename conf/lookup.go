package conf

import (
	"fmt"
	"sort"
	"strings"
)

// Server returns the server with the given id. With id "" it returns the only
// server of the configuration, or an error when there are several. The error
// lists the ids that exist.
func (c *Config) Server(id string) (*Server, error) {
	var all []*Server
	for _, cl := range c.Clusters {
		all = append(all, cl.Servers...)
	}
	if id == "" {
		if len(all) == 1 {
			return all[0], nil
		}
		if len(all) == 0 {
			return nil, fmt.Errorf("%s: no <server> is configured", c.File)
		}
		return nil, fmt.Errorf("%s: several servers are configured, choose one with -server: %s", c.File, serverIDs(all))
	}
	for _, s := range all {
		if s.ID == id {
			return s, nil
		}
	}
	return nil, fmt.Errorf("%s: no server %q; the servers are: %s", c.File, id, serverIDs(all))
}

// Cluster returns the cluster with the given id, or nil.
func (c *Config) Cluster(id string) *Cluster {
	for _, cl := range c.Clusters {
		if cl.ID == id {
			return cl
		}
	}
	return nil
}

func serverIDs(all []*Server) string {
	ids := make([]string, len(all))
	for i, s := range all {
		ids[i] = fmt.Sprintf("%q", s.ID)
	}
	sort.Strings(ids)
	return strings.Join(ids, ", ")
}
