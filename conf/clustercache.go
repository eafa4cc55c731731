package conf

import "time"

// ClusterCache is a <resin:ClusterCache name> of a web-app: a named cache
// kept in the cluster's replicated store, reached over
// /resin/cache/NAME/KEY on the cluster port.
type ClusterCache struct {
	Pos  Pos
	Name string
	// ModifiedExpireTimeout is how long an entry lives after its last
	// write; 0 is forever (Resin's default).
	ModifiedExpireTimeout time.Duration
	// AccessedExpireTimeout is how long an entry lives without being read
	// or written (idle-timeout is its old name); 0 is forever.
	AccessedExpireTimeout time.Duration
}

// clusterCache reads <resin:ClusterCache ee:Named name
// modified-expire-timeout accessed-expire-timeout>. A cache without a name
// is an error, as in Resin.
func (l *loader) clusterCache(p prop) *ClusterCache {
	if p.child == nil {
		l.unknown(p)
		return nil
	}
	c := &ClusterCache{Pos: p.pos}
	for _, q := range props(p.child) {
		switch q.name {
		case "name", "Named":
			if v, _ := l.str(q); v != "" && (c.Name == "" || q.name == "name") {
				c.Name = v
			}
		case "modified-expire-timeout", "accessed-expire-timeout", "idle-timeout":
			v, ok := l.str(q)
			if !ok || v == "" {
				continue
			}
			d, err := parseDuration(v)
			if err != nil {
				l.errorf(q.pos, "%s: %s: %v", l.desc(p.child), q.name, err)
				continue
			}
			if d == forever {
				d = 0
			}
			if q.name == "modified-expire-timeout" {
				c.ModifiedExpireTimeout = d
			} else {
				c.AccessedExpireTimeout = d
			}
		default:
			l.unknown(q)
		}
	}
	if c.Name == "" {
		l.errorf(p.pos, "%s: a cache needs a name", l.desc(p.child))
		return nil
	}
	return c
}
