package main

import (
	_ "github.com/beevik/etree"
	_ "github.com/dgraph-io/ristretto/v2"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "go.uber.org/zap"
	_ "golang.org/x/crypto/bcrypt"
	_ "golang.org/x/net/http/httpguts"
	_ "golang.org/x/sync/singleflight"
)

func main() {}
