// SPDX-License-Identifier: GPL-2.0
/*
 * HTTP/1.x header parsing: just what relaying needs (framing of the body,
 * keep-alive, the session id) and strict about the rest, since an
 * ambiguous request (two lengths, a length and chunked, folded lines) is
 * how requests are smuggled past a proxy. Every function reads only within
 * the bounds it is given.
 */
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/ctype.h>
#include <linux/time64.h>
#include <linux/ktime.h>
#include <linux/timekeeping.h>

#include "resin.h"

int http_header_end(const char *p, int n)
{
	int i;

	for (i = 3; i < n; i++) {
		if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r')
			return i + 1;
	}
	return 0;
}

static bool is_tchar(char c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* eq_fold compares p[0:n) with the lower-case s, ignoring ASCII case. */
static bool eq_fold(const char *p, int n, const char *s)
{
	return strlen(s) == n && !strncasecmp(p, s, n);
}

/* has_token reports whether the comma-separated list v[0:n) holds tok. */
static bool has_token(const char *v, int n, const char *tok)
{
	int i = 0;

	while (i < n) {
		int s, e;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (eq_fold(v + s, e - s, tok))
			return true;
	}
	return false;
}

static bool parse_length(const char *v, int n, u64 *out)
{
	u64 x = 0;
	int i;

	if (n == 0 || n > 18)
		return false;
	for (i = 0; i < n; i++) {
		if (!isdigit(v[i]))
			return false;
		x = x * 10 + (v[i] - '0');
	}
	*out = x;
	return true;
}

/* cookie_session finds JSESSIONID in a Cookie header value. */
static void cookie_session(const char *v, int n, struct http_head *h)
{
	static const char name[] = "JSESSIONID=";
	int i = 0;

	while (i < n) {
		int s, e;

		while (i < n && (v[i] == ' ' || v[i] == ';'))
			i++;
		s = i;
		while (i < n && v[i] != ';')
			i++;
		e = i;
		if (e - s > sizeof(name) - 1 && !memcmp(v + s, name, sizeof(name) - 1)) {
			s += sizeof(name) - 1;
			if (e - s >= 2 && v[s] == '"' && v[e - 1] == '"') {
				s++;
				e--;
			}
			while (e > s && v[e - 1] == ' ')
				e--;
			if (e > s) {
				h->session = v + s;
				h->session_len = e - s;
				return;
			}
		}
	}
}

/* path_session finds a ";jsessionid=ID" path parameter in uri[0:n). */
static void path_session(const char *uri, int n, struct http_head *h)
{
	static const char param[] = ";jsessionid=";
	const int plen = sizeof(param) - 1;
	int i, e;

	for (i = 0; i + plen <= n && uri[i] != '?'; i++) {
		if (strncasecmp(uri + i, param, plen))
			continue;
		i += plen;
		for (e = i; e < n && uri[e] != ';' && uri[e] != '/' && uri[e] != '?'; e++)
			;
		if (e > i) {
			h->session = uri + i;
			h->session_len = e - i;
		}
		return;
	}
}

/*
 * parse_fields walks the header lines after the start line, p[0:len) ending
 * in the empty line. It fills the framing and connection fields of h.
 */
static int parse_fields(const char *p, int len, bool request, struct http_head *h)
{
	bool have_length = false, chunked = false, other_te = false, keep_alive = false;
	int i = 0, hosts = 0;

	while (i < len) {
		int ls = i, le, colon, vs, ve;

		while (i < len && p[i] != '\n')
			i++;
		if (i >= len || i == ls || p[i - 1] != '\r')
			return -EINVAL;
		le = i - 1; /* the line is p[ls:le) */
		i++;
		if (le == ls)
			break; /* the empty line */
		for (colon = ls; colon < le && is_tchar(p[colon]); colon++)
			;
		if (colon == ls || colon >= le || p[colon] != ':')
			return -EINVAL; /* no name, a space before the colon, or a folded line */
		for (vs = colon + 1; vs < le && (p[vs] == ' ' || p[vs] == '\t'); vs++)
			;
		for (ve = le; ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'); ve--)
			;
		for (le = vs; le < ve; le++) {
			if (p[le] == '\0' || p[le] == '\r' || p[le] == '\n')
				return -EINVAL;
		}
		if (eq_fold(p + ls, colon - ls, "content-length")) {
			u64 n;

			if (!parse_length(p + vs, ve - vs, &n))
				return -EINVAL;
			if (have_length && n != h->length)
				return -EINVAL;
			have_length = true;
			h->length = n;
		} else if (eq_fold(p + ls, colon - ls, "transfer-encoding")) {
			if (eq_fold(p + vs, ve - vs, "chunked") && !chunked)
				chunked = true;
			else
				other_te = true;
		} else if (eq_fold(p + ls, colon - ls, "connection")) {
			if (has_token(p + vs, ve - vs, "close"))
				h->close = true;
			if (has_token(p + vs, ve - vs, "keep-alive"))
				keep_alive = true;
		} else if (request && eq_fold(p + ls, colon - ls, "host")) {
			hosts++;
		} else if (request && eq_fold(p + ls, colon - ls, "expect")) {
			if (eq_fold(p + vs, ve - vs, "100-continue"))
				h->expect_continue = true;
		} else if (request && eq_fold(p + ls, colon - ls, "cookie") && !h->session) {
			cookie_session(p + vs, ve - vs, h);
		}
	}
	if (h->minor == 0 && !keep_alive)
		h->close = true;
	if (request) {
		/*
		 * A request body must have one unambiguous length, and HTTP/1.0
		 * has no Transfer-Encoding (RFC 9112 6.1: faulty framing). An
		 * HTTP/1.1 request names its host once (RFC 9112 3.2).
		 */
		if (other_te || (chunked && have_length) || (chunked && h->minor == 0))
			return -EINVAL;
		if (hosts > 1 || (hosts == 0 && h->minor >= 1))
			return -EINVAL;
		h->body = chunked ? BODY_CHUNKED : have_length ? BODY_LENGTH : BODY_NONE;
		if (h->body == BODY_LENGTH && h->length == 0)
			h->body = BODY_NONE;
		return 0;
	}
	if (chunked && !other_te)
		h->body = BODY_CHUNKED;
	else if (other_te)
		h->body = BODY_EOF;
	else if (have_length)
		h->body = h->length ? BODY_LENGTH : BODY_NONE;
	else
		h->body = BODY_EOF;
	return 0;
}

/* version parses "HTTP/1.x" at p[0:8) into h->minor. */
static bool version(const char *p, struct http_head *h)
{
	if (memcmp(p, "HTTP/1.", 7) || (p[7] != '0' && p[7] != '1'))
		return false;
	h->minor = p[7] - '0';
	return true;
}

int http_parse_request(const char *p, int len, struct http_head *h)
{
	int i = 0, ms, us, ue;

	memset(h, 0, sizeof(*h));
	h->len = len;
	for (ms = i; i < len && i < 16 && isupper(p[i]); i++)
		;
	if (i == ms || i >= len || p[i] != ' ')
		return -EINVAL;
	h->head = i - ms == 4 && !memcmp(p, "HEAD", 4);
	h->idempotent = h->head || (i - ms == 3 && !memcmp(p, "GET", 3)) ||
			(i - ms == 7 && !memcmp(p, "OPTIONS", 7));
	us = ++i;
	while (i < len && p[i] > ' ' && p[i] != 0x7f)
		i++;
	ue = i;
	if (ue == us || i + 11 > len || p[i] != ' ')
		return -EINVAL;
	if (!version(p + i + 1, h) || p[i + 9] != '\r' || p[i + 10] != '\n')
		return -EINVAL;
	h->status_page = (ue - us == 14 || (ue - us > 14 && p[us + 14] == '?')) &&
			 !memcmp(p + us, "/caucho-status", 14);
	if (parse_fields(p + i + 11, len - (i + 11), true, h))
		return -EINVAL;
	if (!h->session)
		path_session(p + us, ue - us, h);
	return 0;
}

int http_parse_response(const char *p, int len, bool head_request, struct http_head *h)
{
	int i;

	memset(h, 0, sizeof(*h));
	h->len = len;
	if (len < 14 || !version(p, h) || p[8] != ' ')
		return -EINVAL;
	for (i = 9; i < 12; i++) {
		if (!isdigit(p[i]))
			return -EINVAL;
		h->status = h->status * 10 + (p[i] - '0');
	}
	if (h->status < 100 || (p[12] != ' ' && p[12] != '\r'))
		return -EINVAL;
	for (i = 12; i < len && p[i] != '\n'; i++)
		;
	if (i >= len || p[i - 1] != '\r')
		return -EINVAL;
	i++;
	if (parse_fields(p + i, len - i, false, h))
		return -EINVAL;
	if (head_request || h->status < 200 || h->status == 204 || h->status == 304)
		h->body = BODY_NONE;
	return 0;
}

void http_date(char *buf, size_t len)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	time64_to_tm(ktime_get_real_seconds(), 0, &tm);
	scnprintf(buf, len, "%s, %02d %s %04ld %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
		  months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

bool http_parse_chunk_size(const char *p, int len, u64 *size)
{
	u64 x = 0;
	int i, digits = 0;

	for (i = 0; i < len && isxdigit(p[i]); i++) {
		if (++digits > 15)
			return false;
		x = x * 16 + hex_to_bin(p[i]);
	}
	if (digits == 0)
		return false;
	/* Extensions (";name=value") are passed on untouched. */
	for (; i < len && p[i] != '\r' && p[i] != '\n'; i++) {
		if (p[i] != ';' && p[i] != ' ' && p[i] != '\t' && !is_tchar(p[i]) && p[i] != '=' && p[i] != '"')
			return false;
	}
	*size = x;
	return true;
}
