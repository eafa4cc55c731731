package core

import "strings"

// cleanPath resolves the "." and ".." segments of the decoded request path p
// and collapses repeated slashes, keeping a trailing slash. It reports false
// when p does not start with "/", holds a NUL or a backslash, or a ".."
// would climb above the root: such a request is answered 404, never
// resolved against the file system.
//
// Rules match the cleaned path, so "/a/../private/x" cannot slip past a rule
// written for "^/private/".
func cleanPath(p string) (string, bool) {
	if p == "" || p[0] != '/' || strings.ContainsAny(p, "\x00\\") {
		return "", false
	}
	if !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
		return p, true
	}
	segs := make([]string, 0, strings.Count(p, "/"))
	trailing := false
	for seg := range strings.SplitSeq(p[1:], "/") {
		trailing = false
		switch seg {
		case "":
			trailing = true
		case ".":
			trailing = true
		case "..":
			if len(segs) == 0 {
				return "", false
			}
			segs = segs[:len(segs)-1]
			trailing = true
		default:
			segs = append(segs, seg)
		}
	}
	if len(segs) == 0 {
		return "/", true
	}
	out := "/" + strings.Join(segs, "/")
	if trailing {
		out += "/"
	}
	return out, true
}

// hasPathPrefix reports whether p is prefix or lies below it on a segment
// boundary: "/shop" is below "/shop" and "/shop/x", not "/shopping".
func hasPathPrefix(p, prefix string) bool {
	if prefix == "" || prefix == "/" {
		return true
	}
	if !strings.HasPrefix(p, prefix) {
		return false
	}
	return len(p) == len(prefix) || p[len(prefix)] == '/' || prefix[len(prefix)-1] == '/'
}

// hiddenPath reports whether the file path p must never be served from a
// web-app's root: a segment starting with "." (".git", ".env", ".htpasswd")
// other than ".well-known", or the servlet directories WEB-INF and
// META-INF, which hold an application's private files.
func hiddenPath(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" {
			continue
		}
		if seg[0] == '.' && seg != ".well-known" {
			return true
		}
		if strings.EqualFold(seg, "WEB-INF") || strings.EqualFold(seg, "META-INF") {
			return true
		}
	}
	return false
}
