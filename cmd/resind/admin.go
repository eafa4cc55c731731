package main

import (
	"context"

	"go.uber.org/zap"

	"resind/conf"
	"resind/core/admin"
)

func init() { components = append(components, func() component { return &adminPage{} }) }

// adminPage mounts /resin-admin on every listener of the server.
type adminPage struct {
	h   *admin.Handler
	log *zap.Logger
}

func (a *adminPage) Start(env *componentEnv) error {
	h, err := admin.New(env.Server, admin.Options{
		Users: env.Config.AdminUsers,
		Log:   env.Log,
		Purge: env.Server.Purge,
	})
	if err != nil {
		return err
	}
	a.h, a.log = h, env.Log
	a.warn(env.Config)
	env.Server.Mount(admin.Prefix, h)
	adminHandler = h // for pages other components add (deploycomp.go)
	return nil
}

func (a *adminPage) Reload(cfg *conf.Config) {
	a.h.SetUsers(cfg.AdminUsers)
	a.warn(cfg)
}

func (a *adminPage) Stop(context.Context) {}

func (a *adminPage) warn(cfg *conf.Config) {
	for _, w := range admin.UserWarnings(cfg.AdminUsers) {
		a.log.Warn("resin-admin", zap.String("warning", w))
	}
	if len(cfg.AdminUsers) == 0 {
		a.log.Info("resin-admin: no <resin:AdminAuthenticator> users; the page answers loopback clients only")
	}
}
