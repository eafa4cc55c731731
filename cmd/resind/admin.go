package main

import (
	"go.uber.org/zap"

	"resind/conf"
	"resind/core"
)

// mountAdmin puts /resin-admin on the server. (The admin package lands with
// the /resin-admin issue; until then nothing is mounted.)
func mountAdmin(s *core.Server, cfg *conf.Config, log *zap.Logger) error { return nil }

// reloadAdmin hands the admin page the users of a new configuration.
func reloadAdmin(cfg *conf.Config) {}
