package conf

// validate checks what needs the whole configuration: server ids are unique
// across all clusters, and every LoadBalance names a cluster that exists.
func (l *loader) validate(cfg *Config) {
	seen := map[string]*Server{}
	for _, cl := range cfg.Clusters {
		for _, s := range cl.Servers {
			if first, dup := seen[s.ID]; dup {
				l.errorf(s.Pos, "<server id=%q>: duplicate server id (first at %s)", s.ID, first.Pos)
				continue
			}
			seen[s.ID] = s
		}
	}
	clusters := map[string]*Cluster{}
	for _, cl := range cfg.Clusters {
		if first, dup := clusters[cl.ID]; dup {
			l.errorf(cl.Pos, "<cluster id=%q>: duplicate cluster id (first at %s)", cl.ID, first.Pos)
			continue
		}
		clusters[cl.ID] = cl
	}
	for _, r := range l.lbRules {
		if clusters[r.rule.Cluster] == nil {
			l.errorf(r.rule.Pos, "%s: cluster %q is not defined", r.desc, r.rule.Cluster)
		}
	}
}
