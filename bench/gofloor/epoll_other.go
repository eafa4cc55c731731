//go:build !linux

package main

import (
	"errors"
	"net"
)

func serveEpoll(*net.TCPListener, []string, bool, *httpWork) error {
	return errors.New("gofloor: -mode epoll needs Linux")
}
