// SPDX-License-Identifier: GPL-2.0
/*
 * Buffered reading and relaying between kernel sockets. Every wait is
 * bounded: reads by the stream's deadline (through SO_RCVTIMEO), sends by
 * socket_timeout (SO_SNDTIMEO, set when the socket is set up), and a
 * shutdown of the socket at module unload ends any of them at once.
 */
#include <linux/kernel.h>
#include <linux/jiffies.h>
#include <linux/uio.h>
#include <linux/string.h>
#include <net/sock.h>
#include <net/tcp_states.h>

#include "resin.h"

void stream_init(struct stream *s, struct socket *sock, char *buf, int cap)
{
	s->sock = sock;
	s->buf = buf;
	s->cap = cap;
	s->start = s->end = 0;
	s->deadline = 0;
	s->idle = 0;
	s->watch = NULL;
	s->eof = false;
}

void stream_deadline(struct stream *s, unsigned int secs)
{
	s->deadline = jiffies + secs * HZ;
	s->idle = 0;
}

void stream_idle(struct stream *s, unsigned int secs)
{
	s->deadline = 0;
	s->idle = secs;
}

void stream_compact(struct stream *s)
{
	if (s->start == 0)
		return;
	memmove(s->buf, s->buf + s->start, s->end - s->start);
	s->end -= s->start;
	s->start = 0;
}

/* gone reports that the peer of sock closed or reset the connection. */
static bool gone(struct socket *sock)
{
	struct sock *sk = sock->sk;

	return (READ_ONCE(sk->sk_shutdown) & RCV_SHUTDOWN) || READ_ONCE(sk->sk_err) ||
	       READ_ONCE(sk->sk_state) != TCP_ESTABLISHED;
}

int stream_fill(struct stream *s)
{
	struct msghdr msg = { .msg_flags = MSG_NOSIGNAL };
	struct kvec iov;
	unsigned long until;
	long left;
	int n;

	if (s->eof)
		return 0;
	if (atomic_read(&resin_stopping))
		return -ESHUTDOWN;
	if (s->end == s->cap)
		stream_compact(s);
	if (s->end == s->cap)
		return -ENOBUFS;
	until = s->deadline;
	if (s->idle)
		until = jiffies + (unsigned long)s->idle * HZ;
	for (;;) {
		left = MAX_SCHEDULE_TIMEOUT;
		if (until) {
			left = (long)(until - jiffies);
			if (left <= 0)
				return -EAGAIN;
		}
		/* Waiting on an srun, look at the client every second. */
		if (s->watch)
			left = min(left, (long)HZ);
		WRITE_ONCE(s->sock->sk->sk_rcvtimeo, left);
		iov.iov_base = s->buf + s->end;
		iov.iov_len = s->cap - s->end;
		n = kernel_recvmsg(s->sock, &msg, &iov, 1, iov.iov_len, 0);
		if (n != -EAGAIN || !s->watch)
			break;
		if (gone(s->watch))
			return -ECONNABORTED;
		if (atomic_read(&resin_stopping))
			return -ESHUTDOWN;
	}
	if (n == 0)
		s->eof = true;
	if (n > 0)
		s->end += n;
	return n;
}

int stream_send(struct socket *sock, const char *p, size_t len)
{
	return stream_send_flags(sock, p, len, 0);
}

int stream_send_flags(struct socket *sock, const char *p, size_t len, int flags)
{
	while (len > 0) {
		struct msghdr msg = { .msg_flags = MSG_NOSIGNAL | flags };
		struct kvec iov = { .iov_base = (void *)p, .iov_len = len };
		int n = kernel_sendmsg(sock, &msg, &iov, 1, len);

		if (n <= 0)
			return n ? n : -EPIPE;
		p += n;
		len -= n;
	}
	return 0;
}

int stream_find_line(struct stream *s, int max)
{
	int scanned = 0;

	for (;;) {
		char *nl = memchr(s->buf + s->start + scanned, '\n', stream_avail(s) - scanned);
		int n;

		if (nl)
			return nl - (s->buf + s->start) + 1;
		scanned = stream_avail(s);
		if (scanned >= max)
			return -E2BIG;
		n = stream_fill(s);
		if (n <= 0)
			return n ? n : -EPIPE;
	}
}

/* forward sends the next n buffered bytes of s to dst and consumes them. */
static int forward(struct stream *s, struct socket *dst, int n, atomic64_t *bytes)
{
	int err = stream_send(dst, s->buf + s->start, n);

	if (err)
		return err;
	s->start += n;
	atomic64_add(n, bytes);
	if (s->start == s->end)
		s->start = s->end = 0;
	return 0;
}

int stream_relay_n(struct stream *s, struct socket *dst, u64 n, atomic64_t *bytes)
{
	while (n > 0) {
		int chunk, err;

		if (stream_avail(s) == 0) {
			int r = stream_fill(s);

			if (r <= 0)
				return r ? r : -EPIPE;
		}
		chunk = min_t(u64, n, stream_avail(s));
		err = forward(s, dst, chunk, bytes);
		if (err)
			return err;
		n -= chunk;
	}
	return 0;
}

int stream_relay_eof(struct stream *s, struct socket *dst, atomic64_t *bytes)
{
	for (;;) {
		int err;

		if (stream_avail(s) == 0) {
			int r = stream_fill(s);

			if (r <= 0)
				return r;
		}
		err = forward(s, dst, stream_avail(s), bytes);
		if (err)
			return err;
	}
}

/*
 * chunk_line is stream_find_line for the framing lines of a chunked body:
 * a line that outgrows max is the sender's framing error (-EPROTO, a 400
 * for a request), whether or not all of it has arrived yet.
 */
static int chunk_line(struct stream *s, int max)
{
	int n = stream_find_line(s, max);

	return n == -E2BIG ? -EPROTO : n;
}

int stream_relay_chunked(struct stream *s, struct socket *dst, atomic64_t *bytes)
{
	for (;;) {
		u64 size;
		int n, err;

		n = chunk_line(s, RESIN_MAX_LINE);
		if (n < 0)
			return n;
		if (!http_parse_chunk_size(s->buf + s->start, n, &size))
			return -EPROTO;
		err = forward(s, dst, n, bytes);
		if (err)
			return err;
		if (size == 0)
			break;
		err = stream_relay_n(s, dst, size, bytes);
		if (err)
			return err;
		/* The CRLF after the chunk data. */
		n = chunk_line(s, 2);
		if (n < 0)
			return n;
		if (!(n == 2 && s->buf[s->start] == '\r') && !(n == 1))
			return -EPROTO;
		err = forward(s, dst, n, bytes);
		if (err)
			return err;
	}
	/* Trailers, up to the empty line. */
	for (;;) {
		int n = chunk_line(s, RESIN_MAX_LINE), err;
		bool last;

		if (n < 0)
			return n;
		last = n == 1 || (n == 2 && s->buf[s->start] == '\r');
		err = forward(s, dst, n, bytes);
		if (err)
			return err;
		if (last)
			return 0;
	}
}
